import {Command, Flags, type Interfaces} from '@oclif/core'
import {stringify} from 'yaml'
import {ExposeLbError, firstLine} from '../errors.js'
import {readOneCluster, readSeveralClusters} from '../list/read.js'
import {CLUSTER_NAME_NEEDS_SEVERAL} from '../plan/clusters.js'
import {createLogger} from '../log.js'
import {escapeControls} from '../terminal.js'
import type {PlanOptions} from '../plan/types.js'
import {formatHostTable, formatServiceTable, formatSummary} from '../output/table.js'
import {clusterFlags, contextsFlags, domainFlag, ingressServiceFlag, pathsFlag, planFlags} from './flags.js'

export default class List extends Command {
  static override summary =
    'Show what each Service exposes, whether the cluster has a load balancer, and what serve maps'
  static override description = `Inspects Services in all namespaces (or only -n NAMESPACE) and prints, per Service, what it \
exposes (cluster-only, headless, external-name, node-port, lb-pending, lb-ready), the friendly names and node targets \
\`serve\` maps it to, which load-balancer implementation the cluster runs, and what to install if it has none.
Data goes to stdout; warnings go to stderr.`
  static override examples = [
    '<%= config.bin %> list',
    '<%= config.bin %> list -n media -o wide',
    '<%= config.bin %> --context homelab list -o json',
    '<%= config.bin %> list --context home --context kind-test',
  ]
  static override flags = {
    ...clusterFlags,
    ...contextsFlags,
    ...planFlags,
    ...pathsFlag,
    output: Flags.option({
      char: 'o',
      description: 'Output format',
      options: ['table', 'wide', 'json', 'yaml'] as const,
      default: 'table' as const,
    })(),
    'no-headers': Flags.boolean({description: 'Table output without the summary and column headers'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(List)
    // Every flag is checked before the first read.
    const plan: PlanOptions = {
      domain: await domainFlag(flags.domain),
      addressType: flags['address-type'],
      paths: flags.paths,
      ingressService: ingressServiceFlag(flags['ingress-service']),
    }
    const {kubeconfigContexts} = await import('../kube/session.js')
    const contexts = flags['all-contexts'] ? kubeconfigContexts({kubeconfig: flags.kubeconfig}) : (flags.context ?? [])
    if (contexts.length > 1) return this.several(contexts, flags, plan)
    if (flags['cluster-name']?.length) {
      throw new ExposeLbError('usage', CLUSTER_NAME_NEEDS_SEVERAL)
    }
    const report = await readOneCluster(flags, contexts[0], plan)

    if (flags.output === 'json') this.log(JSON.stringify(report, null, 2))
    else if (flags.output === 'yaml') this.log(stringify(report, {lineWidth: 0}).trimEnd())
    else {
      const headers = !flags['no-headers']
      if (headers) this.log(`${formatSummary(report)}\n`)
      if (report.services.length > 0) this.log(formatServiceTable(report, {wide: flags.output === 'wide', headers}))
      if (report.hosts?.length) {
        this.log(`${headers ? '\nHOSTS\n' : ''}${formatHostTable(report, {wide: flags.output === 'wide', headers})}`)
      }
    }
    this.noServices(report.services.length, flags)
    const log = createLogger({verbosity: flags.verbose})
    for (const w of report.warnings) log.warn(w)
    for (const s of report.services) for (const w of s.warnings) log.warn(`${s.namespace}/${s.name}: ${w}`)
    for (const h of report.hosts ?? []) for (const w of h.warnings) log.warn(`${h.host}: ${w}`)
  }

  /** Several clusters: each read on its own (one that fails never stops the others), one plan, one report. */
  private async several(contexts: string[], flags: ListFlags, options: PlanOptions): Promise<void> {
    const {report, results, failed} = await readSeveralClusters(flags, contexts, flags['cluster-name'] ?? [], options)

    if (flags.output === 'json') this.log(JSON.stringify(report, null, 2))
    else if (flags.output === 'yaml') this.log(stringify(report, {lineWidth: 0}).trimEnd())
    else {
      const headers = !flags['no-headers']
      if (headers) {
        for (const r of results) {
          const summary = 'report' in r ? formatSummary(r.report) : `CONTEXT: ${r.context}   ERROR: ${r.error}`
          this.log(`${escapeControls(`CLUSTER: ${r.label}`)}\n${summary}\n`)
        }
      }
      if (report.services.length > 0) this.log(formatServiceTable(report, {wide: flags.output === 'wide', headers}))
      if (report.hosts.length) {
        this.log(`${headers ? '\nHOSTS\n' : ''}${formatHostTable(report, {wide: flags.output === 'wide', headers})}`)
      }
    }
    this.noServices(report.services.length, flags)
    const log = createLogger({verbosity: flags.verbose})
    for (const c of report.clusters) for (const w of c.warnings) log.warn(`${c.name}: ${w}`)
    for (const w of report.warnings) log.warn(w)
    for (const s of report.services) for (const w of s.warnings) log.warn(`${s.cluster}/${s.namespace}/${s.name}: ${w}`)
    for (const r of failed.slice(1)) log.warn(`context "${r.context}": ${firstLine(r.error)}`)
    const first = failed[0]
    if (first) {
      const code = first.error instanceof ExposeLbError ? first.error.code : 'internal'
      throw new ExposeLbError(code, `context "${first.context}": ${firstLine(first.error)}`, undefined, {
        cause: first.error,
      })
    }
  }

  private noServices(count: number, flags: {namespace?: string; selector?: string}): void {
    if (count > 0) return
    const where = flags.namespace ? ` in namespace ${flags.namespace}` : ''
    const matching = flags.selector ? ` matching ${flags.selector}` : ''
    process.stderr.write(`No Services found${where}${matching}.\n`)
  }
}

type ListFlags = Interfaces.InferredFlags<typeof List.flags>
