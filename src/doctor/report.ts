// doctor's findings as data: the check results and the report, and every decision and sentence that turns what a
// probe found into a result. Pure: src/doctor/probes.ts does the DNS queries, TCP connects and test binds and
// hands its findings to the functions here.
import {isUnder, planHostRouting, routingDomain} from '../dnssetup/hosts.js'
import {ExposeLbError, firstLine} from '../errors.js'
import {hostPort} from '../net/address.js'
import {describeErrno, errnoCode, type BindProblem} from '../net/errno.js'
import {isMapped, isProxied} from '../plan/plan.js'
import type {Plan} from '../plan/types.js'
import {KUBE_PROXY_HEALTHZ_PORT} from '../servemap/map.js'
import type {ServiceStatus} from '../service/plan.js'
import {escapeControls} from '../terminal.js'

/** How a check came out; only 'fail' makes doctor exit with EXIT.checkFailed. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'
/** The checks, in the order doctor reports them. */
export type CheckName =
  'cluster' | 'responder' | 'os-resolver' | 'hosts' | 'nodes' | 'dns-port' | 'http-port' | 'service'

/** One check's finding. */
export interface CheckResult {
  name: CheckName
  status: CheckStatus
  /** One line: what was found. */
  detail: string
  /** One line: what to do, for warn and fail. */
  fix?: string
}

/** The cluster as the command read it, or why it could not. A cluster that cannot be read is a failed check. */
export type ClusterOutcome = {context: string; server: string; plan: Plan} | {error: unknown}

/** Where serve is expected to listen, and how long doctor waits for it. */
export interface DoctorOptions {
  domain: string
  /** Where serve's DNS responder and HTTP router listen (serve --listen). */
  dnsAddress: string
  dnsPort: number
  httpPort: number
  /** TCP connects, DNS queries and HTTP requests give up after this long. */
  timeoutMs?: number
  /** How long the OS resolver may take (it retries on its own schedule). */
  lookupTimeoutMs?: number
  /** Injected in tests. */
  lookup?: (name: string) => Promise<string[]>
}

/** The flags other commands need to reach the same responder as this run, e.g. ` --dns-port 5353`. */
function responderFlags(o: DoctorOptions): string {
  return [
    o.domain === 'kube.internal' ? '' : ` --domain ${o.domain}`,
    o.dnsAddress === '127.0.0.1' ? '' : ` --dns-address ${o.dnsAddress}`,
    o.dnsPort === 53 ? '' : ` --dns-port ${o.dnsPort}`,
  ].join('')
}

/** A name serve answers: the shortest name of the first proxied Service, else of the first mapped one. */
export function pickProbeName(plan: Plan): string | undefined {
  const named = plan.services.filter((s) => isMapped(s.exposure) && s.names.length > 0)
  const service = named.find((s) => isProxied(s.exposure)) ?? named[0]
  return service ? [...service.names].sort((a, b) => a.length - b.length)[0] : undefined
}

/** The cluster could be read: how many Services and nodes; or why not. */
export function checkCluster(cluster: ClusterOutcome): CheckResult {
  if ('error' in cluster) {
    const forbidden = cluster.error instanceof ExposeLbError && cluster.error.code === 'forbidden'
    return {
      name: 'cluster',
      status: 'fail',
      detail: firstLine(cluster.error),
      fix: forbidden
        ? 'grant read access with the ClusterRole in the README (RBAC), which `kubectl expose-lb list` also prints'
        : 'the name and node checks need the cluster: fix this first (doctor takes the same --kubeconfig and --context as serve)',
    }
  }
  const {plan} = cluster
  const mapped = plan.services.filter((s) => isMapped(s.exposure)).length
  return {
    name: 'cluster',
    status: 'ok',
    detail: `context "${cluster.context}" at ${cluster.server}: ${plan.services.length} Services (${mapped} mapped), ${plan.nodes.length} nodes`,
  }
}

