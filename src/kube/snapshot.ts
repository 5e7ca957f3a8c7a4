// One consistent read of what the planner and detection need. Services, Nodes and EndpointSlices are required;
// detection reads are optional: a 403/404 there becomes a note in signals.unavailable, not a failure.
import {COUNT_KEYS} from '../lb/evidence.js'
import type {ClusterSnapshot, DetectionSignals, Workload} from '../plan/types.js'
import {readOptional, type ApiClient, type ReadTarget} from './client.js'
import {toEndpointSlice, toNode, toService, toWorkload} from './convert.js'
import {readIngressObjects} from './ingress-read.js'

export interface SnapshotScope {
  /** Only this namespace; undefined for all. */
  namespace?: string
  /** Label selector for Services. */
  selector?: string
}

interface List {
  items?: unknown[]
}

interface GroupList {
  groups?: Array<{name?: string; preferredVersion?: {version?: string}}>
}

/**
 * Custom resources whose object counts tell whether an installed load balancer hands out addresses, as [group,
 * resource]: the ones the load-balancer modules read (lb/evidence.ts COUNT_KEYS, `<resource>.<group>`).
 */
const COUNTED_RESOURCES = Object.values(COUNT_KEYS).map((key) => {
  const dot = key.indexOf('.')
  return [key.slice(dot + 1), key.slice(0, dot)] as const
})

/** ConfigMaps detection looks at: legacy MetalLB config and kube-vip's IP ranges. */
const CONFIG_MAPS = [
  ['metallb-system', 'config'],
  ['kube-system', 'kubevip'],
] as const

/** Pods carrying these label keys belong to k3s/RKE2 ServiceLB (svclb-*) in any namespace. */
const SERVICELB_POD_LABELS = ['svccontroller.k3s.cattle.io/svcname', 'svccontroller.rke2.cattle.io/svcname']

/**
 * Like Promise.all, but waits for every read to finish before throwing the first failure, so no rejection is
 * left unhandled (which would end the process) and no request is still in flight when the command reports.
 */
async function settleAll<T extends readonly unknown[]>(promises: {[K in keyof T]: Promise<T[K]>}): Promise<T> {
  const results = await Promise.allSettled(promises)
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T
}

/** Objects in a list; disabled Cilium pools (spec.disabled) hand out nothing, so they do not count. */
function countObjects(list: List): number {
  return (list.items ?? []).filter((o) => (o as {spec?: {disabled?: boolean}}).spec?.disabled !== true).length
}

function query(params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string] => Boolean(e[1]))
  return entries.length ? `?${new URLSearchParams(entries).toString()}` : ''
}

