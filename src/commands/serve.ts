import {Command, Flags} from '@oclif/core'
import {ExposeLbError} from '../errors.js'
import {createLogger} from '../log.js'
import {DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS} from '../proxy/socket.js'
import {parseIpRange, type AddressRange} from '../servemap/addresses.js'
import {chooseIpRange, DEFAULT_IP_RANGE} from '../serve/lo-alias-plan.js'
import {isLoopback} from '../net/address.js'
import {
  advertiseFlag,
  clusterFlags,
  contextsFlags,
  domainFlag,
  ingressServiceFlag,
  ipFlag,
  pathsFlag,
  planFlags,
} from './flags.js'

/** serve's ports without --demo (service install decides from them whether serve needs privilege). */
export const DEFAULT_DNS_PORT = 53
export const DEFAULT_HTTP_PORT = 80
const DEMO_DNS_PORT = 5353
const DEMO_HTTP_PORT = 8080
/** The SNI listener (--https-port): 443 by default, skipped with a warning when it cannot be bound (runtime.ts). */
export const DEFAULT_HTTPS_PORT = 443
const DEMO_HTTPS_PORT = 8443

export default class Serve extends Command {
  static override summary =
    'Run a local DNS responder and reverse proxy that map friendly names to node IPs and NodePorts'
  static override description = `Watches Services, Nodes and EndpointSlices and keeps a map on this workstation: \
<svc>.<domain> and <svc>.localhost answer and proxy to a healthy node target of NodePort and pending LoadBalancer \
Services; each Service also gets its own loopback address (--ip-range) where every TCP and UDP port is forwarded on \
its own port number. LoadBalancer Services that have an address get DNS names for it. Hosts of Ingresses and Gateway API routes answer \
too and go to their ingress controller's Service: HTTP by Host, HTTPS by SNI on --https-port (passed through, never \
decrypted). Stops on SIGINT, SIGTERM, SIGHUP or SIGQUIT after \
letting open connections finish (up to 5 s).
With --demo it runs against a built-in simulated homelab (three loopback nodes), on ports ${DEMO_DNS_PORT} and ${DEMO_HTTP_PORT}.`
  static override examples = [
    '<%= config.bin %> serve --demo',
    'sudo <%= config.bin %> serve',
    '<%= config.bin %> serve --dns-port 5353 --http-port 8080 --context homelab',
    '<%= config.bin %> serve --context home --context kind-test   # <svc>.<ns>.<cluster>.kube.internal',
  ]
  static override flags = {
    ...clusterFlags,
    ...contextsFlags,
    ...planFlags,
    ...pathsFlag,
    listen: Flags.string({description: 'Address for the DNS responder and the HTTP router', default: '127.0.0.1'}),
    advertise: Flags.string({
      description:
        'With --listen on a LAN address or 0.0.0.0: the address DNS gives other machines for every name [default: --listen]',
    }),
    'dns-port': Flags.integer({
      description: `DNS port, UDP and TCP [default: ${DEFAULT_DNS_PORT}; ${DEMO_DNS_PORT} with --demo]`,
      min: 0,
      max: 65535,
    }),
    'http-port': Flags.integer({
      description: `HTTP port [default: ${DEFAULT_HTTP_PORT}; ${DEMO_HTTP_PORT} with --demo]`,
      min: 0,
      max: 65535,
    }),
    'https-port': Flags.integer({
      description: `Port of the TLS listener that routes by server name (SNI) without decrypting [default: ${DEFAULT_HTTPS_PORT}, skipped with a warning when it cannot be bound; ${DEMO_HTTPS_PORT} with --demo]`,
      min: 0,
      max: 65535,
    }),
    'ip-range': Flags.string({
      description: `Loopback block for per-service addresses, or none [default: ${DEFAULT_IP_RANGE}; on macOS as root (lo0 aliases), else none]`,
    }),
    demo: Flags.boolean({description: 'Serve a built-in simulated homelab instead of a cluster'}),
    // Tests: the demo's three nodes at <prefix>1..3 instead of 127.0.10.x, so two demos can run at once.
    'demo-nodes': Flags.string({hidden: true, dependsOn: ['demo']}),
    'hosts-file': Flags.string({
      description:
        'Also keep a marked block of the names in this hosts file (--hosts-file alone: /etc/hosts), for machines without split DNS',
      helpValue: '[path]',
    }),
    'max-connections': Flags.integer({
      description: 'Open connections per listener; clients beyond it are refused',
      min: 1,
      default: DEFAULT_MAX_CONNECTIONS,
    }),
    'host-check': Flags.boolean({
      description:
        "Per-service addresses answer HTTP only for their Service's names, 421 for other hosts (DNS rebinding guard)",
      default: true,
      allowNo: true,
    }),
    'idle-timeout': Flags.integer({
      description: 'Seconds a forwarded TCP connection may stay silent both ways before it is closed (0: never)',
      min: 0,
      default: DEFAULT_IDLE_TIMEOUT_MS / 1000,
    }),
    'log-format': Flags.option({
      description: 'Log lines on stderr as text or JSON objects',
      options: ['text', 'json'] as const,
      default: 'text' as const,
    })(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Serve)
    const {domain, range, advertise, loopbackAliases, note} = await checkServeFlags(flags)
    const logger = createLogger({format: flags['log-format'], verbosity: flags.verbose})
    if (note) logger.info(note)
    if (!isLoopback(flags.listen)) {
      logger.warn(
        `--listen ${flags.listen} is not a loopback address: anyone on that network reaches the cluster's Services through it`,
      )
    }

    const {serveUntilSignal} = await import('../serve/start.js')
    await serveUntilSignal({
      domain,
      addressType: flags['address-type'],
      paths: flags.paths,
      listen: flags.listen,
      advertise,
      dnsPort: flags['dns-port'] ?? (flags.demo ? DEMO_DNS_PORT : DEFAULT_DNS_PORT),
      httpPort: flags['http-port'] ?? (flags.demo ? DEMO_HTTP_PORT : DEFAULT_HTTP_PORT),
      httpsPort: flags['https-port'] ?? (flags.demo ? DEMO_HTTPS_PORT : DEFAULT_HTTPS_PORT),
      httpsPortExplicit: flags['https-port'] !== undefined,
      ingressService: ingressServiceFlag(flags['ingress-service']),
      range,
      loopbackAliases,
      kubeconfig: flags.kubeconfig,
      contexts: flags.context ?? [],
      allContexts: flags['all-contexts'],
      clusterNames: flags['cluster-name'] ?? [],
      namespace: flags.namespace,
      selector: flags.selector,
      demo: flags.demo,
      demoNodes: demoNodesFlag(flags['demo-nodes']),
      hostsFile: flags['hosts-file'],
      maxConnections: flags['max-connections'],
      hostCheck: flags['host-check'],
      idleTimeoutMs: flags['idle-timeout'] * 1000,
      log: logger,
      print: (text) => process.stdout.write(`${text}\n`),
    })
    process.exit(0)
  }
}

