// What the pending diagnosis (src/lb/diagnose.ts) reads beyond detection: Events about Services and svclb pods,
// the svclb pods with their status, and MetalLB's pools and advertisements in full. Every read is optional: a
// 403/404 becomes a note in `unavailable` (the diagnosis says which read was missing), never a failure.
import {diagnoseServices, needsDiagnosis} from '../lb/diagnose.js'
import type {ClusterEvent, LbPod, MetalLbAdvertisement, MetalLbPool, Pending, PendingSignals} from '../lb/types.js'
import type {ClusterSnapshot, Detection, DetectionSignals} from '../plan/types.js'
import {readOptional, type ApiClient, type ReadTarget} from './client.js'
import {toService} from './convert.js'
import {arr, obj, str, strMap} from './json.js'

/** A string field, '' when absent. */
const text = (v: unknown): string => str(v) ?? ''

interface List {
  items?: unknown[]
}

/** ServiceLB's pod labels (k3s pkg/cloudprovider/servicelb.go); RKE2 swaps the program name. */
const SVCLB_LABELS = ['svccontroller.k3s.cattle.io/svcname', 'svccontroller.rke2.cattle.io/svcname']

/**
 * Why each pending LoadBalancer Service in the snapshot is pending, by `namespace/name`; reads nothing when no
 * Service needs a diagnosis.
 */
export async function diagnosePending(
  api: ApiClient,
  snapshot: ClusterSnapshot,
  detection: Detection,
  scope: {namespace?: string} = {},
): Promise<Map<string, Pending>> {
  if (!snapshot.services.some(needsDiagnosis)) return new Map()
  const [pending, all] = await Promise.all([
    readPendingSignals(api, snapshot.signals, scope),
    // A Service in another namespace can hold the ports a ServiceLB Service needs.
    scope.namespace === undefined
      ? undefined
      : api.get<List>({path: '/api/v1/services', verb: 'list', resource: 'services'}).catch(() => undefined),
  ])
  const services = all?.items?.map(toService) ?? snapshot.services
  return diagnoseServices({...snapshot, services, only: snapshot.services, detection, pending})
}

/** The reads, scoped like `list` (one namespace or all), for Services that need a diagnosis. */
export async function readPendingSignals(
  api: ApiClient,
  signals: DetectionSignals,
  scope: {namespace?: string} = {},
): Promise<PendingSignals> {
  const unavailable: string[] = []
  const optional = (target: ReadTarget): Promise<List | undefined> => readOptional<List>(api, target, unavailable)
  const svclb = signals.workloads.some((w) => SVCLB_LABELS.some((label) => label in w.labels))
  const metallb = signals.apiGroups.includes('metallb.io')
  const [events, pods, pools, l2, bgp] = await Promise.all([
    readEvents(api, optional, scope.namespace),
    svclb
      ? Promise.all(
          SVCLB_LABELS.map((label) =>
            optional({
              path: `/api/v1/pods?${new URLSearchParams({labelSelector: label})}`,
              verb: 'list',
              resource: 'pods',
            }),
          ),
        )
      : Promise.resolve([]),
    metallb
      ? optional({path: '/apis/metallb.io/v1beta1/ipaddresspools', verb: 'list', resource: 'ipaddresspools.metallb.io'})
      : undefined,
    metallb
      ? optional({
          path: '/apis/metallb.io/v1beta1/l2advertisements',
          verb: 'list',
          resource: 'l2advertisements.metallb.io',
        })
      : undefined,
    metallb
      ? optional({
          path: '/apis/metallb.io/v1beta1/bgpadvertisements',
          verb: 'list',
          resource: 'bgpadvertisements.metallb.io',
        })
      : undefined,
  ])
  return {
    events,
    pods: pods.flatMap((list) => (list?.items ?? []).map(toLbPod)),
    ...(pools ? {metallbPools: (pools.items ?? []).map(toMetalLbPool)} : {}),
    ...(l2 || bgp
      ? {
          metallbAdvertisements: [
            ...(l2?.items ?? []).map((o) => toAdvertisement('L2Advertisement', o)),
            ...(bgp?.items ?? []).map((o) => toAdvertisement('BGPAdvertisement', o)),
          ],
        }
      : {}),
    unavailable,
  }
}

/**
 * Events about Services (in the scope) and the scheduler's FailedScheduling events about pods (svclb pods live in
 * kube-system, or in the Service's namespace on old k3s). core/v1 first; when that is forbidden, events.k8s.io/v1,
 * whose field labels are regarding.* (kubernetes pkg/apis/events/v1/conversion.go).
 */