function scoped(base: string, resource: string, namespace?: string): string {
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${resource}` : `${base}/${resource}`
}

/** Reads Services, Nodes, EndpointSlices and detection signals in parallel. */
export async function readSnapshot(api: ApiClient, scope: SnapshotScope = {}): Promise<ClusterSnapshot> {
  const ns = scope.namespace
  const servicesRead = api.get<List>({
    path: scoped('/api/v1', 'services', ns) + query({labelSelector: scope.selector}),
    verb: 'list',
    resource: 'services',
    namespace: ns,
  })
  const nodesRead = api.get<List>({path: '/api/v1/nodes', verb: 'list', resource: 'nodes'})
  const slicesRead = api.get<List>({
    path: scoped('/apis/discovery.k8s.io/v1', 'endpointslices', ns),
    verb: 'list',
    resource: 'endpointslices.discovery.k8s.io',
    namespace: ns,
  })
  const signalsRead = readSignals(api)
  const ingressRead = readIngressObjects(api, ns)
  const [services, nodes, slices, signals, ingress] = await settleAll([
    servicesRead,
    nodesRead,
    slicesRead,
    signalsRead,
    ingressRead,
  ] as const)
  return {
    services: (services.items ?? []).map(toService),
    nodes: (nodes.items ?? []).map(toNode),
    endpointSlices: (slices.items ?? []).map(toEndpointSlice),
    signals,
    ingress: ingress.objects,
  }
}

/** Detection facts; each read that is forbidden or missing is listed in `unavailable` instead. */
export async function readSignals(api: ApiClient): Promise<DetectionSignals> {
  const unavailable: string[] = []
  /** An optional read: undefined when forbidden or not found (404 also means "this API does not exist"). */
  const optional = <T>(target: ReadTarget, quietIfMissing = false): Promise<T | undefined> =>
    readOptional<T>(api, target, unavailable, quietIfMissing)
  const items = (list: List | undefined) => list?.items ?? []

  const groupsRead = optional<GroupList>({path: '/apis', verb: 'get', resource: 'API groups (/apis)'})
  const workloadsRead = Promise.all([
    optional<List>({path: '/apis/apps/v1/daemonsets', verb: 'list', resource: 'daemonsets.apps'}),
    optional<List>({path: '/apis/apps/v1/deployments', verb: 'list', resource: 'deployments.apps'}),
    optional<List>({
      path: '/api/v1/namespaces/kube-system/pods',
      verb: 'list',
      resource: 'pods',
      namespace: 'kube-system',
    }),
    ...SERVICELB_POD_LABELS.map((label) =>
      optional<List>({path: `/api/v1/pods${query({labelSelector: label})}`, verb: 'list', resource: 'pods'}),
    ),
  ])
  const configMapsRead = Promise.all(
    CONFIG_MAPS.map(([namespace, name]) =>
      optional<{data?: Record<string, string>}>(
        {
          path: `/api/v1/namespaces/${namespace}/configmaps/${name}`,
          verb: 'get',
          resource: `configmap ${namespace}/${name}`,
        },
        true,
      ),
    ),
  )
  const ingressRead = optional<List>({
    path: '/apis/networking.k8s.io/v1/ingressclasses',
    verb: 'list',
    resource: 'ingressclasses.networking.k8s.io',
  })

  // Counting custom objects needs discovery's preferred versions first.
  const countsRead = groupsRead.then((list) => {
    const versions = new Map(
      (list?.groups ?? []).flatMap((g) =>
        g.name && g.preferredVersion?.version ? [[g.name, g.preferredVersion.version] as const] : [],
      ),
    )
    const counted = COUNTED_RESOURCES.filter(([group]) => versions.has(group))
    return Promise.all(
      counted.map(async ([group, resource]) => {
        const list = await optional<List>({
          path: `/apis/${group}/${versions.get(group)}/${resource}`,
          verb: 'list',
          resource: `${resource}.${group}`,
        })
        return list ? ([`${resource}.${group}`, countObjects(list)] as const) : undefined
      }),
    )
  })

  const [groups, [daemonSets, deployments, ...podLists], configMaps, ingressClasses, counts] = await settleAll([
    groupsRead,
    workloadsRead,
    configMapsRead,
    ingressRead,
    countsRead,
  ] as const)
  const seenPods = new Set<string>()
  const pods = podLists
    .flatMap(items)
    .map((p) => toWorkload('Pod', p))
    .filter((p) => {
      const key = `${p.namespace}/${p.name}`
      return !seenPods.has(key) && Boolean(seenPods.add(key))
    })
  const workloads: Workload[] = [
    ...items(daemonSets).map((o) => toWorkload('DaemonSet', o)),
    ...items(deployments).map((o) => toWorkload('Deployment', o)),
    ...pods,
  ]
  return {
    apiGroups: (groups?.groups ?? []).flatMap((g) => g.name ?? []),
    workloads,
    configMaps: Object.fromEntries(
      CONFIG_MAPS.flatMap(([namespace, name], i) => {
        const cm = configMaps[i]
        return cm ? [[`${namespace}/${name}`, cm.data ?? {}]] : []
      }),
    ),
    customObjectCounts: Object.fromEntries(counts.flatMap((entry) => (entry ? [entry] : []))),
    ingressClasses: items(ingressClasses).flatMap((o) => (o as {metadata?: {name?: string}}).metadata?.name ?? []),
    unavailable,
  }
}
