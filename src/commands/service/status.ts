import {Command} from '@oclif/core'
import {serviceFlags} from './flags.js'

export default class ServiceStatus extends Command {
  static override summary = 'Say whether serve is installed as a service and whether it runs'
  static override description = `Prints whether \`service install\` installed serve (and where), whether the \
service manager runs it (systemctl is-active, launchctl print, Get-ScheduledTask), and how to read its logs.`
  static override examples = ['<%= config.bin %> service status']
  static override flags = {root: serviceFlags.root}

  async run(): Promise<void> {
    const {flags} = await this.parse(ServiceStatus)
    const [service, {formatStatus}, {spawnRunner}] = await Promise.all([
      import('../../service/apply.js'),
      import('../../service/plan.js'),
      import('../../dnssetup/apply.js'),
    ])
    const status = await service.serviceStatus(service.serviceOs(), service.currentUser(), {
      runner: spawnRunner,
      ...(flags.root === undefined ? {} : {root: flags.root}),
    })
    this.log(formatStatus(status))
  }
}
