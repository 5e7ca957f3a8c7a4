/**
 * Load-balancer detection: nodes, Services and a few read-only signals → which implementations are there, whether
 * each hands out addresses, and what to install or finish. Pure: `src/kube` collects the signals documented below.
 */
import type {Detection, DetectionSignals, Node, Service, Workload} from '../plan/types.js'
import {type Distro, detectDistro, distroEvidence, rke2ServiceLbEnabledBy, serviceLbDisabledBy} from './distro.js'
import {type Finding, recommend} from './recommend.js'

/**
 * The keys of `signals.customObjectCounts`, as `<resource>.<group>`. The kube layer lists exactly these,
 * cluster-wide, and stores how many objects each list returned (0 for an empty list). It leaves a key out when the
 * resource does not exist or the list failed, naming a failed read in `signals.unavailable`; detection then treats
 * the count as unknown. CiliumLoadBalancerIPPools with `spec.disabled: true` are not counted.
 */
export const COUNT_KEYS = {
  metallbPools: 'ipaddresspools.metallb.io',
  metallbL2Advertisements: 'l2advertisements.metallb.io',
  metallbBgpAdvertisements: 'bgpadvertisements.metallb.io',
  ciliumPools: 'ciliumloadbalancerippools.cilium.io',
  ciliumL2Policies: 'ciliuml2announcementpolicies.cilium.io',
  openelbEips: 'eips.network.kubesphere.io',
  purelbServiceGroups: 'servicegroups.purelb.io',
} as const

/** The keys of `signals.configMaps` (`namespace/name`); the kube layer gets each with its data when it exists. */
export const CONFIG_MAP_KEYS = {
  /** MetalLB before v0.13 (and minikube's addon): key `config` holds YAML with `address-pools:`. */
  metallbLegacy: 'metallb-system/config',
  /** kube-vip-cloud-provider's address ranges (`cidr-global`, `range-<namespace>`, …). */
  kubeVip: 'kube-system/kubevip',
} as const

/**
 * `signals.workloads` must hold every DaemonSet and Deployment in all namespaces, plus the Pods in kube-system that
 * no controller owns (static pods such as `kube-vip-<node>`), each with labels, images and literal env values.
 * `signals.apiGroups` comes from discovery; `signals.ingressClasses` holds IngressClass names.
 */
export function detectLoadBalancers(input: {nodes: Node[]; services: Service[]; signals: DetectionSignals}): Detection {
  const distro = detectDistro(input.nodes)
  const facts: Facts = {...input, distro}
  const findings = DETECTORS.flatMap((detector) => detector(facts) ?? [])
  const {recommendation, warnings} = recommend({
    distro,
    findings,
    nodes: input.nodes.filter((node) => !node.deleting),
  })
  if (input.signals.unavailable.length > 0) {
    warnings.push(`could not ${input.signals.unavailable.join(', ')}: load-balancer detection may be incomplete`)
  }
  return {distro, detected: findings.map((f) => f.lb), recommendation, warnings}
}

interface Facts {
  nodes: Node[]
  services: Service[]
  signals: DetectionSignals
  distro: Distro
}

type Detector = (facts: Facts) => Finding | undefined

