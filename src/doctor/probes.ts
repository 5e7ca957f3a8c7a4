// doctor's probes: the DNS queries, OS lookups, TCP connects, HTTP requests and test binds that find out what
// serve would meet on this workstation. What they find becomes a result in src/doctor/report.ts; the cluster is
// read by the command and handed in as a plan.
import dgram from 'node:dgram'
import {promises as dns} from 'node:dns'
import http from 'node:http'
import net from 'node:net'
import {currentOs, defaultStateFile, readState, spawnRunner} from '../dnssetup/apply.js'
import {encodeQuery, messageId, parseResponse, RCODE, TYPE} from '../dns/wire.js'
import {TimeoutError} from '../errors.js'
import {hostPort} from '../net/address.js'
import {bindProblem, describeErrno, errnoCode} from '../net/errno.js'
import type {Plan} from '../plan/types.js'
import {currentUser, serviceStatus} from '../service/apply.js'
import {
  checkCluster,
  dnsPortSpec,
  hostsResult,
  hostsToCheck,
  httpPortSpec,
  nodeProbes,
  nodesResult,
  osResolverResult,
  pickProbeName,
  portStep,
  responderResult,
  serviceResult,
  type BindOutcome,
  type CheckName,
  type CheckResult,
  type RecordedRouting,
  type ClusterOutcome,
  type DoctorOptions,
  type PortFindings,
  type PortSpec,
} from './report.js'

/** A node that does not answer a TCP connect within this long counts as unreachable. */
export const CONNECT_TIMEOUT_MS = 1500
const LOOKUP_TIMEOUT_MS = 5000

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
    return {result: responderResult(name, at, {addresses}), addresses}
  } catch (error) {
    return {result: responderResult(name, at, {error})}
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
  const lookup = o.lookup ?? osLookup
  const timeoutMs = o.lookupTimeoutMs ?? LOOKUP_TIMEOUT_MS
  let timer: NodeJS.Timeout | undefined
  try {
    const addresses = await Promise.race([
      lookup(name),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`looking up ${name}`, timeoutMs)), timeoutMs)
      }),
    ])
    return osResolverResult(name, expected, {addresses}, o)
  } catch (error) {
    return osResolverResult(name, expected, {error}, o)
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
  return nodesResult(outcomes)
}

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

/** A query for the SOA of `zone`, recursion not desired (RFC 1035 §4.1), as src/dns/wire.ts encodes it. */
export function soaQuery(id: number, zone: string): Buffer {
  const query = encodeQuery(id, zone, TYPE.SOA)
  return Buffer.from(query.buffer, query.byteOffset, query.length)
}

/** Whether `msg` answers query `id` authoritatively (AA) with NOERROR and an SOA record first: what serve does. */
export function isAuthoritativeSoa(msg: Uint8Array, id: number): boolean {
  const reply = parseResponse(msg)
  return reply?.id === id && reply.aa && reply.rcode === RCODE.NOERROR && reply.answerTypes[0] === TYPE.SOA
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
      if (messageId(msg) === id) done(isAuthoritativeSoa(msg, id))
    })
    socket.on('error', () => done(false))
    socket.send(soaQuery(id, zone), port, address)
  })
}

