import {Command, Flags} from '@oclif/core'
import {stringify} from 'yaml'
import {detectLoadBalancers} from '../detect/detect.js'
import {createLogger} from '../log.js'
import {buildPlan} from '../plan/plan.js'
import {buildReport} from '../output/report.js'
import {formatHostTable, formatServiceTable, formatSummary} from '../output/table.js'
import {clusterFlags, domainFlag, ingressServiceFlag, planFlags} from './flags.js'

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
  ]
  static override flags = {
    ...clusterFlags,
    ...planFlags,
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
    const domain = await domainFlag(flags.domain)
    const {openCluster, readSnapshot} = await import('../kube/session.js')
    const api = openCluster({kubeconfig: flags.kubeconfig, context: flags.context})
    const snapshot = await readSnapshot(api, {namespace: flags.namespace, selector: flags.selector})
    const plan = buildPlan(snapshot, {
      domain,
      addressType: flags['address-type'],
      ingressService: ingressServiceFlag(flags['ingress-service']),
    })
    const detection = detectLoadBalancers(snapshot)
    const report = buildReport({context: api.context, server: api.server, plan, detection})

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
    if (report.services.length === 0) {
      const where = flags.namespace ? ` in namespace ${flags.namespace}` : ''
      const matching = flags.selector ? ` matching ${flags.selector}` : ''
      process.stderr.write(`No Services found${where}${matching}.\n`)
    }
    const log = createLogger({verbosity: flags.verbose})
    for (const w of report.warnings) log.warn(w)
    for (const s of report.services) for (const w of s.warnings) log.warn(`${s.namespace}/${s.name}: ${w}`)
    for (const h of report.hosts ?? []) for (const w of h.warnings) log.warn(`${h.host}: ${w}`)
  }
}
