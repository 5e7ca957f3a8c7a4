import {Command, Flags} from '@oclif/core'
import {isAbsolute, resolve} from 'node:path'
import {isSea} from 'node:sea'
import {ExposeLbError} from '../../errors.js'
import {createLogger} from '../../log.js'
import {CLUSTER_NAME_NEEDS_SEVERAL, clusterLabels} from '../../plan/clusters.js'
import {startFlags} from '../../serve/heap-growth.js'
import {DEFAULT_HOSTS_FILE} from '../../serve/hosts-file.js'
import Serve, {checkServeFlags, DEFAULT_DNS_PORT, DEFAULT_HTTP_PORT} from '../serve.js'
import {serviceFlags} from './flags.js'

/** serve's flags, less --demo: a service runs against the cluster. */
const {demo: _demo, ...serveFlags} = Serve.flags

export default class ServiceInstall extends Command {
  static override summary = 'Run serve at login, restarted when it fails (systemd unit, launchd job, scheduled task)'
  static override description = `Installs \`kubectl expose-lb serve\` with the given flags as a service of this \
machine's service manager and starts it: a systemd user unit on Linux, a LaunchAgent on macOS, a scheduled task \
at logon on Windows. It runs this Node.js and this plugin by their absolute paths, with the kubeconfig made \
explicit (--kubeconfig, else $KUBECONFIG, else ~/.kube/config) and --context if given.
When serve's ports need privilege (the defaults, DNS 53 and HTTP 80, are below 1024), Linux gets a system unit \
instead, installed with sudo, that runs serve as you with only the capability to bind low ports; macOS a \
LaunchDaemon, which runs it as root. Ports such as --dns-port 5353 --http-port 8080 need neither.
Running it again replaces the service. --dry-run prints the files and commands instead.`
  static override examples = [
    '<%= config.bin %> service install --dns-port 5353 --http-port 8080 --context homelab',
    '<%= config.bin %> service install',
    '<%= config.bin %> service install --dry-run',
  ]
  static override flags = {
    ...serveFlags,
    'dns-port': Flags.integer({
      description: `DNS port, UDP and TCP [default: ${DEFAULT_DNS_PORT}, which needs privilege: see DESCRIPTION]`,
      min: 0,
      max: 65535,
    }),
    'http-port': Flags.integer({
      description: `HTTP port [default: ${DEFAULT_HTTP_PORT}, which needs privilege: see DESCRIPTION]`,
      min: 0,
      max: 65535,
    }),
    'dry-run': Flags.boolean({description: 'Print the files and commands instead of running them'}),
    root: serviceFlags.root,
  }

