import {resolve} from 'node:path'
import {Command, Flags} from '@oclif/core'
import {
  chooseResolver,
  planDnsSetup,
  renderHostRouting,
  renderPlan,
  RESOLVER_KINDS,
  RESOLVERS_BY_OS,
  shellQuote,
  TARGET_OSES,
  type ResolverKind,
} from '../dnssetup/plan.js'
import type {HostRouting} from '../dnssetup/hosts.js'
import {ExposeLbError, firstLine} from '../errors.js'
import {createLogger, type Logger} from '../log.js'
import {clusterFlags, domainFlag, ingressServiceFlag, ipFlag, planFlags} from './flags.js'

const SELF = 'kubectl expose-lb dns-setup'
const DEFAULT_DNS_ADDRESS = '127.0.0.1'
const DEFAULT_DNS_PORT = 53

export default class DnsSetup extends Command {
  static override summary = "Print (or apply) how to send only the DNS zone to serve's responder on this OS"
  static override description = `Prints, for this OS (or --os), the steps that send names under --domain, and only \
those, to serve's DNS responder: systemd-resolved (a dummy link with a routing domain) or NetworkManager on Linux, \
/etc/resolver/<domain> on macOS, an NRPT rule on Windows. Each command that needs root says so and why.
The cluster's Ingress and Gateway API route hosts outside --domain (as list shows them) are routed too, each with a \
routing domain of its own (a wildcard *.apps.example.com: apps.example.com), never their parent domain; hosts that \
cannot be routed that way are named, with what to do instead. Run it again when hosts are added: --apply then adds \
only what is new. --no-hosts routes only --domain.
--apply runs the steps on this machine (through sudo where needed) and records each one in --state-file; --undo \
reverts exactly what was recorded. Steps go to stdout; progress of --apply and --undo to stderr.`
  static override examples = [
    '<%= config.bin %> dns-setup',
    '<%= config.bin %> dns-setup --dns-port 5353 --apply',
    '<%= config.bin %> dns-setup --undo',
    '<%= config.bin %> dns-setup --os darwin',
  ]
  static override flags = {
    domain: planFlags.domain,
    'dns-address': Flags.string({
      description: "Address of serve's DNS responder (serve --listen)",
      default: DEFAULT_DNS_ADDRESS,
    }),
    'dns-port': Flags.integer({
      description: "Port of serve's DNS responder (serve --dns-port)",
      default: DEFAULT_DNS_PORT,
      min: 1,
      max: 65535,
    }),
    hosts: Flags.boolean({
      description: "Also route the cluster's Ingress and route hosts (--no-hosts: only --domain)",
      default: true,
      allowNo: true,
    }),
    kubeconfig: clusterFlags.kubeconfig,
    context: clusterFlags.context,
    'ingress-service': planFlags['ingress-service'],
    os: Flags.option({
      description: 'Print the steps for this OS [default: this one]',
      options: TARGET_OSES,
    })(),
    resolver: Flags.option({
      description:
        'Resolver to configure [default: linux: systemd-resolved if it runs, else NetworkManager; darwin: resolver-file; win32: nrpt]',
      options: RESOLVER_KINDS,
    })(),
    apply: Flags.boolean({description: 'Run the steps on this machine and record them'}),
    undo: Flags.boolean({description: 'Revert what --apply recorded'}),
    'state-file': Flags.string({
      description: 'Where --apply records its steps [default: ~/.config/kubectl-expose-lb/dns-setup.json]',
    }),
    // Tests: files the steps write (macOS /etc/resolver) land under this directory instead of /.
    root: Flags.string({hidden: true}),
    verbose: clusterFlags.verbose,
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(DnsSetup)
    const log = createLogger({verbosity: flags.verbose})
    const apply = await import('../dnssetup/apply.js')
    const defaultStateFile = apply.defaultStateFile()
    // Absolute, so that the hints naming it work from any directory.
    const stateFile = flags['state-file'] === undefined ? defaultStateFile : resolve(flags['state-file'])
    const stateFlag = stateFile === defaultStateFile ? '' : ` --state-file ${shellQuote(stateFile)}`
    const exec = {
      runner: apply.spawnRunner,
      privileged: apply.isPrivileged(),
      ...(flags.root === undefined ? {} : {root: flags.root}),
      log: (line: string) => log.info(line),
      undoCommand: `${SELF} --undo${stateFlag}`,
    }

    if (flags.apply && flags.undo) throw new ExposeLbError('usage', '--apply and --undo cannot be used together')
    if (flags.undo) {
      const result = await apply.undoSetup(stateFile, exec)
      if (!result) log.info(`nothing to undo: no dns-setup state at ${stateFile}`)
      else {
        const hosts = result.state.hosts?.length ? ` and ${result.state.hosts.join(', ')}` : ''
        log.info(
          `reverted ${result.undone} step${result.undone === 1 ? '' : 's'}: names under ${result.state.domain}${hosts} no longer go to serve's responder`,
        )
      }
      return
    }

    const domain = await domainFlag(flags.domain)
    const dnsAddress = ipFlag('dns-address', flags['dns-address'])
    const ingressService = ingressServiceFlag(flags['ingress-service'])
    const thisOs = apply.currentOs()
    const os = flags.os ?? thisOs
    if (!os)
      throw new ExposeLbError(
        'usage',
        `dns-setup has no steps for ${process.platform}; pass --os linux, darwin or win32 to print another OS's steps`,
      )
    if (flags.apply && os !== thisOs)
      throw new ExposeLbError(
        'usage',
        `--apply runs the steps on this machine (${process.platform}); --os ${os} can only print them (drop --apply)`,
      )

    let resolver: ResolverKind | undefined = flags.resolver
    if (resolver && !RESOLVERS_BY_OS[os].includes(resolver))
      throw new ExposeLbError(
        'usage',
        `--resolver ${resolver} does not exist on ${os}; use ${RESOLVERS_BY_OS[os].join(' or ')}`,
      )
    if (!resolver) {
      const choice = chooseResolver(os, os === thisOs && os === 'linux' ? apply.detectLinuxResolverFacts() : undefined)
      if ('none' in choice) {
        if (flags.apply) throw new apply.SetupFailedError(`nothing to apply: ${choice.none}`)
        this.log(`No split DNS here: ${choice.none}.`)
        return
      }
      resolver = choice.resolver
      if (choice.note) log.info(`note: ${choice.note}`)
    }

    const routing = flags.hosts ? await readHostRouting(flags, domain, ingressService, log) : undefined
    const plan = planDnsSetup({os, resolver, domain, dnsAddress, dnsPort: flags['dns-port'], hosts: routing?.routed})
    if (!flags.apply) {
      const same = [
        ...(domain === 'kube.internal' ? [] : [`--domain ${domain}`]),
        ...(dnsAddress === DEFAULT_DNS_ADDRESS ? [] : [`--dns-address ${dnsAddress}`]),
        ...(flags['dns-port'] === DEFAULT_DNS_PORT ? [] : [`--dns-port ${flags['dns-port']}`]),
        ...(flags.resolver ? [`--resolver ${flags.resolver}`] : []),
        ...(flags.hosts ? [] : ['--no-hosts']),
        ...(flags.kubeconfig === undefined ? [] : [`--kubeconfig ${shellQuote(flags.kubeconfig)}`]),
        ...(flags.context === undefined ? [] : [`--context ${shellQuote(flags.context)}`]),
        ...(ingressService === undefined ? [] : [`--ingress-service ${ingressService}`]),
      ]
      const applyCommand = [SELF, ...same, '--apply'].join(' ') + stateFlag
      this.log(renderPlan(plan, {apply: applyCommand, undo: exec.undoCommand}, routing))
      return
    }

    if (plan.blocker) throw new ExposeLbError('usage', `cannot apply: ${plan.blocker}`)
    const sudoSteps = plan.steps.filter((s) => s.sudo).length
    if (sudoSteps > 0 && !exec.privileged)
      log.info(
        `${sudoSteps} of ${plan.steps.length} steps run through sudo, which may ask for your password: they change system DNS settings`,
      )
    const ran = await apply.applySetup(plan, stateFile, exec)
    const portFlag = flags['dns-port'] === DEFAULT_DNS_PORT ? '' : ` --dns-port ${flags['dns-port']}`
    const recorded = await apply.readState(stateFile)
    const hosts = recorded?.hosts?.length ? ` and ${recorded.hosts.join(', ')}` : ''
    const check = `check with \`kubectl expose-lb doctor${portFlag}\` while serve runs; undo with \`${exec.undoCommand}\``
    if (ran === 0)
      log.info(
        `nothing to do: names under ${domain}${hosts} already go to serve's responder (recorded in ${stateFile}); ${check}`,
      )
    else
      log.info(`done: names under ${domain}${hosts} now go to serve's responder (recorded in ${stateFile}); ${check}`)
    for (const line of routing ? renderHostRouting(routing).filter((l) => l.startsWith('not routed yet')) : [])
      log.warn(line)
  }
}

/**
 * The cluster's Ingress and route hosts as dns-setup routes them, read as `list` reads them. A cluster that cannot be
 * read is a warning, not an error: the zone is set up all the same, and a later run adds the hosts.
 */
async function readHostRouting(
  flags: {kubeconfig?: string; context?: string},
  domain: string,
  ingressService: string | undefined,
  log: Logger,
): Promise<HostRouting | undefined> {
  const [{openCluster, readSnapshot}, {buildPlan}, {planHostRouting}] = await Promise.all([
    import('../kube/session.js'),
    import('../plan/plan.js'),
    import('../dnssetup/hosts.js'),
  ])
  try {
    const api = openCluster({kubeconfig: flags.kubeconfig, context: flags.context})
    const snapshot = await readSnapshot(api, {})
    const plan = buildPlan(snapshot, {domain, addressType: 'InternalIP', ingressService})
    return planHostRouting(plan.hosts ?? [], domain)
  } catch (error) {
    if (!(error instanceof ExposeLbError)) throw error
    log.warn(
      `could not read the cluster's Ingress and route hosts (${firstLine(error)}): routing only ${domain}; run dns-setup again when the cluster can be read, or pass --no-hosts`,
    )
    return undefined
  }
}
