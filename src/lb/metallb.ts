/**
 * MetalLB: how it shows in the API, and the step that installs or finishes it. Sources: metallb/metallb
 * `config/manifests/metallb-native.yaml`, `controller/service.go` (annotations), and its docs ("Installation").
 */
import {serviceLbDisabledBy} from '../detect/distro.js'
import type {Workload} from '../plan/types.js'
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
import type {Action, Facts, Finding, LoadBalancerModule, Manifest, StepContext, StepPart} from './types.js'

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

export const metallb: LoadBalancerModule = {
  name: 'metallb',
  display: 'MetalLB',
  detect,
  steps: {metallb: metalLbStep},
}
