import {Command} from '@oclif/core'
import {createLogger} from '../../log.js'
import {clusterFlags} from '../flags.js'
import {serviceFlags} from './flags.js'

export default class ServiceUninstall extends Command {
  static override summary = 'Stop serve and remove the service `service install` installed'
  static override description = `Stops serve and removes what \`service install\` put in place, in either scope \
(user or system; sudo for a system one). Files it did not write are left alone. Exits 0 when nothing is installed.`
  static override examples = ['<%= config.bin %> service uninstall']
  static override flags = {root: serviceFlags.root, verbose: clusterFlags.verbose}

  async run(): Promise<void> {
    const {flags} = await this.parse(ServiceUninstall)
    const log = createLogger({verbosity: flags.verbose})
    const service = await import('../../service/apply.js')
    const {isPrivileged, spawnRunner} = await import('../../dnssetup/apply.js')
    service.refuseSudo()
    const removed = await service.uninstallService(service.serviceOs(), service.currentUser(), {
      runner: spawnRunner,
      privileged: isPrivileged(),
      ...(flags.root === undefined ? {} : {root: flags.root}),
      log: (line: string) => log.info(line),
    })
    if (removed.length === 0) log.info('nothing to uninstall: no service of kubectl expose-lb is installed')
    else log.info(`removed: serve no longer runs at ${removed.some((l) => l.scope === 'system') ? 'boot' : 'login'}`)
  }
}