  async run(): Promise<void> {
    const {flags, metadata} = await this.parse(ServiceInstall)
    const log = createLogger({verbosity: flags.verbose})
    // Checked as a privileged serve would: on macOS a LaunchDaemon runs serve as root, and serve itself reports an
    // --ip-range it cannot alias when it starts (in the service's log).
    const {domain} = await checkServeFlags(flags, process.platform, true)
    const service = await import('../../service/apply.js')
    service.refuseSudo()
    const root = process.getuid?.() === 0
    if (flags['hosts-file'] === DEFAULT_HOSTS_FILE && !root)
      throw new ExposeLbError(
        'usage',
        `--hosts-file ${DEFAULT_HOSTS_FILE} needs root, and the service runs serve as you: send the zone to serve with \`kubectl expose-lb dns-setup --apply\` instead`,
      )

    const os = service.serviceOs()
    const user = service.currentUser()
    const kube = service.explicitKubeconfig(flags.kubeconfig, process.env, user.home)
    // A kubeconfig or context serve cannot use fails here, not in the service's log after the next login.
    const {loadKubeConfig} = await import('../../kube/kubeconfig.js')
    for (const context of flags.context ?? [undefined]) {
      loadKubeConfig({
        kubeconfig: kube.args.length > 0 ? kube.files[0] : undefined,
        context,
        env: {...process.env, KUBECONFIG: kube.environment[0]?.[1]},
      })
    }

    // Several contexts become cluster labels in every name: two that collide, or a bad --cluster-name, stop serve at
    // start, so they stop the install here (with --all-contexts the contexts are read when serve starts).
    const contexts = flags.context ?? []
    if (flags['cluster-name']?.length && contexts.length <= 1 && !flags['all-contexts']) {
      throw new ExposeLbError('usage', CLUSTER_NAME_NEEDS_SEVERAL)
    }
    if (contexts.length > 1) {
      const labelled = clusterLabels(contexts, flags['cluster-name'] ?? [])
      if ('error' in labelled) throw new ExposeLbError('usage', labelled.error)
    }

    const serveArgs = [...kube.args, ...contexts.map((c) => `--context=${c}`)]
    for (const name of Object.keys(serveFlags) as Array<keyof typeof serveFlags>) {
      const value = flags[name]
      if (name === 'kubeconfig' || name === 'context' || value === undefined) continue
      if (metadata.flags[name]?.setFromDefault) continue
      if (Array.isArray(value)) serveArgs.push(...value.map((v) => `--${name}=${v}`))
      else if (value === true) serveArgs.push(`--${name}`)
      // A flag on by default that the user turned off (--no-host-check) must reach the service too.
      else if (value === false) serveArgs.push(`--no-${name}`)
      else if (name === 'domain') serveArgs.push(`--domain=${domain}`)
      else if (name === 'hosts-file') serveArgs.push(`--hosts-file=${resolve(String(value))}`)
      else serveArgs.push(`--${name}=${value}`)
    }

    const {chooseScope, planService, renderServicePlan} = await import('../../service/plan.js')
    const {isPrivileged, spawnRunner} = await import('../../dnssetup/apply.js')
    const exec = {
      runner: spawnRunner,
      privileged: isPrivileged(),
      ...(flags.root === undefined ? {} : {root: flags.root}),
      log: (line: string) => log.info(line),
    }
    // The executable as kubectl ran it: krew's link survives an upgrade of the plugin, the versioned path would not.
    // The single executable is Node and the plugin in one file (src/sea.ts); kubectl starts it by its full path,
    // which process.argv0 keeps (execPath is the link's target).
    const single = isSea()
    const node = single && isAbsolute(process.argv0) ? process.argv0 : process.execPath
    const script = single ? undefined : resolve(process.argv[1] ?? '')
    const binding = {
      listen: flags.listen,
      dnsPort: flags['dns-port'] ?? DEFAULT_DNS_PORT,
      httpPort: flags['http-port'] ?? DEFAULT_HTTP_PORT,
    }
    const choice = chooseScope(os, binding, await service.privilegeFacts(os, node, exec), node)
    const plan = planService({
      os,
      ...choice,
      user,
      node,
      script,
      nodeOptions: startFlags([], undefined),
      serveArgs,
      environment: [
        // Credential plugins a kubeconfig names (exec) are looked up on PATH, which a unit or agent does not
        // inherit from the shell; a Windows task gets the user's own environment.
        ...(os !== 'win32' && process.env.PATH ? ([['PATH', process.env.PATH]] as Array<[string, string]>) : []),
        ...kube.environment,
      ],
    })
    if ('problem' in plan) throw new ExposeLbError('usage', plan.problem)
    if (flags['dry-run']) {
      this.log(renderServicePlan(plan))
      return
    }

    service.requireSystemd(os)
    log.info(`installing ${plan.reason}`)
    const {replaced} = await service.installService(plan, user, exec)
    for (const note of plan.notes) log.info(`note: ${note}`)
    log.info(
      `done: serve ${replaced ? 'was replaced and ' : ''}runs from the ${plan.location.kind} ${plan.location.definition}; check it with \`kubectl expose-lb service status\`, read its logs with \`${plan.location.logs}\`, remove it with \`kubectl expose-lb service uninstall\``,
    )
  }
}
