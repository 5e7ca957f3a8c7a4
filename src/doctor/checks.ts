// `doctor`: checks that what serve maps is reachable from this workstation, each with a one-line finding and, on
// failure, a one-line fix. Checks do I/O (DNS queries, TCP connects, test binds); the cluster is read by the
// command and handed in as a plan.
import dgram from 'node:dgram'
import {promises as dns} from 'node:dns'
import http from 'node:http'
import net from 'node:net'
import {ExposeLbError, firstLine, TimeoutError} from '../errors.js'
import {isMapped, isProxied} from '../plan/plan.js'
import type {Plan} from '../plan/types.js'
import {hostPort} from '../net/address.js'
import {bindProblem, describeErrno, errnoCode, type BindProblem} from '../net/errno.js'
import {KUBE_PROXY_HEALTHZ_PORT} from '../servemap/map.js'

/**
 * Exit status when a check fails (errors.ts has no code for it yet). A cluster that cannot be read is a failed
 * check too, so doctor still reports the ports.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'
export type CheckName = 'cluster' | 'responder' | 'os-resolver' | 'nodes' | 'dns-port' | 'http-port'

export interface CheckResult {
  name: CheckName
  status: CheckStatus
  /** One line: what was found. */
  detail: string
  /** One line: what to do, for warn and fail. */
  fix?: string
}

/** The cluster as the command read it, or why it could not. */
export type ClusterOutcome = {context: string; server: string; plan: Plan} | {error: unknown}

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

/** A node that does not answer a TCP connect within this long counts as unreachable. */
export const CONNECT_TIMEOUT_MS = 1500
const LOOKUP_TIMEOUT_MS = 5000

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

/** Check 1: serve's responder answers a mapped name. Returns the addresses it answered. */
export async function checkResponder(
  name: string | undefined,
  o: DoctorOptions,
): Promise<{result: CheckResult; addresses?: string[]}> {
  const at = hostPort(o.dnsAddress, o.dnsPort)
  if (!name) return {result: {name: 'responder', status: 'skip', detail: 'no mapped Service to look up'}}
  const resolver = new dns.Resolver({timeout: o.timeoutMs ?? CONNECT_TIMEOUT_MS, tries: 1})
  resolver.setServers([at])
  try {
    let addresses: string[]
    try {
      addresses = await resolver.resolve4(name)
    } catch (error) {
      if (errnoCode(error) !== 'ENODATA') throw error
      addresses = await resolver.resolve6(name)
    }
    return {
      result: {name: 'responder', status: 'ok', detail: `${at} answers ${name} with ${addresses.join(', ')}`},
      addresses,
    }
  } catch (error) {
    const code = errnoCode(error)
    const start = `start \`kubectl expose-lb serve\` with the same --domain, -n and -l (and --dns-port/--listen if not 53 on 127.0.0.1), or tell doctor where it listens with --dns-address/--dns-port`
    if (code === 'ENOTFOUND' || code === 'ENODATA') {
      return {
        result: {
          name: 'responder',
          status: 'fail',
          detail: `the responder at ${at} does not know ${name} (${code})`,
          fix: 'pass doctor the same --context, --domain, -n and -l as serve; a Service created a moment ago shows up within a second',
        },
      }
    }
    if (code === 'EREFUSED') {
      return {
        result: {
          name: 'responder',
          status: 'fail',
          detail: `the DNS server at ${at} refuses ${name}: it is not serve, or serve runs with another --domain`,
          fix: `${start}; the dns-port check below tells whether serve holds ${at}`,
        },
      }
    }
    return {
      result: {
        name: 'responder',
        status: 'fail',
        detail: `nothing answers DNS at ${at} (${code ?? describeErrno(error)})`,
        fix: start,
      },
    }
  }
}

/** Every address the OS resolver gives for `name` (hosts file, split DNS, …), as programs see it. */
async function osLookup(name: string): Promise<string[]> {
  const found = await dns.lookup(name, {all: true})
  return found.map((a) => a.address)
}

