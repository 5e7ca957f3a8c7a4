/**
 * The next step for the recommended load balancer: what to run and what to apply. Pure: snapshot + detection in,
 * plain data out; `src/commands/recommend.ts` renders it as text or as YAML for `kubectl apply -f -`.
 */
import {CONFIG_MAP_KEYS, COUNT_KEYS} from '../detect/detect.js'
import {rke2ServiceLbEnabledBy, serviceLbDisabledBy} from '../detect/distro.js'
import {UNTIL_THEN} from '../detect/recommend.js'
import {EXCLUDE_LABEL, isExcludedNode} from '../plan/nodes.js'
import type {ClusterSnapshot, Detection, DetectorName, Node} from '../plan/types.js'
import {formatRanges, suggestRange, type RangeSuggestion} from './range.js'

/** The MetalLB release these steps were written and checked against; its manifests use `metallb.io/v1beta1`. */
export const METALLB_VERSION = 'v0.14.9'
export const METALLB_MANIFEST_URL = `https://raw.githubusercontent.com/metallb/metallb/${METALLB_VERSION}/config/manifests/metallb-native.yaml`
/** MetalLB's manifests install into this namespace (config/native/ns.yaml). */
export const METALLB_NAMESPACE = 'metallb-system'
/** Names of the objects this step creates, so they are easy to find and remove later. */
export const POOL_NAME = 'expose-lb-pool'
export const ADVERTISEMENT_NAME = 'expose-lb-l2'
/** Stands in for an address range when none can be suggested: no API accepts it, so it cannot be applied unedited. */
export const PLACEHOLDER_START = '<first-free-ip>'
export const PLACEHOLDER_END = '<last-free-ip>'
/** The last line of every step that asks the user to act. */
export const UNTIL_THEN_LINE = 'until then, kubectl expose-lb serve maps the names on this workstation.'

/** kubeadm, kind, minikube and Talos put this on control-plane nodes; MetalLB and cloud providers skip such nodes. */

/** A Kubernetes object to apply, as plain data, with comments on some of its fields. */
export interface Manifest {
  object: Record<string, unknown>
  /** Comments to show above fields, by path into `object`, e.g. `['spec', 'addresses', 0]`. */
  fieldComments: Array<{path: Array<string | number>; text: string}>
}

/** One thing for the user to do: a sentence, then the commands that do it. */
export interface Action {
  text: string
  commands: string[]
  /** This action applies the step's manifests: text output shows them under it. */
  applies?: boolean
}

export interface NextStep {
  /** The recommendation name from detection: `none`, `metallb`, `k3s-servicelb`, … */
  recommendation: string
  /** What the step does, e.g. "install MetalLB (L2) and give it an address pool". */
  title: string
  /** Why, from detection. */
  reason: string
  actions: Action[]
  /** Facts worth knowing before acting. */
  notes: string[]
  manifests: Manifest[]
  /** What the user must check or edit: the suggested range, or why there is none. */
  warnings: string[]
  /** The step asks the user to act, so `serve` is the bridge meanwhile. */
  untilThen: boolean
}

/** How the commands in a step reach the same cluster as this run. */
export interface StepOptions {
  /** kubectl with the flags that chose this cluster, e.g. `kubectl --context homelab`. */
  kubectl: string
  /** The recommend command with the same flags: `<self> -o yaml | <kubectl> apply -f -` applies the manifests. */
  self: string
}

const DEFAULT_OPTIONS: StepOptions = {kubectl: 'kubectl', self: 'kubectl expose-lb recommend'}

/** The next step for `detection.recommendation` on this cluster. */
export function nextStep(
  snapshot: Pick<ClusterSnapshot, 'nodes' | 'services' | 'signals'>,
  detection: Detection,
  options: StepOptions = DEFAULT_OPTIONS,
): NextStep {
  const {name, reason} = detection.recommendation
  const suffix = `; ${UNTIL_THEN}`
  const ctx: Context = {
    snapshot,
    detection,
    options,
    nodes: snapshot.nodes.filter((node) => !node.deleting),
    range: suggestRange(snapshot),
    reason: reason.endsWith(suffix) ? reason.slice(0, -suffix.length) : reason,
  }
  const build = BUILDERS[name] ?? generic
  const part = build(ctx)
  return {
    recommendation: name,
    title: part.title,
    reason: ctx.reason,
    actions: part.actions,
    notes: part.notes ?? [],
    manifests: part.manifests ?? [],
    warnings: part.usesRange ? rangeWarnings(ctx.range) : [],
    untilThen: name !== 'none',
  }
}

