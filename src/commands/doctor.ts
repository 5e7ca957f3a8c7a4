import {Command, Flags} from '@oclif/core'
import {EXIT, ExposeLbError} from '../errors.js'
import {clusterFlags, domainFlag, ipFlag, planFlags} from './flags.js'

export default class Doctor extends Command {
  static override summary = "Check that serve's names resolve through this OS and its node targets are reachable"
  static override description = `Runs these checks and prints, for each, ok/warn/FAIL/skip with what it found and \
how to fix a problem:
  cluster      the cluster can be read (same flags as list and serve)
  responder    serve's DNS responder (--dns-address:--dns-port) answers a mapped name
  os-resolver  the OS resolver gives the same address for that name (else: dns-setup --apply, or serve --hosts-file)
  hosts        the same for the Ingress and route hosts; names those not routed yet and the fix for each
  nodes        every node address serve sends traffic to accepts a TCP connection from here (1.5 s)
  dns-port     the DNS port is free for serve, or held by serve
  http-port    the HTTP port is free for serve, or held by serve
  service      serve is installed to run at login (service install) and runs (skip when not installed)
Exits 0 when no check fails (warnings included), 11 when one does (a cluster that cannot be read is a failed \
check: the port checks still run), 2 for a usage error.`
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --dns-port 5353 --http-port 8080',
    '<%= config.bin %> doctor -o json',
  ]
  static override flags = {
    ...clusterFlags,
    ...planFlags,
    'dns-address': Flags.string({
      description: "Address of serve's DNS responder and HTTP router (serve --listen)",
      default: '127.0.0.1',
    }),
    'dns-port': Flags.integer({description: "Port of serve's DNS responder", default: 53, min: 1, max: 65535}),
    'http-port': Flags.integer({description: "Port of serve's HTTP router", default: 80, min: 1, max: 65535}),
    output: Flags.option({
      char: 'o',
      description: 'Output format',
      options: ['text', 'json'] as const,
      default: 'text' as const,
    })(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Doctor)
    const domain = await domainFlag(flags.domain)
    const dnsAddress = ipFlag('dns-address', flags['dns-address'])

    const [{openCluster, readSnapshot}, {buildPlan}, {runChecks}, {buildDoctorReport, formatDoctorReport}] =
      await Promise.all([
        import('../kube/session.js'),
        import('../plan/plan.js'),
        import('../doctor/probes.js'),
        import('../doctor/report.js'),
      ])
    let cluster: import('../doctor/report.js').ClusterOutcome
    try {
      const api = openCluster({kubeconfig: flags.kubeconfig, context: flags.context})
      const snapshot = await readSnapshot(api, {namespace: flags.namespace, selector: flags.selector})
      cluster = {
        context: api.context,
        server: api.server,
        plan: buildPlan(snapshot, {domain, addressType: flags['address-type']}),
      }
    } catch (error) {
      // A cluster doctor cannot read is itself a finding; the port checks still run.
      if (!(error instanceof ExposeLbError)) throw error
      cluster = {error}
    }
    const options = {domain, dnsAddress, dnsPort: flags['dns-port'], httpPort: flags['http-port']}
    const report = buildDoctorReport(await runChecks(cluster, options), options)

    if (flags.output === 'json') this.log(JSON.stringify(report, null, 2))
    else this.log(formatDoctorReport(report))
    if (report.failed > 0) {
      process.stderr.write(`doctor: ${report.failed} check${report.failed === 1 ? '' : 's'} failed\n`)
      process.exitCode = EXIT.checkFailed
    }
  }
}
