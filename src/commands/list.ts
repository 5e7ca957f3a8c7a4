import {Command, Flags, type Interfaces} from '@oclif/core'
import type {ApiClient} from '../kube/client.js'
import {stringify} from 'yaml'
import {detectLoadBalancers} from '../detect/detect.js'
import {withPendingCounts} from '../detect/recommend.js'
import {ExposeLbError, firstLine} from '../errors.js'
import {createLogger} from '../log.js'
import {clusterLabels, mergeClusterPlans} from '../plan/clusters.js'
import {combineReports, type ClusterResult} from '../output/clusters.js'
import {escapeControls} from '../terminal.js'
import {buildPlan} from '../plan/plan.js'
import type {PlanOptions} from '../plan/types.js'
import {buildReport} from '../output/report.js'
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
    const {openCluster, kubeconfigContexts} = await import('../kube/session.js')
    const contexts = flags['all-contexts'] ? kubeconfigContexts({kubeconfig: flags.kubeconfig}) : (flags.context ?? [])
    if (contexts.length > 1) return this.several(contexts, flags, plan)
    if (flags['cluster-name']?.length) {
      throw new ExposeLbError(
        'usage',
        '--cluster-name applies to several contexts: add --context twice or more, or --all-contexts',
      )
    }
    const api = openCluster({kubeconfig: flags.kubeconfig, context: contexts[0]})
    const read = await readCluster(api, flags, plan)
    const report = buildReport({context: api.context, server: api.server, ...read})

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
    const labelled = clusterLabels(contexts, flags['cluster-name'] ?? [])
    if ('error' in labelled) throw new ExposeLbError('usage', labelled.error)
    const {openCluster} = await import('../kube/session.js')
    const reads = await Promise.all(
      contexts.map(async (context) => {
        const label = labelled.labels.get(context) ?? context
        try {
          const api = openCluster({kubeconfig: flags.kubeconfig, context})
          return {label, context, api, read: await readCluster(api, flags, options)}
        } catch (error) {
          return {label, context, error}
        }
      }),
    )
    const merged = mergeClusterPlans(
      reads.flatMap((r) => (r.read ? [{label: r.label, plan: r.read.plan}] : [])),
      options.domain,
    )
    const results: ClusterResult[] = reads.map((r) => {
      if (!r.read || !r.api) return {label: r.label, context: r.context, server: '', error: firstLine(r.error)}
      const plan = {
        ...r.read.plan,
        services: merged.services.filter((s) => s.cluster === r.label),
        hosts: merged.hosts?.filter((h) => h.cluster === r.label),
      }
      return {label: r.label, report: buildReport({context: r.api.context, server: r.api.server, ...r.read, plan})}
    })
    const report = combineReports(options.domain, results, merged.warnings)

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
    const failed = reads.filter((r) => !r.read)
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

/** One cluster read for the report: its objects planned, its load balancer detected, its pending Services diagnosed. */
async function readCluster(api: ApiClient, flags: ListFlags, options: PlanOptions) {
  const {readSnapshot, diagnosePending} = await import('../kube/session.js')
  const snapshot = await readSnapshot(api, {namespace: flags.namespace, selector: flags.selector})
  const plan = buildPlan(snapshot, options)
  const found = detectLoadBalancers(snapshot)
  const pending = await diagnosePending(api, snapshot, found, {namespace: flags.namespace})
  return {plan, detection: withPendingCounts(found, {...snapshot, pending}), pending}
}
