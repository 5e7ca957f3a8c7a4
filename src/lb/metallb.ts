/**
 * MetalLB: how it shows in the API, and the step that installs or finishes it. Sources: metallb/metallb
 * `config/manifests/metallb-native.yaml`, `controller/service.go` (annotations), and its docs ("Installation").
 */
import {serviceLbDisabledBy} from './distro.js'
import type {Service, Workload} from '../plan/types.js'
import {controllerDown, eventLine, inAddressBlock, latestWarning} from './diagnosis-text.js'
import {
  apiGroup,
  CONFIG_MAP_KEYS,
  count,
  COUNT_KEYS,
  countEvidence,
  describe,
  servicesWith,
  summarize,
} from './evidence.js'
import type {RangeSuggestion} from './range.js'
import {
  ADVERTISEMENT_NAME,
  applyCommand,
  countOf,
  detected,
  excludeLabelAction,
  POOL_NAME,
  rangeComment,
  rangeText,
} from './step-text.js'
import type {
  Action,
  DiagnosisContext,
  Facts,
  Finding,
  LoadBalancerModule,
  Manifest,
  MetalLbAdvertisement,
  MetalLbPool,
  Pending,
  PendingReason,
  StepContext,
  StepPart,
} from './types.js'

/** The MetalLB release these steps were written and checked against; its manifests use `metallb.io/v1beta1`. */
export const METALLB_VERSION = 'v0.14.9'
export const METALLB_MANIFEST_URL = `https://raw.githubusercontent.com/metallb/metallb/${METALLB_VERSION}/config/manifests/metallb-native.yaml`
/** MetalLB's manifests install into this namespace (config/native/ns.yaml). */
export const METALLB_NAMESPACE = 'metallb-system'

function detect({services, signals}: Facts): Finding | undefined {
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

/** A MetalLB controller or speaker, from the manifests' or the Helm chart's labels, its names or its images. */
export function isMetalLbWorkload(w: Workload): boolean {
  return (
    w.labels.app === 'metallb' || // manifests: app=metallb, component=controller|speaker
    w.labels['app.kubernetes.io/name'] === 'metallb' || // Helm chart
    (w.namespace === 'metallb-system' && (w.name === 'controller' || w.name === 'speaker')) ||
    w.images.some((image) => /(^|\/)metallb\/(controller|speaker)([:@]|$)/.test(image))
  )
}

function metalLbStep(ctx: StepContext): StepPart {
  const installed = detected(ctx, 'metallb')
  const {signals} = ctx.snapshot
  const legacy =
    installed &&
    !signals.apiGroups.includes('metallb.io') &&
    signals.configMaps[CONFIG_MAP_KEYS.metallbLegacy] !== undefined &&
    countOf(ctx, COUNT_KEYS.metallbPools) === undefined
  if (legacy) return legacyMetalLb(ctx)

  const actions: Action[] = []
  const notes: string[] = []
  if (ctx.detection.distro === 'k3s' && serviceLbDisabledBy(ctx.nodes) === undefined) {
    actions.push({
      text:
        'Turn k3s ServiceLB off first, or it races MetalLB for every LoadBalancer Service: on each k3s server add ' +
        '`servicelb` to the `disable:` list in /etc/rancher/k3s/config.yaml (the `--disable=servicelb` flag), then restart k3s',
      commands: ['sudo systemctl restart k3s'],
    })
  }
  if (!installed) {
    actions.push({
      text:
        `Install MetalLB ${METALLB_VERSION} (the release this step was written for) and wait for its controller: ` +
        'its webhook rejects pools until then',
      commands: [
        `${ctx.options.kubectl} apply -f ${METALLB_MANIFEST_URL}`,
        `${ctx.options.kubectl} rollout status --namespace ${METALLB_NAMESPACE} deployment/controller --timeout=120s`,
      ],
    })
    notes.push(
      'if kube-proxy runs in IPVS mode, set `strictARP: true` in the kube-proxy ConfigMap first (MetalLB docs, "Installation")',
    )
  }
  const exclude = excludeLabelAction(ctx, 'MetalLB')
  if (exclude !== undefined) actions.push(exclude)

  // With MetalLB already there, add only what is missing: a second advertisement could announce an existing
  // BGP-only pool over L2 too, and an L2Advertisement without ipAddressPools announces every pool.
  const pools = installed ? countOf(ctx, COUNT_KEYS.metallbPools) : undefined
  const advertisements = installed
    ? sum(countOf(ctx, COUNT_KEYS.metallbL2Advertisements), countOf(ctx, COUNT_KEYS.metallbBgpAdvertisements))
    : undefined
  const manifests: Manifest[] = []
  let what: string
  if (pools !== undefined && pools > 0 && advertisements === 0) {
    manifests.push(l2Advertisement(undefined))
    what = 'Announce the existing address pools on the node network (L2)'
  } else if (advertisements !== undefined && advertisements > 0 && pools === 0) {
    manifests.push(metalLbPool(ctx.range))
    what = `Give MetalLB the addresses ${rangeText(ctx.range, ', ')}`
    notes.push(`your existing advertisement must select pool ${POOL_NAME} (one without ipAddressPools selects all)`)
  } else {
    manifests.push(metalLbPool(ctx.range), l2Advertisement(POOL_NAME))
    what = `Give MetalLB the addresses ${rangeText(ctx.range, ', ')} and announce them on the node network (L2)`
    if (installed && pools === undefined) {
      notes.push('skip these if an IPAddressPool and an L2Advertisement already exist (they could not be read)')
    }
  }
  actions.push({text: what, commands: [applyCommand(ctx)], applies: true})
  return {
    title: installed
      ? 'finish configuring MetalLB: give it addresses and announce them'
      : 'install MetalLB (L2) and give it an address pool',
    actions,
    notes,
    manifests,
    usesRange: manifests.some((m) => m.object.kind === 'IPAddressPool'),
  }
}

function sum(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0)
}