/** Check 1 from what serve's responder at `at` said about `name`: the addresses it answered, or the error. */
export function responderResult(
  name: string,
  at: string,
  answer: {addresses: string[]} | {error: unknown},
): CheckResult {
  if ('addresses' in answer) {
    return {name: 'responder', status: 'ok', detail: `${at} answers ${name} with ${answer.addresses.join(', ')}`}
  }
  const code = errnoCode(answer.error)
  const start = `start \`kubectl expose-lb serve\` with the same --domain, -n and -l (and --dns-port/--listen if not 53 on 127.0.0.1), or tell doctor where it listens with --dns-address/--dns-port`
  if (code === 'ENOTFOUND' || code === 'ENODATA') {
    return {
      name: 'responder',
      status: 'fail',
      detail: `the responder at ${at} does not know ${name} (${code})`,
      fix: 'pass doctor the same --context, --domain, -n and -l as serve; a Service created a moment ago shows up within a second',
    }
  }
  if (code === 'EREFUSED') {
    return {
      name: 'responder',
      status: 'fail',
      detail: `the DNS server at ${at} refuses ${name}: it is not serve, or serve runs with another --domain`,
      fix: `${start}; the dns-port check below tells whether serve holds ${at}`,
    }
  }
  return {
    name: 'responder',
    status: 'fail',
    detail: `nothing answers DNS at ${at} (${code ?? describeErrno(answer.error)})`,
    fix: start,
  }
}

/** Check 2 from what the OS resolver gave for `name` (or its error), against the addresses serve answered. */
export function osResolverResult(
  name: string,
  expected: string[],
  found: {addresses: string[]} | {error: unknown},
  o: DoctorOptions,
): CheckResult {
  const fix = `send ${o.domain} to serve's responder with \`kubectl expose-lb dns-setup --apply${responderFlags(o)}\`, or run serve with --hosts-file`
  if ('error' in found) {
    return {
      name: 'os-resolver',
      status: 'fail',
      detail: `the OS resolver does not know ${name} (${describeErrno(found.error)})`,
      fix,
    }
  }
  const {addresses} = found
  if (addresses.some((a) => expected.includes(a))) {
    return {
      name: 'os-resolver',
      status: 'ok',
      detail: `the OS resolver gives ${name} → ${addresses.join(', ')}, as serve does`,
    }
  }
  return {
    name: 'os-resolver',
    status: 'fail',
    detail: `the OS resolver gives ${name} → ${addresses.join(', ')}, but serve answers ${expected.join(', ')}`,
    fix: `something else answers first (a stale hosts-file entry, another DNS server): check /etc/hosts, then ${fix}`,
  }
}

/** Ingress and route hosts doctor looks up: exact ones with a receiving Service, at most this many. */
export const HOSTS_CHECKED = 10

/** The exact Ingress and route hosts of the plan that serve maps (a wildcard cannot be looked up as such). */
export function hostsToCheck(plan: Plan): string[] {
  return (plan.hosts ?? [])
    .filter((h) => h.service && !h.host.startsWith('*.'))
    .map((h) => h.host)
    .slice(0, HOSTS_CHECKED)
}

/** What dns-setup recorded in its state file (the zone and the hosts it routed); undefined when it has not run. */
export interface RecordedRouting {
  domain: string
  hosts: string[]
}

/** What the hosts check knows besides the lookups: the plan's hosts, dns-setup's record, and the flags to repeat. */
export interface HostsContext {
  plan: Plan
  recorded?: RecordedRouting
  options: DoctorOptions
}

function routedBy(recorded: RecordedRouting | undefined, host: string): boolean {
  if (!recorded) return false
  const domain = routingDomain(host)
  return isUnder(domain, recorded.domain) || recorded.hosts.some((h) => isUnder(domain, routingDomain(h)))
}

/**
 * The hosts check from each host's os-resolver result (serve's answer against the OS resolver's): ok when every host
 * resolves as serve answers it; else a warning naming the hosts not routed to serve yet, with the fix for each kind:
 * `dns-setup --apply` (again, for hosts added since it ran) routes those it can, the hosts file takes names no resolver
 * routes by name, and hosts dns-setup did route but that do not resolve point at serve's address and port. Wildcards
 * cannot be looked up: they count as routed when dns-setup recorded them.
 */