function metalLb({services, signals}: Facts): Finding | undefined {
  const legacy = signals.configMaps[CONFIG_MAP_KEYS.metallbLegacy]
  const legacyPools = legacy?.config?.includes('address-pools') === true
  // Written by MetalLB's controller when it assigns an address; the metallb.universe.tf prefix is pre-v0.14.
  const allocated = servicesWith(services, (svc) =>
    ['metallb.io/ip-allocated-from-pool', 'metallb.universe.tf/ip-allocated-from-pool'].find(
      (key) => key in svc.annotations,
    ),
  )
  const seen = [
    ...apiGroup(signals, 'metallb.io'),
    ...signals.workloads.filter(isMetalLbWorkload).map(describe),
    ...(legacy === undefined
      ? []
      : [`ConfigMap ${CONFIG_MAP_KEYS.metallbLegacy}${legacyPools ? ' with address-pools' : ''}`]),
    ...summarize(allocated.map(({svc, mark}) => `Service ${svc.namespace}/${svc.name} has annotation ${mark}`)),
  ]
  const evidence = countEvidence(signals, seen, [
    [COUNT_KEYS.metallbPools, 'IPAddressPool'],
    [COUNT_KEYS.metallbL2Advertisements, 'L2Advertisement'],
    [COUNT_KEYS.metallbBgpAdvertisements, 'BGPAdvertisement', {hideZero: true}],
  ])
  if (evidence === undefined) return undefined

  // Serving needs a pool and an advertisement: without one, addresses are assigned but never announced (MetalLB docs).
  const pools = count(signals, COUNT_KEYS.metallbPools)
  const advertisements =
    count(signals, COUNT_KEYS.metallbL2Advertisements) + count(signals, COUNT_KEYS.metallbBgpAdvertisements)
  const known = Object.hasOwn(signals.customObjectCounts, COUNT_KEYS.metallbPools)
  const allocatedReady = allocated.some(({svc}) => svc.loadBalancerIngress.length > 0)
  const serving = (pools > 0 && advertisements > 0) || legacyPools || (!known && legacy === undefined && allocatedReady)
  const lb = {name: 'metallb' as const, evidence, serving}
  if (serving) return {lb}
  if (!known && legacy !== undefined) {
    return {
      lb,
      finish: {
        name: 'metallb',
        reason: `MetalLB's ConfigMap ${CONFIG_MAP_KEYS.metallbLegacy} has no address-pools: add one`,
      },
    }
  }
  if (!known) {
    return {
      lb,
      finish: {
        name: 'metallb',
        reason:
          'MetalLB is installed but its IPAddressPools and L2Advertisements could not be read: check that both exist',
      },
    }
  }
  const missing = [pools === 0 ? 'IPAddressPool' : undefined, advertisements === 0 ? 'L2Advertisement' : undefined]
    .filter((kind) => kind !== undefined)
    .join('/')
  const add = pools === 0 && advertisements === 0 ? 'add them' : 'add one'
  return {lb, finish: {name: 'metallb', reason: `MetalLB is installed but has no ${missing}: ${add}`}}
}

function isMetalLbWorkload(w: Workload): boolean {
  return (
    w.labels.app === 'metallb' || // manifests: app=metallb, component=controller|speaker
    w.labels['app.kubernetes.io/name'] === 'metallb' || // Helm chart
    (w.namespace === 'metallb-system' && (w.name === 'controller' || w.name === 'speaker')) ||
    w.images.some((image) => /(^|\/)metallb\/(controller|speaker)([:@]|$)/.test(image))
  )
}

// ServiceLB labels its DaemonSets and pods `svccontroller.<program>.cattle.io/svcname` (k3s servicelb.go). Names
// changed over the years (svclb-<svc>, svclb-<svc>-<uid>, docs say svc-), so only the label key is trusted.
const SVCLB_LABELS = ['svccontroller.k3s.cattle.io/svcname', 'svccontroller.rke2.cattle.io/svcname']

function k3sServiceLb({nodes, services, signals, distro}: Facts): Finding | undefined {
  const evidence = summarize(
    signals.workloads.flatMap((w) => {
      const label = SVCLB_LABELS.find((key) => key in w.labels)
      return label === undefined ? [] : [`${describe(w)} has label ${label}`]
    }),
  )
  if (distro === 'k3s' || distro === 'rke2') {
    const nodeIPs = new Set(nodes.flatMap((node) => node.addresses.map((a) => a.address)))
    const onNodeIPs = servicesWith(services, (svc) => {
      const ips = svc.loadBalancerIngress.map((ingress) => ingress.ip)
      const all = ips.length > 0 && ips.every((ip) => ip !== undefined && nodeIPs.has(ip))
      return svc.loadBalancerClass === undefined && all && !markedByOthers(svc) ? ips.join(', ') : undefined
    })
    evidence.push(
      ...summarize(
        onNodeIPs.map(
          ({svc, mark}) => `Service ${svc.namespace}/${svc.name} got node IP ${mark} as its load-balancer address`,
        ),
      ),
    )
  }
  if (evidence.length > 0) return {lb: {name: 'k3s-servicelb', evidence, serving: true}}

  // Enabled but idle: ServiceLB creates nothing until a LoadBalancer Service exists.
  if (distro === 'k3s' && serviceLbDisabledBy(nodes) === undefined) {
    const seen = distroEvidence(nodes, 'k3s') ?? 'distro k3s'
    return {
      lb: {
        name: 'k3s-servicelb',
        evidence: [seen, 'ServiceLB is on by default in k3s and no k3s.io/node-args disables it'],
        serving: false,
      },
    }
  }
  const enabled = distro === 'rke2' ? rke2ServiceLbEnabledBy(nodes) : undefined
  if (enabled !== undefined) {
    return {
      lb: {
        name: 'k3s-servicelb',
        evidence: [`node ${enabled.node} rke2.io/node-args has ${enabled.flag}`],
        serving: false,
      },
    }
  }
  return undefined
}