function metalLbPool(range: RangeSuggestion): Manifest {
  const addresses = range.ok ? range.ranges.map((r) => `${r.start}-${r.end}`) : [rangeText(range)]
  return {
    object: {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: {name: POOL_NAME, namespace: METALLB_NAMESPACE},
      spec: {addresses},
    },
    fieldComments: [{path: ['spec', 'addresses', 0], text: rangeComment(range)}],
  }
}

/** An L2Advertisement for `pool`, or for every pool when undefined. */
function l2Advertisement(pool: string | undefined): Manifest {
  return {
    object: {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'L2Advertisement',
      metadata: {name: ADVERTISEMENT_NAME, namespace: METALLB_NAMESPACE},
      spec: pool === undefined ? {} : {ipAddressPools: [pool]},
    },
    fieldComments: [],
  }
}

/** MetalLB before v0.13 (and minikube's addon) reads its pools from a ConfigMap instead of CRDs. */
function legacyMetalLb(ctx: StepContext): StepPart {
  const addresses = ctx.range.ok ? ctx.range.ranges.map((r) => `${r.start}-${r.end}`) : [rangeText(ctx.range)]
  const config = [
    'address-pools:',
    `  - name: ${POOL_NAME}`,
    '    protocol: layer2',
    '    addresses:',
    ...addresses.map((a) => `      - ${a}`),
    '',
  ].join('\n')
  const [namespace, name] = CONFIG_MAP_KEYS.metallbLegacy.split('/')
  return {
    title: 'finish configuring MetalLB (before v0.13): give it an address pool',
    actions: [
      {
        text:
          `This MetalLB reads its pools from ConfigMap ${CONFIG_MAP_KEYS.metallbLegacy}: replace it with one that has ` +
          `the addresses ${rangeText(ctx.range, ', ')}`,
        commands: [applyCommand(ctx)],
        applies: true,
      },
    ],
    notes: ['MetalLB v0.13 and later configure pools with IPAddressPool objects; upgrading is worth it'],
    manifests: [
      {
        object: {apiVersion: 'v1', kind: 'ConfigMap', metadata: {namespace, name}, data: {config}},
        fieldComments: [{path: ['data', 'config'], text: rangeComment(ctx.range)}],
      },
    ],
    usesRange: true,
  }
}

// Annotations MetalLB reads and writes (controller/service.go); metallb.universe.tf is the prefix before v0.14.9.
const PREFIXES = ['metallb.io', 'metallb.universe.tf']
const annotation = (svc: Service, key: string): [string, string] | undefined => {
  for (const prefix of PREFIXES) {
    const value = svc.annotations[`${prefix}/${key}`]
    if (value !== undefined) return [`${prefix}/${key}`, value]
  }
  return undefined
}