/**
 * An HTTP GET for a name no Service has: serve's router answers 404 with its JSON error (the list of names comes
 * only to loopback and zone names, and .invalid is neither).
 */
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
        // serve's 404 fits in far less; a program that never stops sending is cut off, not read forever.
        res.on('data', (d: string) => {
          body += d
          if (body.length > 65_536) req.destroy()
        })
        res.on('end', () => {
          try {
            const parsed = JSON.parse(body) as {error?: unknown; names?: unknown}
            resolve(
              res.statusCode === 404 &&
                typeof parsed.error === 'string' &&
                parsed.error.startsWith('no service is named ') &&
                (parsed.names === undefined || Array.isArray(parsed.names)),
            )
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

/** Test-binds the port, then runs only the probes portStep asks for. */
async function checkPort(spec: PortSpec, isServe: () => Promise<boolean>): Promise<CheckResult> {
  const found: PortFindings = {outcomes: []}
  for (const protocol of spec.protocols) found.outcomes.push(await tryBind(protocol, spec.address, spec.port))
  for (;;) {
    const step = portStep(spec, found)
    if ('result' in step) return step.result
    if (step.next === 'heldByServe') found.heldByServe = await isServe()
    else
      found.listening = await tcpConnect(spec.address, spec.port, CONNECT_TIMEOUT_MS).then(
        () => true,
        () => false,
      )
  }
}

/** Check 4a: serve can bind its DNS port, or already holds it. */
export function checkDnsPort(o: DoctorOptions): Promise<CheckResult> {
  return checkPort(dnsPortSpec(o, process.platform), () =>
    answersAsServe(o.dnsAddress, o.dnsPort, o.domain, o.timeoutMs ?? CONNECT_TIMEOUT_MS),
  )
}

/** Check 4b: serve can bind its HTTP port, or already holds it. */
export function checkHttpPort(o: DoctorOptions): Promise<CheckResult> {
  return checkPort(httpPortSpec(o, process.platform), () =>
    answersAsServeHttp(o.dnsAddress, o.httpPort, o.timeoutMs ?? CONNECT_TIMEOUT_MS),
  )
}

/** Check 5: serve is installed to run at login (`service install`) and runs. */
export async function checkService(o: DoctorOptions): Promise<CheckResult> {
  const os = currentOs()
  if (!os) return serviceResult({installed: false}, o)
  try {
    return serviceResult(await serviceStatus(os, currentUser(), {runner: spawnRunner}), o)
  } catch (error) {
    return serviceResult({error}, o)
  }
}

/** What dns-setup recorded (its default state file); undefined when it has not run or the file cannot be used. */
async function recordedRouting(): Promise<RecordedRouting | undefined> {
  try {
    const state = await readState(defaultStateFile())
    return state ? {domain: state.domain, hosts: state.hosts ?? []} : undefined
  } catch {
    // A damaged state file is dns-setup --undo's to report; the hosts check then knows nothing recorded.
    return undefined
  }
}

/** The hosts check (only when the cluster has Ingress or route hosts): serve's answer and the OS resolver's agree. */
async function checkHosts(plan: Plan, o: DoctorOptions): Promise<CheckResult[]> {
  const hosts = hostsToCheck(plan)
  if (!(plan.hosts ?? []).some((h) => h.service)) return []
  const outcomes = await Promise.all(
    hosts.map(async (host) => {
      const responder = await checkResponder(host, o)
      return {host, result: await checkOsResolver(host, responder.addresses, o)}
    }),
  )
  return [hostsResult(outcomes, {plan, recorded: await recordedRouting(), options: o})]
}

/** Runs every check (independent ones concurrently) and returns them in a fixed order. */
export async function runChecks(cluster: ClusterOutcome, o: DoctorOptions): Promise<CheckResult[]> {
  const clusterResult = checkCluster(cluster)
  const plan = 'plan' in cluster ? cluster.plan : undefined
  const skipped = (name: CheckName): CheckResult => ({name, status: 'skip', detail: 'needs the cluster'})
  const name = plan ? pickProbeName(plan) : undefined
  // Ports first: a test bind of a free DNS port would swallow the responder check's query.
  const ports = [await checkDnsPort(o), await checkHttpPort(o)]
  const [dnsChecks, nodes, service] = await Promise.all([
    (async () => {
      if (!plan) return [skipped('responder'), skipped('os-resolver')]
      const responder = await checkResponder(name, o)
      return [responder.result, await checkOsResolver(name, responder.addresses, o)]
    })(),
    plan ? checkNodes(plan, o) : Promise.resolve(skipped('nodes')),
    checkService(o),
  ])
  const hosts = plan ? await checkHosts(plan, o) : []
  return [clusterResult, ...dnsChecks, ...hosts, nodes, ...ports, service]
}
