// kubectl-style tables for `list`. Pure: returns text.
import {escapeControls} from '../terminal.js'
import type {ExposureReport} from './report.js'

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
    `RECOMMENDATION: ${rec.name}: ${rec.reason}`,
  ]
    .map(escapeControls)
    .join('\n')
}

/**
 * The Services table, `wide` adding every name, the port modes and every target; a CLUSTER column first when the
 * Services come from several clusters.
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
  ])
  return formatColumns(options.headers ? [header, ...rows] : rows)
}