// The allocator's errors inside `Failed to allocate IP for %q: %s` (internal/allocator/allocator.go), by case.
const ALLOCATOR_ERRORS: ReadonlyArray<[RegExp, PendingReason]> = [
  [/^unknown pool /, 'metallb-pool-not-found'],
  [/^no available IPs in pool /, 'metallb-pool-exhausted'],
  [/^no available IPs$/, 'metallb-pool-exhausted'],
  [/^no suitable pool for /, 'metallb-no-pool'],
  [/^pool .* not compatible for ip assignment$/, 'metallb-no-pool'],
  [/ is not allowed in config$/, 'metallb-ip-unavailable'],
  [/does not allow sharing$/, 'metallb-ip-unavailable'],
  [/^(sharing|backend) key .* does not match existing sharing key /, 'metallb-ip-unavailable'],
  [/^can't change sharing key for /, 'metallb-ip-unavailable'],
  [/^port .* is already in use on /, 'metallb-ip-unavailable'],
  [/^requested loadBalancer IP\(s\) /, 'metallb-ip-unavailable'],
]

const FIXES: Partial<Record<PendingReason, string>> = {
  'metallb-no-pool':
    'add an IPAddressPool whose addresses, namespaces and serviceSelectors take this Service (`kubectl expose-lb recommend` writes one)',
  'metallb-pool-exhausted':
    'add addresses to the pool, or another IPAddressPool (`kubectl expose-lb recommend -o yaml` writes one), or delete LoadBalancer Services you no longer use',
  'metallb-pool-not-found':
    'correct the address-pool annotation to one of the IPAddressPools, or create the pool it names',
  'metallb-ip-unavailable':
    'request a free address inside an IPAddressPool (or give both Services the same metallb.io/allow-shared-ip key), or drop the requested IP and let MetalLB pick one',
}

/** MetalLB's controller reports allocation failures on the Service as Warning AllocationFailed events. */
function diagnose(svc: Service, ctx: DiagnosisContext): Pending | undefined {
  if (svc.loadBalancerIngress.length > 0) return notAdvertised(svc, ctx)
  const fromMetalLb = (source: string) => source.startsWith('metallb')
  const warning = latestWarning(ctx, fromMetalLb)
  if (warning !== undefined) {
    const match = /^[Ff]ailed to allocate IP for "[^"]*": (.*)$/s.exec(warning.message)
    const error = match?.[1] ?? (warning.reason === 'LoadBalancerFailed' ? warning.message : undefined)
    const reason = error === undefined ? undefined : ALLOCATOR_ERRORS.find(([re]) => re.test(error))?.[1]
    const pools = ctx.pending.metallbPools
    if (reason !== undefined || warning.reason === 'LoadBalancerFailed') {
      const code =
        reason === 'metallb-pool-exhausted' && error === 'no available IPs' && pools?.length === 0
          ? 'metallb-no-pool'
          : (reason ?? 'metallb-ip-unavailable')
      return {
        reason: code,
        message: `MetalLB could not give it an address: ${error ?? warning.message}`,
        fix: FIXES[code] ?? '',
        evidence: [eventLine(warning), ...poolEvidence(pools)],
      }
    }
  }
  if (!ctx.detected('metallb')) return undefined
  const down = controllerDown(
    ctx.facts.signals.workloads.filter(
      (w) => isMetalLbWorkload(w) && w.kind === 'Deployment' && !/speaker/.test(w.name),
    ),
    'MetalLB',
    METALLB_NAMESPACE,
  )
  if (down !== undefined) return down
  const pools = ctx.pending.metallbPools
  if (pools === undefined) return undefined
  if (pools.length === 0) {
    return {
      reason: 'metallb-no-pool',
      message:
        'MetalLB is installed but has no IPAddressPool, so it has no address to give (it records no event for this)',
      fix: FIXES['metallb-no-pool'] ?? '',
      evidence: ['ipaddresspools.metallb.io: none in any namespace'],
    }
  }
  const requested = annotation(svc, 'address-pool')
  if (requested !== undefined && !pools.some((p) => p.name === requested[1])) {
    return {
      reason: 'metallb-pool-not-found',
      message: `annotation ${requested[0]} names pool "${requested[1]}", and no IPAddressPool has that name`,
      fix: FIXES['metallb-pool-not-found'] ?? '',
      evidence: [`annotation ${requested[0]}: ${requested[1]}`, ...poolEvidence(pools)],
    }
  }
  const ipsAnnotation = annotation(svc, 'loadBalancerIPs')
  const ips = ipsAnnotation?.[1].split(',').map((ip) => ip.trim()) ?? (svc.loadBalancerIP ? [svc.loadBalancerIP] : [])
  const where = ipsAnnotation ? `annotation ${ipsAnnotation[0]}` : 'spec.loadBalancerIP'
  for (const ip of ips) {
    const inPools = pools.map((p) => p.addresses.map((block) => inAddressBlock(ip, block)))
    if (inPools.flat().some((inside) => inside !== false)) continue
    return {
      reason: 'metallb-ip-unavailable',
      message: `${where} asks for ${ip}, which is in no IPAddressPool`,
      fix: FIXES['metallb-ip-unavailable'] ?? '',
      evidence: [`${where}: ${ipsAnnotation?.[1] ?? ip}`, ...poolEvidence(pools)],
    }
  }
  const family = svc.ipFamilies[0] === 'IPv6' ? 'ipv6' : 'ipv4'
  const candidates =
    requested === undefined ? pools.filter((p) => p.autoAssign) : pools.filter((p) => p.name === requested[1])
  if (candidates.length > 0 && candidates.every((p) => p.available?.[family] === 0)) {
    return {
      reason: 'metallb-pool-exhausted',
      message: `every IPAddressPool that could serve it has 0 available ${family === 'ipv4' ? 'IPv4' : 'IPv6'} addresses`,
      fix: FIXES['metallb-pool-exhausted'] ?? '',
      evidence: candidates.map(
        (p) =>
          `IPAddressPool ${p.namespace}/${p.name}: addresses ${p.addresses.join(', ')}; status.available${family === 'ipv4' ? 'IPv4' : 'IPv6'}: 0`,
      ),
    }
  }
  return undefined
}