async function readEvents(
  api: ApiClient,
  optional: (target: ReadTarget) => Promise<List | undefined>,
  namespace: string | undefined,
): Promise<ClusterEvent[]> {
  const path = (base: string, selector: string, ns?: string) =>
    `${base}${ns ? `/namespaces/${encodeURIComponent(ns)}` : ''}/events?${new URLSearchParams({fieldSelector: selector})}`
  const quiet = async (target: ReadTarget): Promise<List | undefined> => {
    try {
      return await api.get<List>(target)
    } catch {
      return undefined
    }
  }
  const core = await quiet({
    path: path('/api/v1', 'involvedObject.kind=Service', namespace),
    verb: 'list',
    resource: 'events',
    namespace,
  })
  if (core !== undefined) {
    const pods = await optional({
      path: path('/api/v1', 'involvedObject.kind=Pod,reason=FailedScheduling'),
      verb: 'list',
      resource: 'events',
    })
    return [...(core.items ?? []), ...(pods?.items ?? [])].map(toClusterEvent)
  }
  const v1 = await optional({
    path: path('/apis/events.k8s.io/v1', 'regarding.kind=Service', namespace),
    verb: 'list',
    resource: 'events (core and events.k8s.io)',
    namespace,
  })
  if (v1 === undefined) return []
  const pods = await optional({
    path: path('/apis/events.k8s.io/v1', 'regarding.kind=Pod,reason=FailedScheduling'),
    verb: 'list',
    resource: 'events.events.k8s.io',
  })
  return [...(v1.items ?? []), ...(pods?.items ?? [])].map(toClusterEvent)
}

/** A core/v1 or events.k8s.io/v1 Event as the slim type. */
export function toClusterEvent(raw: unknown): ClusterEvent {
  const e = obj(raw)
  const ref = obj(e.involvedObject ?? e.regarding)
  const source = obj(e.source ?? e.deprecatedSource)
  const series = obj(e.series)
  const count = [series.count, e.count, e.deprecatedCount].find((n) => typeof n === 'number')
  const lastSeen =
    text(series.lastObservedTime) || text(e.lastTimestamp) || text(e.deprecatedLastTimestamp) || text(e.eventTime)
  return {
    regarding: {kind: text(ref.kind), namespace: text(ref.namespace), name: text(ref.name)},
    type: text(e.type),
    reason: text(e.reason),
    message: text(e.message ?? e.note),
    source: text(source.component) || text(e.reportingController) || text(e.reportingComponent),
    count: typeof count === 'number' ? count : 1,
    ...(lastSeen ? {lastSeen} : {}),
  }
}

/** A pod with its phase, readiness, PodScheduled=False condition and host ports. */
export function toLbPod(raw: unknown): LbPod {
  const o = obj(raw)
  const meta = obj(o.metadata)
  const spec = obj(o.spec)
  const status = obj(o.status)
  const conditions = arr(status.conditions).map(obj)
  const scheduled = conditions.find((c) => c.type === 'PodScheduled' && c.status === 'False')
  const nodeName = text(spec.nodeName)
  return {
    namespace: text(meta.namespace),
    name: text(meta.name),
    labels: strMap(meta.labels),
    phase: text(status.phase) || 'Unknown',
    ...(nodeName ? {nodeName} : {}),
    ready: conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    ...(scheduled
      ? {
          unscheduled: {
            ...(text(scheduled.reason) ? {reason: text(scheduled.reason)} : {}),
            ...(text(scheduled.message) ? {message: text(scheduled.message)} : {}),
          },
        }
      : {}),
    hostPorts: arr(spec.containers).flatMap((c) =>
      arr(obj(c).ports).flatMap((p) => {
        const port = obj(p).hostPort
        return typeof port === 'number' ? [{port, protocol: text(obj(p).protocol) || 'TCP'}] : []
      }),
    ),
  }
}

/** metallb.io/v1beta1 IPAddressPool: addresses, autoAssign (default true) and the v0.15 status counts. */
export function toMetalLbPool(raw: unknown): MetalLbPool {
  const o = obj(raw)
  const meta = obj(o.metadata)
  const spec = obj(o.spec)
  const status = obj(o.status)
  const count = (v: unknown) => (typeof v === 'number' ? v : undefined)
  const ipv4 = count(status.availableIPv4)
  const ipv6 = count(status.availableIPv6)
  return {
    namespace: text(meta.namespace),
    name: text(meta.name),
    labels: strMap(meta.labels),
    addresses: arr(spec.addresses).filter((a): a is string => typeof a === 'string'),
    autoAssign: spec.autoAssign !== false,
    ...(ipv4 !== undefined || ipv6 !== undefined
      ? {available: {...(ipv4 !== undefined ? {ipv4} : {}), ...(ipv6 !== undefined ? {ipv6} : {})}}
      : {}),
  }
}

/** An L2Advertisement or BGPAdvertisement: the pools it names and its pool selectors' matchLabels. */
export function toAdvertisement(kind: MetalLbAdvertisement['kind'], raw: unknown): MetalLbAdvertisement {
  const o = obj(raw)
  const meta = obj(o.metadata)
  const spec = obj(o.spec)
  return {
    kind,
    namespace: text(meta.namespace),
    name: text(meta.name),
    ipAddressPools: arr(spec.ipAddressPools).filter((p): p is string => typeof p === 'string'),
    poolSelectors: arr(spec.ipAddressPoolSelectors).map((s) => strMap(obj(s).matchLabels)),
  }
}