/**
 * The step as lines of plain text: title, reason, numbered actions with their commands indented, notes, and the
 * closing line. `manifests` (already rendered) goes under the action that applies them; warnings are left to the
 * caller, which prints them on stderr.
 */
export function describeStep(step: NextStep, manifests?: string): string[] {
  const lines = [`NEXT STEP (${step.recommendation}): ${step.title}`, `Why: ${step.reason}`]
  step.actions.forEach((action, i) => {
    const colon = action.commands.length > 0 && !action.text.endsWith(':') ? ':' : ''
    lines.push('', `${i + 1}. ${action.text}${colon}`, ...action.commands.map((command) => `     ${command}`))
    if (action.applies && manifests !== undefined) {
      lines.push('   These manifests:', ...manifests.trimEnd().split('\n').map(indent))
    }
  })
  if (step.notes.length > 0) lines.push('', ...step.notes.map((note) => `Note: ${note}`))
  if (step.untilThen) lines.push('', UNTIL_THEN_LINE)
  return lines
}

function indent(line: string): string {
  return line === '' ? line : `     ${line}`
}

interface Context {
  snapshot: Pick<ClusterSnapshot, 'nodes' | 'services' | 'signals'>
  detection: Detection
  options: StepOptions
  /** Nodes not being deleted. */
  nodes: Node[]
  range: RangeSuggestion
  /** Detection's reason without the "until then" tail. */
  reason: string
}

interface Part {
  title: string
  actions: Action[]
  notes?: string[]
  manifests?: Manifest[]
  /** The step uses the suggested range, so its warnings apply. */
  usesRange?: boolean
}

const BUILDERS: Record<string, (ctx: Context) => Part> = {
  none: () => ({title: 'nothing to install', actions: []}),
  metallb: metalLb,
  'microk8s-metallb': microk8sMetalLb,
  'cilium-lb-ipam': ciliumLbIpam,
  'k3s-servicelb': (ctx) => serviceLb(ctx, 'k3s'),
  'rke2-servicelb': (ctx) => serviceLb(ctx, 'rke2'),
  'cloud-provider-kind': cloudProviderKind,
  'minikube-tunnel': minikubeTunnel,
  'kube-vip': kubeVip,
  openelb: (ctx) => finish(ctx, 'OpenELB'),
  purelb: (ctx) => finish(ctx, 'PureLB'),
}

function rangeWarnings(range: RangeSuggestion): string[] {
  if (!range.ok) {
    return [
      `cannot suggest an address range: ${range.reason}; replace ${PLACEHOLDER_START}-${PLACEHOLDER_END} with free ` +
        'addresses of the node network before applying',
    ]
  }
  return [
    `check these addresses are free and outside your DHCP range: ${formatRanges(range.ranges, ', ')} ` +
      `(a guess in ${range.subnet}, assuming the nodes' network is a /24)`,
    ...range.notes,
  ]
}

/** The comment put above the addresses in a manifest. */
function rangeComment(range: RangeSuggestion): string {
  return range.ok
    ? ` check these addresses are free and outside your DHCP range (suggested from ${range.subnet})`
    : ` EDIT: put free addresses of the node network here (${range.reason})`
}

/** The suggested range in `a-b,c-d` syntax, or the placeholder. */
function rangeText(range: RangeSuggestion, separator = ','): string {
  return range.ok ? formatRanges(range.ranges, separator) : `${PLACEHOLDER_START}-${PLACEHOLDER_END}`
}

function detected(ctx: Context, name: DetectorName): boolean {
  return ctx.detection.detected.some((lb) => lb.name === name)
}

/** A custom-object count from detection signals, undefined when it could not be read. */
function count(ctx: Context, key: string): number | undefined {
  return ctx.snapshot.signals.customObjectCounts[key]
}

function applyCommand(ctx: Context): string {
  return `${ctx.options.self} -o yaml | ${ctx.options.kubectl} apply -f -`
}

/** When every node carries the exclude label, no node would announce or receive load-balancer traffic. */
function excludeLabelAction(ctx: Context, who: string): Action | undefined {
  const labelled = ctx.nodes.filter(isExcludedNode)
  if (labelled.length === 0 || labelled.length < ctx.nodes.length) return undefined
  return {
    text: `Every node has the label \`${EXCLUDE_LABEL}\`, so ${who} would use none of them: remove it`,
    commands: [`${ctx.options.kubectl} label node ${labelled.map((n) => n.name).join(' ')} ${EXCLUDE_LABEL}-`],
  }
}