function poolEvidence(pools: MetalLbPool[] | undefined): string[] {
  if (pools === undefined) return []
  if (pools.length === 0) return ['ipaddresspools.metallb.io: none in any namespace']
  return [`IPAddressPools: ${pools.map((p) => `${p.namespace}/${p.name} (${p.addresses.join(', ')})`).join('; ')}`]
}

/**
 * An address MetalLB assigned (annotation ip-allocated-from-pool) that no L2Advertisement or BGPAdvertisement
 * announces: the Service looks ready but nothing answers ARP/NDP or BGP for it. MetalLB logs this at debug level
 * only (speaker/layer2_controller.go "no advertisement matching service"), so it is read from the objects.
 */
function notAdvertised(svc: Service, ctx: DiagnosisContext): Pending | undefined {
  const allocated = annotation(svc, 'ip-allocated-from-pool')
  const ads = ctx.pending.metallbAdvertisements
  if (allocated === undefined || ads === undefined) return undefined
  const pool = ctx.pending.metallbPools?.find((p) => p.name === allocated[1])
  const covers = (ad: MetalLbAdvertisement) =>
    (ad.ipAddressPools.length === 0 && ad.poolSelectors.length === 0) ||
    ad.ipAddressPools.includes(allocated[1]) ||
    (pool !== undefined &&
      ad.poolSelectors.some((selector) => Object.entries(selector).every(([k, v]) => pool.labels[k] === v)))
  if (ads.some(covers)) return undefined
  const address = svc.loadBalancerIngress.map((i) => i.ip ?? i.hostname).join(', ')
  return {
    reason: 'metallb-not-advertised',
    message: `MetalLB assigned ${address} from pool "${allocated[1]}", but no L2Advertisement or BGPAdvertisement announces that pool, so nothing answers for the address`,
    fix: `add an L2Advertisement whose ipAddressPools lists ${allocated[1]} (or one without ipAddressPools, which announces every pool)`,
    evidence: [
      `annotation ${allocated[0]}: ${allocated[1]}`,
      `status.loadBalancer.ingress: ${address}`,
      ads.length === 0
        ? 'l2advertisements.metallb.io, bgpadvertisements.metallb.io: none in any namespace'
        : `advertisements: ${ads.map((ad) => `${ad.kind} ${ad.namespace}/${ad.name} (ipAddressPools: ${ad.ipAddressPools.join(', ') || 'none'}${ad.poolSelectors.length > 0 ? ', with ipAddressPoolSelectors' : ''})`).join('; ')}`,
    ],
  }
}

export const metallb: LoadBalancerModule = {
  name: 'metallb',
  display: 'MetalLB',
  detect,
  steps: {metallb: metalLbStep},
  diagnose,
}