/** Check 2: the OS resolver gives the address serve answers. */
export async function checkOsResolver(
  name: string | undefined,
  expected: string[] | undefined,
  o: DoctorOptions,
): Promise<CheckResult> {
  if (!name) return {name: 'os-resolver', status: 'skip', detail: 'no mapped Service to look up'}
  if (!expected)
    return {
      name: 'os-resolver',
      status: 'skip',
      detail: "serve's responder did not answer, so there is nothing to compare",
    }
  const fix = `send ${o.domain} to serve's responder with \`kubectl expose-lb dns-setup --apply${responderFlags(o)}\`, or run serve with --hosts-file`
  const lookup = o.lookup ?? osLookup
  const timeoutMs = o.lookupTimeoutMs ?? LOOKUP_TIMEOUT_MS
  let timer: NodeJS.Timeout | undefined
  try {
    const found = await Promise.race([
      lookup(name),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`looking up ${name}`, timeoutMs)), timeoutMs)
      }),
    ])
    if (found.some((a) => expected.includes(a))) {
      return {
        name: 'os-resolver',
        status: 'ok',
        detail: `the OS resolver gives ${name} → ${found.join(', ')}, as serve does`,
      }
    }
    return {
      name: 'os-resolver',
      status: 'fail',
      detail: `the OS resolver gives ${name} → ${found.join(', ')}, but serve answers ${expected.join(', ')}`,
      fix: `something else answers first (a stale hosts-file entry, another DNS server): check /etc/hosts, then ${fix}`,
    }
  } catch (error) {
    return {
      name: 'os-resolver',
      status: 'fail',
      detail: `the OS resolver does not know ${name} (${describeErrno(error)})`,
      fix,
    }
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves when a TCP connection to address:port opens (and closes it at once); rejects with the error or a timeout. */
export function tcpConnect(address: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host: address, port})
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new TimeoutError(`connect to ${hostPort(address, port)}`, timeoutMs)),
    )
    socket.once('connect', () => {
      socket.destroy()
      resolve()
    })
    socket.once('error', reject)
  })
}

interface NodeProbe {
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

/** Check 3: every node address that serve sends traffic to accepts a TCP connection from here. */
export async function checkNodes(plan: Plan, o: Pick<DoctorOptions, 'timeoutMs'>): Promise<CheckResult> {
  const probes = nodeProbes(plan)
  if (probes.length === 0)
    return {name: 'nodes', status: 'skip', detail: 'no node targets (no NodePort Service mapped)'}
  const timeoutMs = o.timeoutMs ?? CONNECT_TIMEOUT_MS
  const outcomes = await Promise.all(
    probes.map(async (p) => {
      try {
        await tcpConnect(p.address, p.port, timeoutMs)
        return {...p, error: undefined}
      } catch (error) {
        return {...p, error: describeErrno(error)}
      }
    }),
  )
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
type BindOutcome = 'free' | BindProblem

/** Binds and at once releases address:port, to learn whether serve could bind it. */
function tryBind(kind: 'udp' | 'tcp', address: string, port: number): Promise<BindOutcome> {
  return new Promise((resolve) => {
    if (kind === 'udp') {
      const socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4')
      socket.once('error', (error) => {
        socket.close()
        resolve(bindProblem(error))
      })
      socket.bind({address, port, exclusive: true}, () => socket.close(() => resolve('free')))
      return
    }
    const server = net.createServer()
    server.once('error', (error) => resolve(bindProblem(error)))
    server.listen({host: address, port, exclusive: true}, () => server.close(() => resolve('free')))
  })
}

/** DNS TYPE and CLASS codes (RFC 1035 §3.2.2, §3.2.4). */
const TYPE_SOA = 6
const CLASS_IN = 1

/** A query for the SOA of `zone`, recursion not desired (RFC 1035 §4.1). */
export function soaQuery(id: number, zone: string): Buffer {
  const header = Buffer.alloc(12)
  header.writeUInt16BE(id, 0)
  header.writeUInt16BE(1, 4) // QDCOUNT
  const labels = zone.split('.').filter(Boolean)
  const name = Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])),
    Buffer.from([0]),
  ])
  const tail = Buffer.alloc(4)
  tail.writeUInt16BE(TYPE_SOA, 0)
  tail.writeUInt16BE(CLASS_IN, 2)
  return Buffer.concat([header, name, tail])
}

