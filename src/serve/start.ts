// `serve` as one call: the hosts file, the demo cluster, the watch and the runtime wired together, started, and
// stopped on a stop signal (STOP_SIGNALS). The command parses flags into ServeSettings and calls
// serveUntilSignal(); it alone ends the process. Heavy modules (client-node, the simulator) load here, lazily, so `--help` stays fast.
import type {Runner} from '../dnssetup/apply.js'
import type {Logger} from '../log.js'
import type {AddressType} from '../plan/types.js'
import type {AddressRange} from '../servemap/addresses.js'
import {routerAddressFor} from '../servemap/remote.js'

/** Everything serve needs, from flags: ports are final (the command applies the --demo defaults). */
export interface ServeSettings {
  domain: string
  addressType: AddressType
  listen: string
  /** LAN mode: the address DNS gives other machines (commands/flags.ts advertiseFlag). */
  advertise?: string
  dnsPort: number
  httpPort: number
  /** Per-service addresses, or undefined for --ip-range none. */
  range: AddressRange | undefined
  /**
   * macOS with privilege: give lo0 an alias for each per-service address while serve runs (lo-aliases.ts): true runs
   * ifconfig and records in /var/run; tests pass their own runner and record file.
   */
  loopbackAliases?: boolean | {runner: Runner; recordFile: string}
  kubeconfig?: string
  context?: string
  namespace?: string
  selector?: string
  /** Serve the built-in simulated homelab instead of a cluster. */
  demo: boolean
  /** Keep a block of the names in this hosts file (--hosts-file). */
  hostsFile?: string
  maxConnections: number
  idleTimeoutMs: number
  /** Per-service addresses answer 421 to a Host that is not their Service's (--no-host-check: false). */
  hostCheck: boolean
  log: Logger
  /** The start-up table (stdout). */
  print: (text: string) => void
}

/**
 * Signals that stop serve gracefully. Besides Ctrl-C and `kill`, SIGHUP (the terminal closed) and SIGQUIT (Ctrl-\)
 * would otherwise kill Node at once (signal(7): their default action ends the process), leaving the hosts-file block
 * and open connections behind.
 */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const

/** How long open connections may finish after a stop signal. */
export const STOP_GRACE_MS = 5000

/** Starts serve, runs until a stop signal (STOP_SIGNALS), stops gracefully, and returns the signal's name. */
export async function serveUntilSignal(settings: ServeSettings): Promise<string> {
  const {log} = settings
  const {HostsFile} = await import('./hosts-file.js')
  const hosts = settings.hostsFile ? new HostsFile(settings.hostsFile, {log: (line) => log.info(line)}) : undefined
  await hosts?.start() // fails fast when the file cannot be written, and clears a block a crash left behind
  process.on('exit', () => hosts?.removeSync())
  // Before anything binds: aliases a crashed serve recorded are removed first. Removed again at the end (an alias
  // outlives the process; after a crash the record tells the next start).
  const aliases = settings.loopbackAliases
    ? await startLoopbackAliases(settings.log, settings.loopbackAliases === true ? {} : settings.loopbackAliases)
    : undefined

  // The simulator (and its YAML parser) loads only for --demo.
  const demo = settings.demo ? await (await import('../sim/demo.js')).startDemo() : undefined
  const [{openCluster}, {ClusterWatch}, {ServeRuntime}] = await Promise.all([
    import('../kube/session.js'),
    import('../kube/watch.js'),
    import('./runtime.js'),
  ])
  const api = openCluster({
    kubeconfig: demo?.kubeconfig ?? settings.kubeconfig,
    context: demo ? undefined : settings.context,
  })
  const watch = new ClusterWatch({
    kc: api.kc,
    api,
    namespace: settings.namespace,
    selector: settings.selector,
    log: (line) => log.info(line),
    onChange: () => runtime.changed(),
  })
  const runtime = new ServeRuntime(watch, {
    plan: {domain: settings.domain, addressType: settings.addressType},
    listen: settings.listen,
    advertise: settings.advertise,
    dnsPort: settings.dnsPort,
    httpPort: settings.httpPort,
    range: settings.range,
    log,
    print: settings.print,
    maxConnections: settings.maxConnections,
    idleTimeoutMs: settings.idleTimeoutMs,
    hostCheck: settings.hostCheck,
    onApply:
      hosts || aliases
        ? async (build) => {
            // Runs before the listeners bind, so a new Service's address is on lo0 by then.
            await aliases?.update(build.map.listeners.map((l) => l.address))
            await hosts?.update(build.map.dns.hosts)
          }
        : undefined,
  })
  try {
    await runtime.start()
  } catch (error) {
    await demo?.close()
    await aliases?.close()
    throw error
  }
  // Listen for the stop signals before announcing "serving": whoever waits for that line (a supervisor, a test) may
  // signal at once, and a signal without a listener still has its default action and ends Node on the spot.
  const stopped = new Promise<string>((resolve) => {
    for (const name of STOP_SIGNALS) process.once(name, () => resolve(name))
  })
  const ports = runtime.ports()
  const dnsPorts =
    ports.dnsUdp === ports.dnsTcp ? `${ports.dnsUdp} (udp, tcp)` : `${ports.dnsUdp}/udp, ${ports.dnsTcp}/tcp`
  log.info(
    `serving ${settings.domain} for context "${api.context}": DNS on ${settings.listen}:${dnsPorts}, HTTP on ${settings.listen}:${ports.http}`,
  )
  if (demo) log.info(demoHints(settings.domain, routerAddressFor(settings.listen), ports.dnsUdp, ports.http))

  const signal = await stopped
  log.info(`${signal}: stopping; open connections get up to ${STOP_GRACE_MS / 1000} s`)
  await runtime.stop(STOP_GRACE_MS)
  await aliases?.close()
  await hosts?.remove()
  await demo?.close()
  return signal
}

/** lo0 aliases through the same runner dns-setup uses (serve runs as root here, so no sudo). */
async function startLoopbackAliases(log: Logger, options: {runner?: Runner; recordFile?: string}) {
  const [{LoopbackAliases}, {spawnRunner}] = await Promise.all([
    import('./lo-aliases.js'),
    import('../dnssetup/apply.js'),
  ])
  const aliases = new LoopbackAliases({runner: options.runner ?? spawnRunner, recordFile: options.recordFile, log})
  await aliases.start()
  return aliases
}

/** The lines `serve --demo` prints so a first-time user can try every kind of name at once. */
export function demoHints(domain: string, listen: string, dnsPort: number, httpPort: number): string {
  const port = httpPort === 80 ? '' : `:${httpPort}`
  const dig = `dig @${listen} -p ${dnsPort}`
  return [
    '',
    'Try it:',
    `  curl http://radarr.localhost${port}/                      # browsers resolve *.localhost to this machine`,
    `  curl http://homer.localhost${port}/`,
    `  ${dig} radarr.${domain} +short                 # the DNS responder`,
    `  ${dig} _mqtt._tcp.mosquitto.iot.${domain} SRV +short`,
    `  curl --resolve radarr.${domain}${port ? port : ':80'}:$(${dig} radarr.${domain} +short) http://radarr.${domain}${port}/`,
    `  printf 'hello\\n' | nc -w1 $(${dig} mosquitto.${domain} +short) 1883   # raw TCP on its own port`,
    `  dig @$(${dig} pihole-dns.${domain} +short) -p 53 anything.lan +short   # UDP on its own port`,
    `  open http://radarr.localhost${port}/ in a browser; stop a node to see failover in this log`,
  ].join('\n')
}