/**
 * serve's flags checked as serve checks them at start (service install checks them before writing a unit). The
 * per-service addresses depend on the platform and privilege too (src/serve/lo-alias-plan.ts).
 */
export async function checkServeFlags(
  flags: {
    domain: string
    'ip-range'?: string | undefined
    listen: string
    advertise?: string | undefined
  },
  platform: NodeJS.Platform = process.platform,
  privileged = process.getuid?.() === 0,
): Promise<{
  domain: string
  range: AddressRange | undefined
  advertise: string | undefined
  loopbackAliases: boolean
  note?: string
}> {
  const domain = await domainFlag(flags.domain)
  const choice = chooseIpRange({flag: flags['ip-range'], platform, privileged})
  if ('error' in choice) throw new ExposeLbError('usage', choice.error)
  const range = parseIpRange(choice.ipRange)
  if (range && 'error' in range) throw new ExposeLbError('usage', range.error)
  ipFlag('listen', flags.listen)
  const advertise = advertiseFlag(flags.listen, flags.advertise)
  return {
    domain,
    range,
    advertise,
    loopbackAliases: choice.loopbackAliases,
    ...(choice.note ? {note: choice.note} : {}),
  }
}

/** The hidden --demo-nodes: three octets of a loopback address and a dot, e.g. 127.0.58. */
function demoNodesFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  if (!/^127\.\d{1,3}\.\d{1,3}\.$/.test(value)) {
    throw new ExposeLbError('usage', `--demo-nodes "${value}" is not the start of a loopback address like 127.0.58.`)
  }
  return value
}
