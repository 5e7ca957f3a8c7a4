import {Command, Flags} from '@oclif/core'
import {clusterFlags, planFlags} from './flags.js'

export default class List extends Command {
  static override summary = 'Show what each Service exposes, whether the cluster has a load balancer, and what serve maps'
  static override description = `Inspects Services in all namespaces (or only -n NAMESPACE) and prints, per Service, what it \
exposes (cluster-only, node-port, lb-pending, lb-ready, …), the friendly names and node targets \`serve\` maps it to, \
which load-balancer implementation the cluster runs and what to install if it has none.`
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
    await this.parse(List)
  }
}