export function hostsResult(outcomes: Array<{host: string; result: CheckResult}>, context?: HostsContext): CheckResult {
  const missing = outcomes.filter((o) => o.result.status !== 'ok').map((o) => o.host)
  const routing = context ? planHostRouting(context.plan.hosts ?? [], context.options.domain) : undefined
  const recorded = context?.recorded?.domain === context?.options.domain ? context?.recorded : undefined
  const wildcards = (routing?.routed ?? []).filter((h) => h.startsWith('*.') && !routedBy(recorded, h))
  const notRouted = [...missing, ...wildcards]
  if (notRouted.length === 0 && outcomes.length === 0) {
    return {
      name: 'hosts',
      status: 'ok',
      detail: 'dns-setup routes every wildcard host (a wildcard cannot be looked up)',
    }
  }
  if (notRouted.length === 0) {
    return {
      name: 'hosts',
      status: 'ok',
      detail: `the OS resolver gives ${outcomes.length} Ingress/route host${outcomes.length === 1 ? '' : 's'} as serve answers them`,
    }
  }
  if (!context || !routing) {
    return {
      name: 'hosts',
      status: 'warn',
      detail: `not routed to serve yet: ${missing.join(', ')}`,
      fix: "run serve with --hosts-file, or run `kubectl expose-lb dns-setup --apply`, which sends each host to serve's responder",
    }
  }
  const why = new Map(routing.notRouted.map((n) => [n.host, n.why]))
  const unroutable = notRouted.filter((h) => why.has(h))
  const routedAlready = notRouted.filter((h) => !why.has(h) && routedBy(recorded, h))
  const toRoute = notRouted.filter((h) => !why.has(h) && !routedBy(recorded, h))
  const setup = `\`kubectl expose-lb dns-setup --apply${responderFlags(context.options)}\``
  const fixes = [
    ...(toRoute.length === 0
      ? []
      : [
          recorded
            ? `${setup} again adds ${toRoute.join(', ')} (new since it last ran)`
            : `${setup} routes ${toRoute.join(', ')} (or run serve with --hosts-file)`,
        ]),
    ...(unroutable.length === 0
      ? []
      : [`${unroutable.map((h) => `${h} (${why.get(h)})`).join(', ')}: run serve with --hosts-file`]),
    ...(routedAlready.length === 0
      ? []
      : [
          `dns-setup routed ${routedAlready.join(', ')}, yet the OS resolver does not answer as serve: check that serve listens at the --dns-address and --dns-port dns-setup was given`,
        ]),
  ]
  return {
    name: 'hosts',
    status: 'warn',
    detail: `not routed to serve yet: ${notRouted.join(', ')}`,
    fix: fixes.join('; '),
  }
}

/** A node address and the TCP port that tells whether it is reachable. */
export interface NodeProbe {
  node: string
  address: string
  port: number
}

/**
 * One TCP port per node address: a NodePort of a TCP Service port, those of externalTrafficPolicy Cluster first
 * (with Local, kube-proxy drops traffic on nodes without a local endpoint); kube-proxy's healthz port when the node
 * only has UDP targets.
 */
export function nodeProbes(plan: Plan): NodeProbe[] {
  const byAddress = new Map<string, {node: string; ports: Array<{port: number; rank: number}>}>()
  for (const s of plan.services) {
    if (!isProxied(s.exposure)) continue
    const rank = s.externalTrafficPolicy === 'Cluster' ? 0 : 1
    for (const p of s.ports) {
      for (const t of p.targets) {
        const entry = byAddress.get(t.address) ?? {node: t.node, ports: []}
        byAddress.set(t.address, entry)
        if (p.protocol === 'TCP') entry.ports.push({port: t.port, rank})
      }
    }
  }
  return [...byAddress].map(([address, {node, ports}]) => {
    const best = [...ports].sort((a, b) => a.rank - b.rank)[0]
    return {node, address, port: best?.port ?? KUBE_PROXY_HEALTHZ_PORT}
  })
}

