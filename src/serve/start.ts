// `serve` as one call: the hosts file, the demo cluster, the watch and the runtime wired together, started, and
// stopped on a stop signal (STOP_SIGNALS). The command parses flags into ServeSettings and calls
// serveUntilSignal(); it alone ends the process. Heavy modules (client-node, the simulator) load here, lazily, so `--help` stays fast.
import type {Runner} from '../dnssetup/apply.js'
import {ExposeLbError, firstLine} from '../errors.js'
import type {Logger} from '../log.js'
import type {AddressType, PathsMode} from '../plan/types.js'
import {rangeText, type AddressRange} from '../servemap/addresses.js'
import {routerAddressFor} from '../servemap/remote.js'
import {CLUSTER_NAME_NEEDS_SEVERAL, clusterLabels} from '../plan/clusters.js'
import {HEAP_GROWING_PERCENT, limitHeapGrowth, START_HEAP_GROWING_PERCENT} from './heap-growth.js'
import {instanceDir, registerInstance, type InstanceRecord, type Registration} from './instance.js'
import type {LoopbackAliases} from './lo-aliases.js'
import type {ApiClient} from '../kube/client.js'
import type {TunnelDial} from '../proxy/tunnels.js'
import type {SnapshotSource} from './runtime.js'

/** Everything serve needs, from flags: ports are final (the command applies the --demo defaults). */
export interface ServeSettings {
  domain: string
  addressType: AddressType
  /** serve --paths (default auto). */
  paths?: PathsMode
  listen: string
  /** LAN mode: the address DNS gives other machines (commands/flags.ts advertiseFlag). */
  advertise?: string
  dnsPort: number
  httpPort: number
  /** The SNI listener's port (--https-port). */
  httpsPort?: number
  /** --https-port was given: a failed bind is an error rather than a warning. */
  httpsPortExplicit?: boolean
  /** --ingress-service: the Service that receives every Ingress host. */
  ingressService?: string
  /** Per-service addresses, or undefined for --ip-range none. */
  range: AddressRange | undefined
  /**
   * macOS with privilege: give lo0 an alias for each per-service address while serve runs (lo-aliases.ts): true runs
   * ifconfig and records in /var/run; tests pass their own runner and record file.
   */
  loopbackAliases?: boolean | {runner: Runner; recordFile: string}
  kubeconfig?: string
  /** Contexts to serve: none means the current one; several are served as one map (src/serve/clusters.ts). */
  contexts: string[]
  /** Every context of the kubeconfig (--all-contexts). */
  allContexts?: boolean
  /** --cluster-name CONTEXT=LABEL for several contexts. */
  clusterNames?: string[]
  namespace?: string
  selector?: string
  /** Serve the built-in simulated homelab instead of a cluster. */
  demo: boolean
  /** With demo: the nodes at `<prefix>1..3` instead of 127.0.10.x (tests that run two demos at once). */
  demoNodes?: string
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
  limitHeapGrowth(START_HEAP_GROWING_PERCENT)
  log.debug(`node ${process.version}, options: ${process.execArgv.join(' ') || 'none'}`)
  // The simulator (and its YAML parser) loads only for --demo.
  const demo = settings.demo
    ? await (await import('../sim/demo.js')).startDemo({nodePrefix: settings.demoNodes})
    : undefined
  const [
    {openCluster, kubeconfigContexts},
    {ClusterWatch},
    {ServeRuntime},
    {HostsFile},
    {ClusterSet},
    {openPortForward},
  ] = await Promise.all([
    import('../kube/session.js'),
    import('../kube/watch.js'),
    import('./runtime.js'),
    import('./hosts-file.js'),
    import('./clusters.js'),
    import('../kube/port-forward.js'),
  ])
  const selection = {namespace: settings.namespace, selector: settings.selector}
  let source: SnapshotSource
  /** For the "serving" line, and the instance record. */
  let served: string
  let contextNames: string
  /** Streams to Pods go through the API server of the Pod's own cluster. */
  let tunnelDial: TunnelDial
  let hosts: InstanceType<typeof HostsFile> | undefined
  let aliases: LoopbackAliases | undefined
  let instance: Registration | undefined
  // The watches tell the runtime (made below, before any watch starts) of changes.
  const onChange = () => runtime.changed()
  try {
    const contexts = settings.allContexts
      ? kubeconfigContexts({kubeconfig: settings.kubeconfig})
      : demo
        ? []
        : settings.contexts
    if (contexts.length > 1) {
      const labelled = clusterLabels(contexts, settings.clusterNames ?? [])
      if ('error' in labelled) throw new ExposeLbError('usage', labelled.error)
      // Named contexts are checked now: a name that is not in the kubeconfig is a mistake to fix, not to retry. With
      // --all-contexts the names come from the kubeconfig itself, and one that cannot be opened (a certificate file
      // that is missing) is left to ClusterSet, which names it, serves the others and tries it again, as `list
      // --all-contexts` names it and lists the others. Each context's one client carries its watch and its streams to Pods.
      const clients = new Map<string, ApiClient>()
      const clientOf = (context: string): ApiClient => {
        let api = clients.get(context)
        if (!api) clients.set(context, (api = openCluster({kubeconfig: settings.kubeconfig, context})))
        return api
      }
      for (const context of contexts) {
        try {
          clientOf(context)
        } catch (error) {
          if (!settings.allContexts) throw error
        }
      }
      source = new ClusterSet(
        contexts.map((context) => ({
          context,
          label: labelled.labels.get(context) ?? context,
          watch: () => {
            const api = clientOf(context)
            const clusterLog = (line: string) => log.info(`context "${context}": ${line}`)
            return new ClusterWatch({kc: api.kc, api, ...selection, log: clusterLog, onChange})
          },
        })),
        {log, onChange},
      )
      served = `contexts ${contexts.map((c) => `"${c}" as ${labelled.labels.get(c)}`).join(', ')}`
      contextNames = contexts.join(', ')
      const contextByLabel = new Map(contexts.map((c) => [labelled.labels.get(c) ?? c, c]))
      tunnelDial = (target) => {
        const context = target.cluster === undefined ? undefined : contextByLabel.get(target.cluster)
        if (context === undefined) return Promise.reject(new Error(`no cluster "${target.cluster}" is served`))
        try {
          return openPortForward(clientOf(context), target)
        } catch (error) {
          return Promise.reject(error as Error)
        }
      }
    } else {
      if (settings.clusterNames?.length) {
        throw new ExposeLbError('usage', CLUSTER_NAME_NEEDS_SEVERAL)
      }
      const api = openCluster({
        kubeconfig: demo?.kubeconfig ?? settings.kubeconfig,
        context: demo ? undefined : contexts[0],
      })
      source = new ClusterWatch({kc: api.kc, api, ...selection, log: (line) => log.info(line), onChange})
      served = `context "${api.context}"`
      contextNames = demo ? 'demo' : api.context
      tunnelDial = (target) => openPortForward(api, target)
    }
    // Before anything is bound or written: a second serve on this machine refuses here, naming the first.
    instance = register(settings, contextNames)
    // Before anything binds: aliases a crashed serve recorded are removed first. Removed again at the end (an alias
    // outlives the process; after a crash the record tells the next start).
    if (settings.loopbackAliases) {
      aliases = await startLoopbackAliases(log, settings.loopbackAliases === true ? {} : settings.loopbackAliases)
    }
    hosts = settings.hostsFile ? new HostsFile(settings.hostsFile, {log: (line) => log.info(line)}) : undefined
    await hosts?.start() // fails fast when the file cannot be written, and clears blocks of serves that are gone
  } catch (error) {
    await aliases?.close()
    instance?.release()
    await demo?.close()
    throw error
  }
  process.on('exit', () => {
    hosts?.removeSync()
    instance?.release()
  })
  const runtime = new ServeRuntime(source, {
    plan: {
      domain: settings.domain,
      addressType: settings.addressType,
      paths: settings.paths ?? 'auto',
      ingressService: settings.ingressService,
    },
    tunnelDial,
    listen: settings.listen,
    advertise: settings.advertise,
    dnsPort: settings.dnsPort,
    httpPort: settings.httpPort,
    httpsPort: settings.httpsPort,
    httpsPortExplicit: settings.httpsPortExplicit,
    range: settings.range,
    log,
    print: settings.print,
    maxConnections: settings.maxConnections,
    idleTimeoutMs: settings.idleTimeoutMs,
    hostCheck: settings.hostCheck,
    // A new Service's address is on lo0 before its listeners bind; a gone one's alias goes after they closed.
    beforeListen: aliases ? (listeners) => aliases.ensure(listeners.map((l) => l.address)) : undefined,
    onApply:
      hosts || aliases
        ? async (build) => {
            await aliases?.update(build.map.listeners.map((l) => l.address))
            await hosts?.update(build.map.dns.hosts)
          }
        : undefined,
  })
  try {
    await runtime.start()
    limitHeapGrowth(HEAP_GROWING_PERCENT) // the first map is live: from here on changes replace parts of it
  } catch (error) {
    await aliases?.close()
    await hosts?.remove()
    instance?.release()
    await demo?.close()
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
    `serving ${settings.domain} for ${served}: DNS on ${settings.listen}:${dnsPorts}, HTTP on ${settings.listen}:${ports.http}` +
      (ports.https !== undefined ? `, HTTPS (SNI) on ${settings.listen}:${ports.https}` : ''),
  )
  if (demo) log.info(demoHints(settings.domain, routerAddressFor(settings.listen), ports.dnsUdp, ports.http))

  const signal = await stopped
  log.info(`${signal}: stopping; open connections get up to ${STOP_GRACE_MS / 1000} s`)
  await runtime.stop(STOP_GRACE_MS)
  await aliases?.close()
  await hosts?.remove()
  instance?.release()
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

/**
 * This serve's record among the serves of this machine (src/serve/instance.ts); throws when another one holds its
 * addresses or ports. A runtime folder that cannot be used costs only the detection: a warning, and serve goes on.
 */
function register(settings: ServeSettings, context: string): Registration | undefined {
  const {range} = settings
  const record: InstanceRecord = {
    pid: process.pid,
    domain: settings.domain,
    context,
    listen: settings.listen,
    dnsPort: settings.dnsPort,
    httpPort: settings.httpPort,
    ipRange: range ? rangeText(range) : 'none',
    startedAt: new Date().toISOString(),
  }
  try {
    return registerInstance(record)
  } catch (error) {
    if (error instanceof ExposeLbError) throw error
    settings.log.warn(
      `cannot keep serve's record in ${instanceDir()} (${firstLine(error)}): a second serve on this machine will not be detected — set XDG_RUNTIME_DIR to a folder of your own`,
    )
    return undefined
  }
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