function metalLb(ctx: Context): Part {
  const installed = detected(ctx, 'metallb')
  const {signals} = ctx.snapshot
  const legacy =
    installed &&
    !signals.apiGroups.includes('metallb.io') &&
    signals.configMaps[CONFIG_MAP_KEYS.metallbLegacy] !== undefined &&
    count(ctx, COUNT_KEYS.metallbPools) === undefined
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
  const pools = installed ? count(ctx, COUNT_KEYS.metallbPools) : undefined
  const advertisements = installed
    ? sum(count(ctx, COUNT_KEYS.metallbL2Advertisements), count(ctx, COUNT_KEYS.metallbBgpAdvertisements))
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
function legacyMetalLb(ctx: Context): Part {
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

function microk8sMetalLb(ctx: Context): Part {
  return {
    title: "enable MicroK8s' MetalLB addon",
    actions: [
      {
        text: 'On a MicroK8s node, enable the addon with the address range',
        commands: [`microk8s enable metallb:${rangeText(ctx.range)}`],
      },
    ],
    usesRange: true,
  }
}

function ciliumLbIpam(ctx: Context): Part {
  const blocks = ctx.range.ok
    ? ctx.range.ranges.map((r) => ({start: r.start, stop: r.end}))
    : [{start: PLACEHOLDER_START, stop: PLACEHOLDER_END}]
  const manifests: Manifest[] = [
    {
      object: {
        apiVersion: 'cilium.io/v2alpha1',
        kind: 'CiliumLoadBalancerIPPool',
        metadata: {name: POOL_NAME},
        spec: {blocks},
      },
      fieldComments: [{path: ['spec', 'blocks', 0], text: rangeComment(ctx.range)}],
    },
  ]
  const policies = count(ctx, COUNT_KEYS.ciliumL2Policies)
  if (policies === undefined || policies === 0) {
    manifests.push({
      object: {
        apiVersion: 'cilium.io/v2alpha1',
        kind: 'CiliumL2AnnouncementPolicy',
        metadata: {name: ADVERTISEMENT_NAME},
        // No nodeSelector or interfaces: announce from every node, on every interface.
        spec: {loadBalancerIPs: true},
      },
      fieldComments: [],
    })
  }
  const announce = manifests.length > 1 ? ' and announce them on the node network (L2)' : ''
  return {
    title: 'give Cilium LB-IPAM an address pool and announce it (L2)',
    actions: [
      {
        text:
          'Turn on L2 announcements in Cilium (they need kube-proxy replacement), then restart the operator and ' +
          'agents; with a Helm release named cilium:',
        commands: [
          'helm upgrade cilium cilium/cilium --namespace kube-system --reuse-values --set l2announcements.enabled=true --set externalIPs.enabled=true',
          `${ctx.options.kubectl} -n kube-system rollout restart deployment/cilium-operator daemonset/cilium`,
        ],
      },
      {
        text: `Give LB-IPAM the addresses ${rangeText(ctx.range, ', ')}${announce}`,
        commands: [applyCommand(ctx)],
        applies: true,
      },
    ],
    notes: ['written for Cilium 1.15 and later (pool `blocks` with start/stop; 1.14 only has `cidrs`)'],
    manifests,
    usesRange: true,
  }
}

// ServiceLB's DaemonSets and pods carry this label key (k3s pkg/cloudprovider/servicelb.go); RKE2 swaps the program.
const svclbLabel = (program: 'k3s' | 'rke2') => `svccontroller.${program}.cattle.io/svcname`

function serviceLb(ctx: Context, program: 'k3s' | 'rke2'): Part {
  const name = program === 'k3s' ? 'k3s ServiceLB' : 'RKE2 ServiceLB'
  const check: Action = {
    text: `Check that ServiceLB runs an svclb pod for each LoadBalancer Service`,
    commands: [`${ctx.options.kubectl} get pods --all-namespaces --selector ${svclbLabel(program)}`],
  }
  const notes = [
    'ServiceLB runs an svclb pod on every node for each LoadBalancer Service and binds each Service port as a ' +
      'hostPort there: a port already taken on a node (80 and 443 by Traefik, for one) keeps the Service off that ' +
      'node, and the Service gets the node IPs as its address, not a new one',
  ]
  const enabled = program === 'k3s' ? serviceLbDisabledBy(ctx.nodes) === undefined : rke2ServiceLbEnabledBy(ctx.nodes)
  if (enabled) {
    return {
      title: `use ${name} (it is on)`,
      actions: [
        {
          text: 'Nothing to install: create a LoadBalancer Service (or keep yours) and ServiceLB gives it the node IPs',
          commands: [],
        },
        check,
      ],
      notes,
    }
  }
  if (program === 'rke2') {
    return {
      title: `enable ${name}`,
      actions: [
        {
          text:
            'On each RKE2 server, add `enable-servicelb: true` to /etc/rancher/rke2/config.yaml (the ' +
            '`--enable-servicelb` flag; RKE2 ships ServiceLB off), then restart RKE2',
          commands: [
            "echo 'enable-servicelb: true' | sudo tee -a /etc/rancher/rke2/config.yaml",
            'sudo systemctl restart rke2-server',
          ],
        },
        check,
      ],
      notes,
    }
  }
  const disabled = serviceLbDisabledBy(ctx.nodes)
  const seen = disabled === undefined ? '' : ` (node ${disabled.node} runs with \`${disabled.flag}\`)`
  const remove = disabled?.flag.startsWith('--disable-cloud-controller')
    ? 'remove `disable-cloud-controller: true` from /etc/rancher/k3s/config.yaml, or `--disable-cloud-controller` ' +
      "from ExecStart in /etc/systemd/system/k3s.service: ServiceLB runs in k3s' embedded cloud controller"
    : 'remove `servicelb` from the `disable:` list in /etc/rancher/k3s/config.yaml (or a file in ' +
      '/etc/rancher/k3s/config.yaml.d/), or the `--disable servicelb` argument from ExecStart in ' +
      '/etc/systemd/system/k3s.service'
  return {
    title: `re-enable ${name}`,
    actions: [
      {text: `On each k3s server, ${remove}${seen}`, commands: []},
      {text: 'Restart k3s there', commands: ['sudo systemctl daemon-reload', 'sudo systemctl restart k3s']},
      check,
    ],
    notes,
  }
}

function cloudProviderKind(ctx: Context): Part {
  const actions: Action[] = [
    {
      text: 'Install cloud-provider-kind (needs Go)',
      commands: ['go install sigs.k8s.io/cloud-provider-kind@latest'],
    },
    {
      text:
        'Run it on this host and keep it running; it serves the LoadBalancer Services of every kind cluster here ' +
        '(on macOS and WSL2 run it with sudo)',
      commands: ['cloud-provider-kind'],
    },
  ]
  const exclude = excludeLabelAction(ctx, 'cloud-provider-kind')
  if (exclude !== undefined) actions.push(exclude)
  return {title: 'run cloud-provider-kind on this host', actions}
}

function minikubeTunnel(ctx: Context): Part {
  // minikube names nodes after the profile and labels them with it; the default profile is "minikube".
  const profile = ctx.nodes.map((node) => node.labels['minikube.k8s.io/name']).find((p) => p !== undefined)
  const flag = profile !== undefined && profile !== 'minikube' ? ` -p ${profile}` : ''
  return {
    title: 'run minikube tunnel',
    actions: [
      {
        text:
          'Run it in a terminal and keep it running; it gives each LoadBalancer Service an address this host can ' +
          'reach (it may ask for sudo to bind ports below 1024)',
        commands: [`minikube tunnel${flag}`],
      },
    ],
    notes: [
      `or use MetalLB: \`minikube addons enable metallb${flag}\`, then \`minikube addons configure metallb${flag}\``,
    ],
  }
}

function kubeVip(ctx: Context): Part {
  const actions: Action[] = [{text: capitalize(ctx.reason), commands: []}]
  const daemonSet = ctx.snapshot.signals.workloads.find(
    (w) => w.kind === 'DaemonSet' && w.name.startsWith('kube-vip') && !w.name.includes('cloud-provider'),
  )
  if (daemonSet !== undefined && daemonSet.env.svc_enable === undefined) {
    actions.push({
      text: `Set it on DaemonSet ${daemonSet.namespace}/${daemonSet.name}`,
      commands: [
        `${ctx.options.kubectl} -n ${daemonSet.namespace} set env daemonset/${daemonSet.name} svc_enable=true`,
      ],
    })
  }
  const usesRange = ctx.snapshot.signals.configMaps[CONFIG_MAP_KEYS.kubeVip] === undefined
  if (usesRange) {
    const [namespace, name] = CONFIG_MAP_KEYS.kubeVip.split('/')
    actions.push({
      text: 'Give kube-vip-cloud-provider addresses to hand out',
      commands: [
        `${ctx.options.kubectl} create configmap --namespace ${namespace} ${name} --from-literal range-global=${rangeText(ctx.range)}`,
      ],
    })
  }
  return {title: 'finish configuring kube-vip', actions, usesRange}
}

function finish(ctx: Context, display: string): Part {
  return {title: `finish configuring ${display}`, actions: [{text: capitalize(ctx.reason), commands: []}]}
}

/** A recommendation this module has no steps for yet: pass the reason on. */
function generic(ctx: Context): Part {
  return {title: ctx.detection.recommendation.name, actions: [{text: capitalize(ctx.reason), commands: []}]}
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}