/** Check 3 from the connects to every node probe: `error` is the failure in words, undefined when it connected. */
export function nodesResult(outcomes: Array<NodeProbe & {error: string | undefined}>): CheckResult {
  const failed = outcomes.filter((r) => r.error !== undefined)
  const reachable = outcomes.filter((r) => r.error === undefined).map((r) => r.node)
  if (failed.length === 0) {
    return {
      name: 'nodes',
      status: 'ok',
      detail: `${reachable.length} node address${reachable.length === 1 ? '' : 'es'} reachable on a NodePort: ${reachable.join(', ')}`,
    }
  }
  const listed = failed.map((f) => `${f.node} (${hostPort(f.address, f.port)}: ${f.error})`).join(', ')
  return {
    name: 'nodes',
    status: reachable.length === 0 ? 'fail' : 'warn',
    detail: `unreachable from here: ${listed}${reachable.length ? `; reachable: ${reachable.join(', ')}` : ''}`,
    fix: "a node that is down is skipped by serve's health checks; otherwise allow TCP 30000-32767 to the nodes in their firewall, or try --address-type ExternalIP (list, serve, doctor) if these addresses are only reachable inside the cluster's network",
  }
}

/** A test bind: free, or the bind problem it met (src/net/errno.ts). */
export type BindOutcome = 'free' | BindProblem

/** A port serve needs, and the words for its check. */
export interface PortSpec {
  name: 'dns-port' | 'http-port'
  address: string
  port: number
  protocols: Array<'udp' | 'tcp'>
  /** The fix when another program holds the port. */
  taken: string
  /** The flag that picks another port, for the privilege warning. */
  portFlag: string
}

/** The command that shows which program holds a port, on `platform` (process.platform). */
function whoHolds(port: number, protocol: 'udp' | 'tcp', platform: string): string {
  if (platform === 'darwin') return `sudo lsof -nP -i${protocol.toUpperCase()}:${port}`
  if (platform === 'win32')
    return protocol === 'udp'
      ? `Get-NetUDPEndpoint -LocalPort ${port}`
      : `Get-NetTCPConnection -LocalPort ${port} -State Listen`
  return `sudo ss -${protocol === 'udp' ? 'u' : 't'}lnp 'sport = :${port}'`
}

/** Check 4a's port: serve's DNS responder, UDP and TCP. */
export function dnsPortSpec(o: DoctorOptions, platform: string): PortSpec {
  const at = hostPort(o.dnsAddress, o.dnsPort)
  return {
    name: 'dns-port',
    address: o.dnsAddress,
    port: o.dnsPort,
    protocols: ['udp', 'tcp'],
    taken: `find it with \`${whoHolds(o.dnsPort, 'udp', platform)}\` and stop it, or use --dns-port 5353 for serve, dns-setup and doctor (systemd-resolved's stub on 127.0.0.53 is fine, but ${at} must be free)`,
    portFlag: '--dns-port 5353',
  }
}

/** Check 4b's port: serve's HTTP router. */
export function httpPortSpec(o: DoctorOptions, platform: string): PortSpec {
  return {
    name: 'http-port',
    address: o.dnsAddress,
    port: o.httpPort,
    protocols: ['tcp'],
    taken: `find it with \`${whoHolds(o.httpPort, 'tcp', platform)}\` and stop it, or use --http-port 8080 for serve and doctor`,
    portFlag: '--http-port 8080',
  }
}

/** What the probes of one port found so far: the test binds, then only what portStep asks for. */
export interface PortFindings {
  outcomes: BindOutcome[]
  /** Whether serve answers on the port. */
  heldByServe?: boolean
  /** Whether something accepts a TCP connection on the port. */
  listening?: boolean
}

/**
 * Check 4 a step at a time, so that a probe runs only when the result depends on it: the result, or the finding
 * to add next (`heldByServe` once a bind failed, then `listening` when that is not serve and no bind said in use).
 */