/** A Service another implementation marked as its own, whatever addresses it got. */
function markedByOthers(svc: Service): boolean {
  return (
    Object.keys(svc.annotations).some(
      (key) => key.endsWith('/ip-allocated-from-pool') || key === 'purelb.io/allocated-by',
    ) || svc.labels.implementation === 'kube-vip'
  )
}

const KUBE_VIP_IMAGE = /(^|\/)kube-vip\/kube-vip([:@]|$)/
const KUBE_VIP_CLOUD_PROVIDER_IMAGE = /(^|\/)kube-vip\/kube-vip-cloud-provider([:@]|$)/

function isKubeVipCloudProvider(w: Workload): boolean {
  return (
    w.name === 'kube-vip-cloud-provider' ||
    w.labels.component === 'kube-vip-cloud-provider' ||
    w.images.some((image) => KUBE_VIP_CLOUD_PROVIDER_IMAGE.test(image))
  )
}

function isKubeVip(w: Workload): boolean {
  if (isKubeVipCloudProvider(w)) return false
  return (
    w.name === 'kube-vip-ds' ||
    w.labels['app.kubernetes.io/name'] === 'kube-vip-ds' ||
    (w.kind === 'Pod' && (w.name === 'kube-vip' || w.name.startsWith('kube-vip-'))) || // static pod kube-vip-<node>
    w.images.some((image) => KUBE_VIP_IMAGE.test(image))
  )
}

// kube-vip reads svc_enable with strconv.ParseBool.
const PARSE_BOOL_TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True'])

function kubeVip({services, signals}: Facts): Finding | undefined {
  const vips = signals.workloads.filter(isKubeVip)
  const forServices = vips.filter((w) => PARSE_BOOL_TRUE.has(w.env.svc_enable ?? ''))
  const ranges = signals.configMaps[CONFIG_MAP_KEYS.kubeVip]
  const rangeKeys = Object.keys(ranges ?? {}).filter((key) => key.startsWith('cidr-') || key.startsWith('range-'))
  // kube-vip-cloud-provider labels the Services it gives an address.
  const marked = servicesWith(services, (svc) =>
    svc.labels.implementation === 'kube-vip' ? 'label implementation=kube-vip' : undefined,
  )
  const evidence = [
    ...vips.map(
      (w) => `${describe(w)}${forServices.includes(w) ? ` has env svc_enable=${w.env.svc_enable ?? ''}` : ''}`,
    ),
    ...signals.workloads.filter(isKubeVipCloudProvider).map(describe),
    ...(ranges === undefined
      ? []
      : [`ConfigMap ${CONFIG_MAP_KEYS.kubeVip}${rangeKeys.length > 0 ? ` with ${rangeKeys.join(', ')}` : ''}`]),
    ...summarize(marked.map(({svc, mark}) => `Service ${svc.namespace}/${svc.name} has ${mark}`)),
  ]
  if (evidence.length === 0) return undefined
  const lb = {name: 'kube-vip' as const, evidence, serving: forServices.length > 0}
  if (lb.serving) return {lb}
  const reason =
    vips.length > 0
      ? 'kube-vip is installed but does not serve Services (no `svc_enable=true` in its env): set it'
      : 'kube-vip-cloud-provider is there but no kube-vip with `svc_enable=true` was found: deploy kube-vip with it'
  return {lb, finish: {name: 'kube-vip', reason}}
}

