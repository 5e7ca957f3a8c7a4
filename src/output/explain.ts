// `explain`'s view of one Service, as `kubectl describe` lays things out: labels and values in two columns, the
// pending diagnosis with its evidence indented under it. Pure: returns text.
import {escapeControls} from '../terminal.js'
import {withUntilThen} from '../detect/recommend.js'
import type {ExposureReport} from './report.js'

type ReportService = ExposureReport['services'][number]

/** The document `explain -o json|yaml` prints: one Service as `list -o json` has it, and where it came from. */
export interface ServiceExplanation {
  apiVersion: 'expose-lb/v1'
  kind: 'ServiceExplanation'
  context: string
  server: string
  domain: string
  loadBalancer: ExposureReport['loadBalancer']
  service: ReportService
}

/** Picks one Service out of a report; undefined when it is not there. */
export function explanationOf(report: ExposureReport, namespace: string, name: string): ServiceExplanation | undefined {
  const service = report.services.find((s) => s.namespace === namespace && s.name === name)
  if (service === undefined) return undefined
  const {context, server, domain, loadBalancer} = report
  return {apiVersion: 'expose-lb/v1', kind: 'ServiceExplanation', context, server, domain, loadBalancer, service}
}

const WIDTH = 16

function field(label: string, values: string[]): string[] {
  const [first = '<none>', ...rest] = values
  return [`${`${label}:`.padEnd(WIDTH)}${first}`, ...rest.map((v) => `${' '.repeat(WIDTH)}${v}`)]
}

/** The explanation as lines of text; control characters in cluster-supplied text are escaped. */
export function formatExplanation(e: ServiceExplanation): string {
  const s = e.service
  const lines = [
    ...field('Name', [s.name]),
    ...field('Namespace', [s.namespace]),
    ...field('Type', [s.type]),
    ...field('Exposure', [s.exposure]),
    ...field('Load balancer', s.loadBalancerIngress.length > 0 ? [s.loadBalancerIngress.join(', ')] : ['<none>']),
    ...field('Names', s.names),
    ...field(
      'Ports',
      s.ports.map((p) => {
        const port = `${p.name ? `${p.name} ` : ''}${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol} (${p.mode})`
        return p.targets.length > 0 ? `${port} -> ${p.targets.join(', ')}` : port
      }),
    ),
  ]
  if (s.pending !== undefined) {
    const p = s.pending
    lines.push(
      'Pending:',
      ...field('  Reason', [p.reason]),
      ...field('  Message', [p.message]),
      ...field('  Fix', [p.fix]),
      '  Evidence:',
      ...p.evidence.map((line) => `    ${line}`),
    )
    if (p.unavailable !== undefined) lines.push(...field('  Not read', p.unavailable))
  }
  const rec = e.loadBalancer.recommendation
  lines.push(...field('Recommendation', [`${rec.name}: ${withUntilThen(rec)}`]), ...field('Warnings', s.warnings))
  return lines.map(escapeControls).join('\n')
}
