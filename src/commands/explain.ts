import {Args, Command, Flags} from '@oclif/core'
import {stringify} from 'yaml'
import {detectLoadBalancers} from '../detect/detect.js'
import {withPendingCounts} from '../detect/recommend.js'
import {ExposeLbError} from '../errors.js'
import {createLogger} from '../log.js'
import {explanationOf, formatExplanation} from '../output/explain.js'
import {buildReport} from '../output/report.js'
import {buildPlan} from '../plan/plan.js'
import {clusterFlags, domainFlag, planFlags} from './flags.js'

const {kubeconfig, context, namespace, verbose} = clusterFlags

export default class Explain extends Command {
  static override summary = 'Explain one Service: its exposure, names and targets, and why it is pending'
  static override description = `Prints what \`list\` knows about one Service, laid out like \`kubectl describe\`: its \
exposure, the names and node targets \`serve\` maps it to, and for a LoadBalancer Service without an address (or with \
one nobody announces) the reason code, a one-sentence message, the fix, and the evidence quoted from the cluster \
(Events, conditions, annotations, pods and load-balancer objects).
Data goes to stdout; warnings go to stderr.`
  static override examples = [
    '<%= config.bin %> explain traefik -n kube-system',
    '<%= config.bin %> explain pihole-dns -n dns -o json',
  ]
  static override args = {
    service: Args.string({description: 'The Service name', required: true}),
  }
  static override flags = {
    kubeconfig,
    context,
    namespace: {...namespace, description: "The Service's namespace (default: the context's namespace, else default)"},
    verbose,
    ...planFlags,
    output: Flags.option({
      char: 'o',
      description: 'Output format',
      options: ['text', 'json', 'yaml'] as const,
      default: 'text' as const,
    })(),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Explain)
    const domain = await domainFlag(flags.domain)
    const {openCluster, readSnapshot, diagnosePending} = await import('../kube/session.js')
    const api = openCluster({kubeconfig: flags.kubeconfig, context: flags.context})
    const ns = flags.namespace ?? api.kc.getContextObject(api.context)?.namespace ?? 'default'
    const snapshot = await readSnapshot(api, {namespace: ns})
    const plan = buildPlan(snapshot, {domain, addressType: flags['address-type']})
    const found = detectLoadBalancers(snapshot)
    const pending = await diagnosePending(api, snapshot, found, {namespace: ns})
    const detection = withPendingCounts(found, {...snapshot, pending})
    const report = buildReport({context: api.context, server: api.server, plan, detection, pending})
    const explanation = explanationOf(report, ns, args.service)
    if (explanation === undefined) {
      throw new ExposeLbError(
        'usage',
        `service "${args.service}" not found in namespace "${ns}": see the Services there with \`kubectl expose-lb list -n ${ns}\``,
      )
    }
    if (flags.output === 'json') this.log(JSON.stringify(explanation, null, 2))
    else if (flags.output === 'yaml') this.log(stringify(explanation, {lineWidth: 0}).trimEnd())
    else this.log(formatExplanation(explanation))
    const log = createLogger({verbosity: flags.verbose})
    for (const w of detection.warnings) log.warn(w)
  }
}