function cilium({signals}: Facts): Finding | undefined {
  const agents = signals.workloads.filter(
    (w) => w.labels['k8s-app'] === 'cilium' || (w.kind === 'DaemonSet' && w.name === 'cilium'),
  )
  const operators = signals.workloads.filter(
    (w) => !agents.includes(w) && (w.name === 'cilium-operator' || w.labels['io.cilium/app'] === 'operator'),
  )
  const evidence = countEvidence(
    signals,
    [...apiGroup(signals, 'cilium.io'), ...[...agents, ...operators].map(describe)],
    [
      [COUNT_KEYS.ciliumPools, 'CiliumLoadBalancerIPPool'],
      [COUNT_KEYS.ciliumL2Policies, 'CiliumL2AnnouncementPolicy', {plural: 'CiliumL2AnnouncementPolicies'}],
    ],
  )
  if (evidence === undefined) return undefined
  // "LB IPAM is always enabled but dormant. The controller is awoken when the first IP Pool is added" (Cilium docs).
  const serving = count(signals, COUNT_KEYS.ciliumPools) > 0
  const lb = {name: 'cilium' as const, evidence, serving}
  if (serving) return {lb}
  return {
    lb,
    finish: {
      name: 'cilium-lb-ipam',
      reason:
        'Cilium is here but has no CiliumLoadBalancerIPPool: add a pool and a CiliumL2AnnouncementPolicy ' +
        '(with `l2announcements.enabled=true`) to use Cilium LB-IPAM, rather than installing MetalLB beside it',
    },
  }
}

function openElb({signals}: Facts): Finding | undefined {
  const workloads = signals.workloads.filter(
    (w) =>
      w.labels.app === 'openelb' ||
      w.namespace === 'openelb-system' ||
      ['openelb-controller', 'openelb-speaker', 'openelb-manager'].includes(w.name),
  )
  const evidence = countEvidence(
    signals,
    [...apiGroup(signals, 'network.kubesphere.io'), ...workloads.map(describe)],
    [[COUNT_KEYS.openelbEips, 'Eip']],
  )
  if (evidence === undefined) return undefined
  const serving = count(signals, COUNT_KEYS.openelbEips) > 0
  const lb = {name: 'openelb' as const, evidence, serving}
  if (serving) return {lb}
  return {
    lb,
    finish: {
      name: 'openelb',
      reason:
        'OpenELB is installed but has no Eip: add one, and annotate Services with `lb.kubesphere.io/v1alpha1: openelb`',
    },
  }
}

function pureLb({services, signals}: Facts): Finding | undefined {
  const workloads = signals.workloads.filter(
    (w) =>
      w.labels.app === 'purelb' ||
      ((w.namespace === 'purelb-system' || w.namespace === 'purelb') && ['allocator', 'lbnodeagent'].includes(w.name)),
  )
  const allocated = servicesWith(services, (svc) =>
    'purelb.io/allocated-by' in svc.annotations ? 'purelb.io/allocated-by' : undefined,
  )
  const evidence = countEvidence(
    signals,
    [
      ...apiGroup(signals, 'purelb.io'),
      ...workloads.map(describe),
      ...summarize(allocated.map(({svc, mark}) => `Service ${svc.namespace}/${svc.name} has annotation ${mark}`)),
    ],
    [[COUNT_KEYS.purelbServiceGroups, 'ServiceGroup']],
  )
  if (evidence === undefined) return undefined
  const serving = count(signals, COUNT_KEYS.purelbServiceGroups) > 0
  const lb = {name: 'purelb' as const, evidence, serving}
  if (serving) return {lb}
  return {lb, finish: {name: 'purelb', reason: 'PureLB is installed but has no ServiceGroup: add one'}}
}

// providerID prefixes set by cloud controller managers. kind://, k3s://, rke2:// and talos:// are local stubs.
const CLOUD_PROVIDER_PREFIXES = [
  'aws://',
  'gce://',
  'azure://',
  'digitalocean://',
  'hcloud://',
  'hetzner://',
  'linode://',
  'openstack://',
  'vsphere://',
  'oci://',
  'ocid1.',
  'alicloud://',
  'ibm://',
  'scaleway://',
  'equinixmetal://',
  'exoscale://',
]

function cloud({nodes}: Facts): Finding | undefined {
  const providerID = nodes
    .map((node) => node.providerID)
    .find((id) => id !== undefined && CLOUD_PROVIDER_PREFIXES.some((prefix) => id.startsWith(prefix)))
  if (providerID === undefined) return undefined
  return {lb: {name: 'cloud', evidence: [`node providerID ${providerID}`], serving: true}}
}

