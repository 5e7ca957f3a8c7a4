// kubectl-style tables for `list`. Pure: returns text.
import {escapeControls} from '../terminal.js'
import {withUntilThen} from '../detect/recommend.js'
import type {ExposureReport, ReportHost} from './report.js'

type ReportService = ExposureReport['services'][number]

/** Left-aligned columns separated by three spaces, as kubectl prints them; control characters escaped. */
export function formatColumns(cells: string[][]): string {
  const rows = cells.map((row) => row.map(escapeControls))
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('   '))
    .join('\n')
}

const NONE = '<none>'

function names(s: ReportService, wide: boolean): string {
  if (s.names.length === 0) return NONE
  if (wide) return s.names.join(',')
  // The shortest name is the one people type; say how many more there are.
  const [shortest] = [...s.names].sort((a, b) => a.length - b.length)
  return s.names.length > 1 ? `${shortest} (+${s.names.length - 1})` : (shortest ?? NONE)
}

function ports(s: ReportService, wide: boolean): string {
  if (s.ports.length === 0) return NONE
  return s.ports
    .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}${wide ? `(${p.mode})` : ''}`)
    .join(',')
}

function targets(s: ReportService, wide: boolean): string {
  if (s.exposure === 'lb-ready') return `lb ${s.loadBalancerIngress.join(',')}`
  const all = [...new Set(s.ports.flatMap((p) => p.targets))]
  if (all.length === 0 && s.ports.some((p) => p.path === 'api-server')) {
    // Through the API server: the endpoint Pods, by name in -o wide.
    const pods = [...new Set(s.ports.flatMap((p) => (p.path === 'api-server' ? (p.endpoints ?? []) : [])))]
    const names = [...new Set(pods.map((e) => e.pod))]
    return wide
      ? `via API server: ${names.join(',') || 'no ready Pods'}`
      : `via API server (${names.length} Pod${names.length === 1 ? '' : 's'})`
  }
  if (all.length === 0) return NONE
  if (wide) return all.join(',')
  const hosts = [...new Set(all.map((t) => t.replace(/:\d+$/, '')))]
  return hosts.length > 3 ? `${hosts.slice(0, 2).join(',')},… (+${hosts.length - 2})` : hosts.join(',')
}

/** The summary above the table: context, nodes, detected load balancer, recommendation. */
export function formatSummary(report: ExposureReport): string {
  const ready = report.nodes.filter((n) => n.ready).length
  const detected = report.loadBalancer.detected.map((d) => `${d.name} (${d.evidence.join('; ')})`).join(', ')
  const rec = report.loadBalancer.recommendation
  return [
    `CONTEXT: ${report.context} (${report.server})   NODES: ${report.nodes.length} (${ready} ready)`,
    `LOAD BALANCER: ${detected || 'none detected'}`,
    `RECOMMENDATION: ${rec.name}: ${withUntilThen(rec)}`,
    ...pendingSummary(report),
  ]
    .map(escapeControls)
    .join('\n')
}

/**
 * The Services table, `wide` adding every name, the port modes, every target and why a pending Service is
 * pending; a CLUSTER column first when the Services come from several clusters.
 */
export function formatServiceTable(
  report: Pick<ExposureReport, 'services'>,
  options: {wide: boolean; headers: boolean},
): string {
  const clusters = report.services.some((s) => s.cluster !== undefined)
  const header = [
    ...(clusters ? ['CLUSTER'] : []),
    'NAMESPACE',
    'NAME',
    'TYPE',
    'EXPOSURE',
    'NAMES',
    'PORTS',
    'TARGETS',
    ...(options.wide ? ['WHY'] : []),
  ]
  const rows = report.services.map((s) => [
    ...(clusters ? [s.cluster ?? ''] : []),
    s.namespace,
    s.name,
    s.type,
    s.exposure,
    names(s, options.wide),
    ports(s, options.wide),
    targets(s, options.wide),
    ...(options.wide ? [s.pending ? `${s.pending.reason}: ${s.pending.message}` : NONE] : []),
  ])
  return formatColumns(options.headers ? [header, ...rows] : rows)
}

/**
 * The HOSTS table: each Ingress or route host, where it comes from, TLS, the receiving Service and its targets; a
 * CLUSTER column first when the hosts come from several clusters.
 */
export function formatHostTable(
  report: {hosts?: Array<ReportHost & {cluster?: string}>},
  options: {wide: boolean; headers: boolean},
): string {
  const clusters = (report.hosts ?? []).some((h) => h.cluster !== undefined)
  const header = [...(clusters ? ['CLUSTER'] : []), 'HOST', 'SOURCE', 'TLS', 'SERVICE', 'EXPOSURE', 'TARGETS']
  const rows = (report.hosts ?? []).map((h) => {
    const all = h.targets
    const shown =
      options.wide || all.length <= 3 ? all.join(',') : `${all.slice(0, 2).join(',')},… (+${all.length - 2})`
    return [
      ...(clusters ? [h.cluster ?? ''] : []),
      h.host,
      `${h.source.kind}/${h.source.namespace}/${h.source.name}`,
      h.tls ? 'yes' : 'no',
      h.service ? `${h.service.namespace}/${h.service.name}` : NONE,
      h.exposure ?? '-',
      shown || NONE,
    ]
  })
  return formatColumns(options.headers ? [header, ...rows] : rows)
}

/**
 * Under the recommendation: how many LoadBalancer Services are pending, and on the next line the commonest reason
 * with one Service's message. Nothing when none is pending.
 */
function pendingSummary(report: ExposureReport): string[] {
  const balanced = report.services.filter((s) => s.type === 'LoadBalancer')
  const pending = balanced.filter((s) => s.exposure === 'lb-pending')
  if (pending.length === 0) return []
  const lines = [`PENDING: ${pending.length} of ${balanced.length} LoadBalancer Services`]
  const byReason = new Map<string, ReportService[]>()
  for (const s of pending) {
    if (s.pending === undefined) continue
    byReason.set(s.pending.reason, [...(byReason.get(s.pending.reason) ?? []), s])
  }
  const [reason, services = []] = [...byReason].sort((a, b) => b[1].length - a[1].length)[0] ?? []
  const first = services[0]
  if (reason === undefined || first?.pending === undefined) return lines
  const count = services.length === pending.length ? '' : ` (${services.length} of them)`
  const more = services.length > 1 ? ` and ${services.length - 1} more` : ''
  lines.push(`  WHY: ${reason}${count}: ${first.namespace}/${first.name}${more}: ${first.pending.message}`)
  return lines
}
