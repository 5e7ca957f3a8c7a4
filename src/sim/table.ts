// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for and renders as-is.
// Columns follow kubernetes/pkg/printers/internalversion/printers.go.
import type {KindInfo} from './kinds.js'
import type {KubeObject} from './kinds.js'

interface Column {
  name: string
  type: string
  format: string
  description: string
  priority: number // 0: always shown; 1: only with -o wide
}

/** How much of each object a Table row carries (the `includeObject` query parameter). */
export type IncludeObject = 'None' | 'Metadata' | 'Object'

interface Printer {
  columns: Array<[name: string, priority?: number]>
  cells(obj: KubeObject, age: string): unknown[]
}

type Spec = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- printed fields are optional everywhere

const PRINTERS: Record<string, Printer> = {
  Service: {
    columns: [['Name'], ['Type'], ['Cluster-IP'], ['External-IP'], ['Port(s)'], ['Age'], ['Selector', 1]],
    cells(obj, age) {
      const spec: Spec = obj.spec ?? {}
      const selector = Object.entries((spec.selector ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`)
      return [
        obj.metadata.name,
        spec.type ?? 'ClusterIP',
        spec.clusterIP || '<none>',
        serviceExternalIP(obj),
        servicePorts(spec),
        age,
        selector.join(',') || '<none>',
      ]
    },
  },
  Node: {
    columns: [['Name'], ['Status'], ['Roles'], ['Age'], ['Version'], ['Internal-IP', 1], ['External-IP', 1]],
    cells(obj, age) {
      const spec: Spec = obj.spec ?? {}
      const status: Spec = obj.status ?? {}
      const ready = ((status.conditions ?? []) as Spec[]).find((c) => c.type === 'Ready')
      const states = [ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady']
      if (spec.unschedulable) states.push('SchedulingDisabled')
      const address = (type: string) =>
        ((status.addresses ?? []) as Spec[]).find((a) => a.type === type)?.address ?? '<none>'
      return [
        obj.metadata.name,
        states.join(','),
        nodeRoles(obj.metadata.labels ?? {}),
        age,
        status.nodeInfo?.kubeletVersion ?? '',
        address('InternalIP'),
        address('ExternalIP'),
      ]
    },
  },
  Namespace: {
    columns: [['Name'], ['Status'], ['Age']],
    cells: (obj, age) => [obj.metadata.name, (obj.status as Spec | undefined)?.phase ?? 'Active', age],
  },
}

/**
 * Events print the same in both groups (printEvent in kubernetes pkg/printers/internalversion/printers.go); the
 * cells read core/v1 field names, else the events.k8s.io/v1 ones (regarding, note, deprecated*).
 */
const EVENT_PRINTER = (nowMs: number): Printer => ({
  columns: [
    ['Last Seen'],
    ['Type'],
    ['Reason'],
    ['Object'],
    ['Subobject', 1],
    ['Source', 1],
    ['Message'],
    ['First Seen', 1],
    ['Count', 1],
    ['Name', 1],
  ],
  cells(obj) {
    const e: Spec = obj
    const ref: Spec = e.involvedObject ?? e.regarding ?? {}
    const since = (t: unknown) => {
      const ms = Date.parse(typeof t === 'string' ? t : '')
      return Number.isNaN(ms) ? '<unknown>' : humanDuration(nowMs - ms)
    }
    const first = since(e.firstTimestamp ?? e.deprecatedFirstTimestamp ?? e.eventTime)
    const lastRaw = e.series?.lastObservedTime ?? e.lastTimestamp ?? e.deprecatedLastTimestamp
    const last = lastRaw === undefined ? first : since(lastRaw)
    const count = e.series?.count ?? e.count ?? e.deprecatedCount ?? 1
    const kind = String(ref.kind ?? '').toLowerCase()
    const source: Spec = e.source ?? e.deprecatedSource ?? {}
    const component = source.component ?? e.reportingComponent ?? e.reportingController ?? ''
    return [
      last,
      e.type ?? '',
      e.reason ?? '',
      ref.name ? `${kind}/${ref.name}` : kind,
      ref.fieldPath ?? '',
      source.host ? `${component}, ${source.host}` : component,
      String(e.message ?? e.note ?? '').trim(),
      first,
      count,
      obj.metadata.name,
    ]
  },
})

const DEFAULT_PRINTER: Printer = {columns: [['Name'], ['Age']], cells: (obj, age) => [obj.metadata.name, age]}

/** Builds the Table for `objects` of one kind; `nowMs` makes the AGE column testable. */
export function buildTable(
  info: KindInfo,
  objects: KubeObject[],
  opts: {nowMs: number; includeObject: IncludeObject; resourceVersion: string},
) {
  const printer =
    info.kind === 'Event' && (info.group === '' || info.group === 'events.k8s.io')
      ? EVENT_PRINTER(opts.nowMs)
      : (info.group === '' && PRINTERS[info.kind]) || DEFAULT_PRINTER
  const columnDefinitions: Column[] = printer.columns.map(([name, priority = 0]) => ({
    name,
    type: 'string',
    format: name === 'Name' ? 'name' : '',
    description: '',
    priority,
  }))
  const rows = objects.map((obj) => {
    const created = Date.parse(obj.metadata.creationTimestamp ?? '')
    const age = Number.isNaN(created) ? '<unknown>' : humanDuration(opts.nowMs - created)
    const row: {cells: unknown[]; object?: unknown} = {cells: printer.cells(obj, age)}
    // kubectl reads the namespace for `-A` from the row's object, so Metadata is the useful default.
    if (opts.includeObject === 'Object') row.object = obj
    else if (opts.includeObject === 'Metadata')
      row.object = {kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata}
    return row
  })
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {resourceVersion: opts.resourceVersion},
    columnDefinitions,
    rows,
  }
}

/** The EXTERNAL-IP column: load-balancer ingress and externalIPs, `<pending>` while a LoadBalancer has none. */
export function serviceExternalIP(svc: KubeObject): string {
  const spec: Spec = svc.spec ?? {}
  const externalIPs: string[] = spec.externalIPs ?? []
  if (spec.type === 'ExternalName') return spec.externalName ?? '<none>'
  if (spec.type === 'LoadBalancer') {
    const ingress = ((svc.status as Spec | undefined)?.loadBalancer?.ingress ?? []) as Spec[]
    const lb = ingress.map((i) => i.ip || i.hostname).filter(Boolean)
    const all = [...externalIPs, ...lb]
    return all.length > 0 ? all.join(',') : '<pending>'
  }
  return externalIPs.length > 0 ? externalIPs.join(',') : '<none>'
}

/** The PORT(S) column, e.g. `80:30080/TCP,53/UDP`. */
export function servicePorts(spec: Spec): string {
  const ports = (spec.ports ?? []) as Spec[]
  if (ports.length === 0) return '<none>'
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',')
}

function nodeRoles(labels: Record<string, string>): string {
  const roles = new Set<string>()
  for (const [key, value] of Object.entries(labels)) {
    if (key.startsWith('node-role.kubernetes.io/') && key.length > 'node-role.kubernetes.io/'.length)
      roles.add(key.slice('node-role.kubernetes.io/'.length))
    else if (key === 'kubernetes.io/role' && value) roles.add(value)
  }
  return roles.size > 0 ? [...roles].sort().join(',') : '<none>'
}

/** Ages as kubectl prints them (k8s.io/apimachinery/pkg/util/duration.HumanDuration): 45s, 3m20s, 5h, 2d3h, 400d, 3y20d. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s < -1) return '<invalid>'
  if (s < 0) return '0s'
  if (s < 120) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`
  if (m < 180) return `${m}m`
  const h = Math.floor(s / 3600)
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`
  if (h < 48) return `${h}h`
  if (h < 24 * 8) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`
  const y = Math.floor(h / (24 * 365))
  if (y < 8) return `${y}y${Math.floor((h % (24 * 365)) / 24)}d`
  return `${y}y`
}