function kind({nodes, services, signals}: Facts): Finding | undefined {
  const seen = distroEvidence(nodes, 'kind')
  if (seen === undefined) return undefined
  // cloud-provider-kind runs outside the cluster; it shows as its IngressClass (Oct 2025+) and as ipMode Proxy.
  const proxied = servicesWith(services, (svc) =>
    svc.loadBalancerIngress.some((i) => i.ipMode === 'Proxy') ? 'Proxy' : undefined,
  )
  const evidence = [
    seen,
    ...(signals.ingressClasses.includes('cloud-provider-kind') ? ['IngressClass cloud-provider-kind'] : []),
    ...summarize(proxied.map(({svc, mark}) => `Service ${svc.namespace}/${svc.name} has ingress ipMode ${mark}`)),
  ]
  return {lb: {name: 'kind', evidence, serving: evidence.length > 1}}
}

function minikube({nodes, services}: Facts): Finding | undefined {
  const seen = distroEvidence(nodes, 'minikube')
  if (seen === undefined) return undefined
  // `minikube tunnel` patches every LoadBalancer Service's ingress with its clusterIP (VM drivers) or 127.0.0.1
  // (docker driver) while it runs, and removes it when it stops.
  const tunneled = servicesWith(services, (svc) => {
    const ip = svc.loadBalancerIngress.find(
      (i) => i.ip !== undefined && (i.ip === svc.clusterIP || i.ip === '127.0.0.1'),
    )?.ip
    if (ip === undefined) return undefined
    return ip === svc.clusterIP ? `${ip}, its clusterIP` : ip
  })
  const evidence = [
    seen,
    ...summarize(
      tunneled.map(({svc, mark}) => `Service ${svc.namespace}/${svc.name} has ingress IP ${mark} (minikube tunnel)`),
    ),
  ]
  return {lb: {name: 'minikube', evidence, serving: evidence.length > 1}}
}

function microk8s({nodes}: Facts): Finding | undefined {
  const seen = distroEvidence(nodes, 'microk8s')
  // No load balancer by default; its metallb addon is found as MetalLB.
  return seen === undefined ? undefined : {lb: {name: 'microk8s', evidence: [seen], serving: false}}
}

/** In the order of `DetectorName`, which is the order of `Detection.detected`. */
const DETECTORS: ReadonlyArray<Detector> = [
  metalLb,
  k3sServiceLb,
  kubeVip,
  cilium,
  openElb,
  pureLb,
  cloud,
  kind,
  minikube,
  microk8s,
]

function describe(w: Workload): string {
  return `${w.kind} ${w.namespace}/${w.name}`
}

function apiGroup(signals: DetectionSignals, group: string): string[] {
  return signals.apiGroups.includes(group) ? [`API group ${group}`] : []
}

function count(signals: DetectionSignals, key: string): number {
  return signals.customObjectCounts[key] ?? 0
}

type CountedKind = [key: string, kind: string, options?: {plural?: string; hideZero?: boolean}]

/**
 * `evidence` plus a line such as "2 IPAddressPools, 1 L2Advertisement", or undefined when nothing shows the
 * implementation. Counts alone show it only when one is above zero: the kube layer may store zeros for absent kinds.
 */
function countEvidence(signals: DetectionSignals, evidence: string[], kinds: CountedKind[]): string[] | undefined {
  const known = kinds.filter(([key]) => Object.hasOwn(signals.customObjectCounts, key))
  if (evidence.length === 0 && !known.some(([key]) => count(signals, key) > 0)) return undefined
  const line = known
    .filter(([key, , options]) => !(options?.hideZero === true && count(signals, key) === 0))
    .map(([key, kind, options]) => {
      const n = count(signals, key)
      return `${n} ${n === 1 ? kind : (options?.plural ?? `${kind}s`)}`
    })
    .join(', ')
  return line === '' ? evidence : [...evidence, line]
}

/** LoadBalancer Services for which `mark` returns what was seen on them, in input order. */
function servicesWith(
  services: Service[],
  mark: (svc: Service) => string | undefined,
): Array<{svc: Service; mark: string}> {
  return services.flatMap((svc) => {
    if (svc.type !== 'LoadBalancer') return []
    const seen = mark(svc)
    return seen === undefined ? [] : [{svc, mark: seen}]
  })
}

/** The first line, counting the rest: evidence stays short on clusters with many Services. */
function summarize(lines: string[]): string[] {
  const [first, ...rest] = lines
  if (first === undefined) return []
  return [rest.length === 0 ? first : `${first} (and ${rest.length} more)`]
}