/** Offset just past the name at `offset` (labels, or a compression pointer, RFC 1035 §4.1.4); -1 when malformed. */
function skipName(msg: Buffer, offset: number): number {
  let at = offset
  while (at < msg.length) {
    const len = msg[at]!
    if (len === 0) return at + 1
    if ((len & 0xc0) === 0xc0) return at + 2
    at += len + 1
  }
  return -1
}

/** Whether `msg` answers query `id` authoritatively (AA) with NOERROR and an SOA record first: what serve does. */
export function isAuthoritativeSoa(msg: Buffer, id: number): boolean {
  if (msg.length < 12 || msg.readUInt16BE(0) !== id) return false
  const flags = msg.readUInt16BE(2)
  const qr = (flags & 0x8000) !== 0
  const aa = (flags & 0x0400) !== 0
  const rcode = flags & 0x000f
  if (!qr || !aa || rcode !== 0 || msg.readUInt16BE(6) === 0) return false
  let at = 12
  for (let q = msg.readUInt16BE(4); q > 0; q--) {
    at = skipName(msg, at)
    if (at < 0) return false
    at += 4
  }
  at = skipName(msg, at)
  return at > 0 && at + 2 <= msg.length && msg.readUInt16BE(at) === TYPE_SOA
}

/** Asks address:port for the zone's SOA over UDP: true when serve (authoritative for the zone) answers. */
export function answersAsServe(address: string, port: number, zone: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4')
    const id = Math.floor(Math.random() * 0x10000)
    let finished = false
    const done = (value: boolean) => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      socket.close()
      resolve(value)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.on('message', (msg) => {
      if (msg.length >= 2 && msg.readUInt16BE(0) === id) done(isAuthoritativeSoa(msg, id))
    })
    socket.on('error', () => done(false))
    socket.send(soaQuery(id, zone), port, address)
  })
}

/** An HTTP GET for a name no Service has: serve's router answers 404 with its JSON list of names. */
export function answersAsServeHttp(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      {
        host: address,
        port,
        path: '/',
        agent: false,
        headers: {host: 'expose-lb-doctor.invalid', accept: 'application/json'},
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d.slice(0, 65_536)))
        res.on('end', () => {
          try {
            const parsed = JSON.parse(body) as {error?: unknown; names?: unknown}
            resolve(res.statusCode === 404 && typeof parsed.error === 'string' && Array.isArray(parsed.names))
          } catch {
            resolve(false)
          }
        })
        res.on('error', () => resolve(false))
      },
    )
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve(false))
  })
}

/** The command that shows which program holds a port, on this OS. */
function whoHolds(port: number, protocol: 'udp' | 'tcp'): string {
  if (process.platform === 'darwin') return `sudo lsof -nP -i${protocol.toUpperCase()}:${port}`
  if (process.platform === 'win32')
    return protocol === 'udp'
      ? `Get-NetUDPEndpoint -LocalPort ${port}`
      : `Get-NetTCPConnection -LocalPort ${port} -State Listen`
  return `sudo ss -${protocol === 'udp' ? 'u' : 't'}lnp 'sport = :${port}'`
}

interface PortCheckSpec {
  name: 'dns-port' | 'http-port'
  address: string
  port: number
  protocols: Array<'udp' | 'tcp'>
  isServe: () => Promise<boolean>
  /** The fix when another program holds the port. */
  taken: string
  /** The flag that picks another port, for the privilege warning. */
  portFlag: string
}

