import {Flags} from '@oclif/core'
import {isIP} from 'node:net'
import {ExposeLbError} from '../errors.js'
import {isLoopback, isUnspecified} from '../net/address.js'
import {normalizeDomain} from '../plan/names.js'

/** Flags every command that talks to a cluster accepts, named as kubectl names them. */
export const clusterFlags = {
  kubeconfig: Flags.string({
    description: 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)',
    helpGroup: 'CLUSTER',
  }),
  context: Flags.string({
    description: 'Kubeconfig context to use (default: the current context)',
    helpGroup: 'CLUSTER',
  }),
  namespace: Flags.string({
    char: 'n',
    description: 'Only Services in this namespace (default: all namespaces)',
    helpGroup: 'CLUSTER',
  }),
  'all-namespaces': Flags.boolean({
    char: 'A',
    description: 'Services in all namespaces (the default unless -n is given)',
    exclusive: ['namespace'],
    helpGroup: 'CLUSTER',
  }),
  selector: Flags.string({
    char: 'l',
    description: 'Only Services matching this label selector, e.g. app=radarr or tier!=db',
    helpGroup: 'CLUSTER',
  }),
  verbose: Flags.integer({
    char: 'v',
    description: 'Verbosity: -v (or -v=1) adds per-connection detail and error stack traces; -vv (2) adds more',
    min: 0,
    default: 0,
  }),
}

/** `list` and `serve` take several contexts: these replace clusterFlags' single --context. */
export const contextsFlags = {
  context: Flags.string({
    description: 'Kubeconfig context to use (default: the current context); repeat it for several clusters',
    multiple: true,
    helpGroup: 'CLUSTER',
  }),
  'all-contexts': Flags.boolean({
    description: 'Every context of the kubeconfig, each as its own cluster',
    exclusive: ['context'],
    helpGroup: 'CLUSTER',
  }),
  'cluster-name': Flags.string({
    description:
      "With several contexts: the DNS label of a context's names, CONTEXT=LABEL (default: the context name made a label)",
    multiple: true,
    helpGroup: 'CLUSTER',
  }),
}

/** Flags that shape the plan (names and targets); shared by `list` and `serve`. */
export const planFlags = {
  domain: Flags.string({
    description: 'DNS zone for friendly names (a private zone under the reserved .internal TLD by default)',
    default: 'kube.internal',
  }),
  'address-type': Flags.option({
    description: 'Node address to send traffic to',
    options: ['InternalIP', 'ExternalIP'] as const,
    default: 'InternalIP' as const,
  })(),
}

/** serve --paths and list --paths: which ways serve may take to a Service (src/plan/paths.ts). */
export const pathsFlag = {
  paths: Flags.option({
    description:
      'How Services are reached: auto (node addresses and NodePorts where the Service has them, else the API server, which also stands in when every node target is down), node (NodePorts only), api-server (every Service through pods/portforward)',
    options: ['auto', 'node', 'api-server'] as const,
    default: 'auto' as const,
  })(),
}

/** The words of every flag that takes a value (`--context`, `-n`, …), so argv hoisting can skip their values. */
export function valueFlags(
  commands: Record<string, {flags?: Record<string, {type: string; char?: string}>}>,
): Set<string> {
  const words = new Set<string>()
  for (const command of Object.values(commands)) {
    for (const [name, flag] of Object.entries(command.flags ?? {})) {
      if (flag.type !== 'option') continue
      words.add(`--${name}`)
      if (flag.char) words.add(`-${flag.char}`)
    }
  }
  return words
}

/**
 * The --domain value, lowercase without a trailing dot; a usage error naming the fix when it is not a DNS name or is
 * too broad a zone (a single label, a public suffix). The suffix list loads only here, so `--help` stays fast.
 */
export async function domainFlag(value: string): Promise<string> {
  const domain = normalizeDomain(value)
  if (!domain)
    throw new ExposeLbError('usage', `--domain "${value}" is not a valid DNS name; use something like kube.internal`)
  const {SUGGESTED_ZONES, zoneProblem} = await import('../plan/zone.js')
  const problem = zoneProblem(domain)
  if (problem) throw new ExposeLbError('usage', `--domain ${problem}; use a private zone: ${SUGGESTED_ZONES}`)
  return domain
}

/**
 * The address DNS gives clients on other machines (LAN mode), or undefined when serve listens on loopback only.
 * A LAN --listen advertises itself; 0.0.0.0 or :: is every address, so it needs --advertise to name one.
 */
export function advertiseFlag(listen: string, advertise: string | undefined): string | undefined {
  if (advertise !== undefined) {
    ipFlag('advertise', advertise)
    if (isLoopback(advertise) || isUnspecified(advertise))
      throw new ExposeLbError(
        'usage',
        `--advertise ${advertise} is not reachable from other machines; give this machine's LAN address`,
      )
    if (isLoopback(listen))
      throw new ExposeLbError(
        'usage',
        `--advertise needs --listen on an address other machines reach, e.g. --listen 0.0.0.0`,
      )
    return advertise
  }
  if (isLoopback(listen)) return undefined
  if (isUnspecified(listen))
    throw new ExposeLbError(
      'usage',
      `--listen ${listen} answers other machines, which need one address for every name: add --advertise with this machine's LAN address, e.g. --advertise 192.168.1.20`,
    )
  return listen
}

/** An IP address flag (--listen, --dns-address); a usage error naming the fix when it is not one. */
export function ipFlag(name: string, value: string): string {
  if (isIP(value) === 0) throw new ExposeLbError('usage', `--${name} "${value}" is not an IP address; use 127.0.0.1`)
  return value
}