export function portStep(
  spec: PortSpec,
  found: PortFindings,
): {result: CheckResult} | {next: 'heldByServe' | 'listening'} {
  const {name, address, port} = spec
  const label = `${hostPort(address, port)} (${spec.protocols.join(', ')})`
  const {outcomes} = found
  if (outcomes.every((o) => o === 'free')) return {result: {name, status: 'ok', detail: `${label} is free for serve`}}
  if (outcomes.includes('unavailable')) {
    return {
      result: {
        name,
        status: 'fail',
        detail: `${address} is not an address of this machine`,
        fix: 'pass --dns-address the address serve listens on (serve --listen, default 127.0.0.1)',
      },
    }
  }
  if (found.heldByServe === undefined) return {next: 'heldByServe'}
  if (found.heldByServe) return {result: {name, status: 'ok', detail: `${label} is held by serve`}}
  const listening = outcomes.includes('in-use') || found.listening
  if (listening === undefined) return {next: 'listening'}
  if (listening) {
    return {result: {name, status: 'fail', detail: `${label} is used by another program`, fix: spec.taken}}
  }
  if (outcomes.includes('denied')) {
    return {
      result: {
        name,
        status: 'warn',
        detail: `${label} looks free, but binding port ${port} needs privilege`,
        fix: `run serve with sudo, or use ${spec.portFlag} (see README "Ports below 1024")`,
      },
    }
  }
  return {
    result: {
      name,
      status: 'warn',
      detail: `could not test-bind ${label}`,
      fix: `use ${spec.portFlag} if serve cannot bind it`,
    },
  }
}

/** The `service install` line that installs serve with the ports and zone doctor checked. */
function installCommand(o: DoctorOptions): string {
  return [
    'kubectl expose-lb service install',
    o.domain === 'kube.internal' ? '' : ` --domain ${o.domain}`,
    o.dnsAddress === '127.0.0.1' ? '' : ` --listen ${o.dnsAddress}`,
    o.dnsPort === 53 ? '' : ` --dns-port ${o.dnsPort}`,
    o.httpPort === 80 ? '' : ` --http-port ${o.httpPort}`,
  ].join('')
}

/**
 * Check 5 from what `service status` would say: ok when serve is installed to run at login and runs; skip when it
 * is not installed (running it by hand is fine); warn when installed but not running, or when the service manager
 * could not be asked.
 */
export function serviceResult(found: ServiceStatus | {error: unknown}, o: DoctorOptions): CheckResult {
  const name = 'service'
  if ('error' in found)
    return {name, status: 'warn', detail: `could not tell whether serve runs as a service: ${firstLine(found.error)}`}
  if (!found.installed)
    return {name, status: 'skip', detail: 'serve is not installed to run at login', fix: installCommand(o)}
  const {kind, definition, logs} = found.location
  if (found.running) return {name, status: 'ok', detail: `the ${kind} ${definition} runs serve (${found.state})`}
  return {
    name,
    status: 'warn',
    detail: `the ${kind} ${definition} is installed but serve does not run (${found.state})`,
    fix: `see why with \`${logs}\`; once fixed, \`${installCommand(o)}\` starts it again`,
  }
}

/** doctor's output: `-o json` prints it as it is. */
export interface DoctorReport {
  apiVersion: 'expose-lb/v1'
  kind: 'DoctorReport'
  domain: string
  dns: string
  http: string
  checks: CheckResult[]
  /** How many checks failed: doctor exits with EXIT.checkFailed when this is above 0. */
  failed: number
}

/** The report of a run's checks, with where they looked and how many failed. */
export function buildDoctorReport(checks: CheckResult[], o: DoctorOptions): DoctorReport {
  return {
    apiVersion: 'expose-lb/v1',
    kind: 'DoctorReport',
    domain: o.domain,
    dns: hostPort(o.dnsAddress, o.dnsPort),
    http: hostPort(o.dnsAddress, o.httpPort),
    checks,
    failed: checks.filter((c) => c.status === 'fail').length,
  }
}

const STATUS_LABEL: Record<CheckStatus, string> = {ok: 'ok', warn: 'warn', fail: 'FAIL', skip: 'skip'}

/** One line per check, and the fix under each that is not ok. */
export function formatDoctorReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length))
  const lines: string[] = []
  for (const c of report.checks) {
    // Details name nodes and addresses from the cluster: escaped for the terminal (src/terminal.ts).
    lines.push(`${STATUS_LABEL[c.status].padEnd(5)} ${c.name.padEnd(width)}  ${escapeControls(c.detail)}`)
    if (c.fix && c.status !== 'ok') lines.push(`${' '.repeat(width + 8)}fix: ${escapeControls(c.fix)}`)
  }
  return lines.join('\n')
}