async function checkPort(spec: PortCheckSpec): Promise<CheckResult> {
  const {name, address, port} = spec
  const label = `${hostPort(address, port)} (${spec.protocols.join(', ')})`
  const outcomes: BindOutcome[] = []
  for (const protocol of spec.protocols) outcomes.push(await tryBind(protocol, address, port))
  if (outcomes.every((o) => o === 'free')) return {name, status: 'ok', detail: `${label} is free for serve`}
  if (outcomes.includes('unavailable')) {
    return {
      name,
      status: 'fail',
      detail: `${address} is not an address of this machine`,
      fix: 'pass --dns-address the address serve listens on (serve --listen, default 127.0.0.1)',
    }
  }
  if (await spec.isServe()) return {name, status: 'ok', detail: `${label} is held by serve`}
  const listening =
    outcomes.includes('in-use') ||
    (await tcpConnect(address, port, CONNECT_TIMEOUT_MS).then(
      () => true,
      () => false,
    ))
  if (listening) return {name, status: 'fail', detail: `${label} is used by another program`, fix: spec.taken}
  if (outcomes.includes('denied')) {
    return {
      name,
      status: 'warn',
      detail: `${label} looks free, but binding port ${port} needs privilege`,
      fix: `run serve with sudo, or use ${spec.portFlag} (see README "Ports below 1024")`,
    }
  }
  return {
    name,
    status: 'warn',
    detail: `could not test-bind ${label}`,
    fix: `use ${spec.portFlag} if serve cannot bind it`,
  }
}

/** Check 4a: serve can bind its DNS port, or already holds it. */
export function checkDnsPort(o: DoctorOptions): Promise<CheckResult> {
  const at = hostPort(o.dnsAddress, o.dnsPort)
  return checkPort({
    name: 'dns-port',
    address: o.dnsAddress,
    port: o.dnsPort,
    protocols: ['udp', 'tcp'],
    isServe: () => answersAsServe(o.dnsAddress, o.dnsPort, o.domain, o.timeoutMs ?? CONNECT_TIMEOUT_MS),
    taken: `find it with \`${whoHolds(o.dnsPort, 'udp')}\` and stop it, or use --dns-port 5353 for serve, dns-setup and doctor (systemd-resolved's stub on 127.0.0.53 is fine, but ${at} must be free)`,
    portFlag: '--dns-port 5353',
  })
}

/** Check 4b: serve can bind its HTTP port, or already holds it. */
export function checkHttpPort(o: DoctorOptions): Promise<CheckResult> {
  return checkPort({
    name: 'http-port',
    address: o.dnsAddress,
    port: o.httpPort,
    protocols: ['tcp'],
    isServe: () => answersAsServeHttp(o.dnsAddress, o.httpPort, o.timeoutMs ?? CONNECT_TIMEOUT_MS),
    taken: `find it with \`${whoHolds(o.httpPort, 'tcp')}\` and stop it, or use --http-port 8080 for serve and doctor`,
    portFlag: '--http-port 8080',
  })
}

/** Runs every check (independent ones concurrently) and returns them in a fixed order. */
export async function runChecks(cluster: ClusterOutcome, o: DoctorOptions): Promise<CheckResult[]> {
  const clusterResult = checkCluster(cluster)
  const plan = 'plan' in cluster ? cluster.plan : undefined
  const skipped = (name: CheckName): CheckResult => ({name, status: 'skip', detail: 'needs the cluster'})
  const name = plan ? pickProbeName(plan) : undefined
  // Ports first: a test bind of a free DNS port would swallow the responder check's query.
  const ports = [await checkDnsPort(o), await checkHttpPort(o)]
  const [dnsChecks, nodes] = await Promise.all([
    (async () => {
      if (!plan) return [skipped('responder'), skipped('os-resolver')]
      const responder = await checkResponder(name, o)
      return [responder.result, await checkOsResolver(name, responder.addresses, o)]
    })(),
    plan ? checkNodes(plan, o) : Promise.resolve(skipped('nodes')),
  ])
  return [clusterResult, ...dnsChecks, nodes, ...ports]
}

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
    lines.push(`${STATUS_LABEL[c.status].padEnd(5)} ${c.name.padEnd(width)}  ${c.detail}`)
    if (c.fix && (c.status === 'fail' || c.status === 'warn')) lines.push(`${' '.repeat(width + 8)}fix: ${c.fix}`)
  }
  return lines.join('\n')
}
