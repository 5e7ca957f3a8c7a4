// Active health checks of node targets, shared by every route that uses the same probe, plus passive failures
// reported by live traffic. Thresholds follow cloud-provider-kind's Envoy cluster health check
// (kubernetes-sigs/cloud-provider-kind pkg/loadbalancer/proxy.go): 2 consecutive failures mark a target down,
// 1 success marks it up.
//
// With `nodeHealthPort` (kube-proxy's 10256), connect probes of one node are grouped: one GET /healthz per node
// and round decides them all, as cloud-provider-kind probes externalTrafficPolicy Cluster targets, so idle cost
// grows with nodes, not with Services × ports. Where the node does not answer on that port (firewalled, or
// Cilium's kube-proxy replacement), the group falls back to a TCP connect per NodePort, and tries /healthz again
// now and then.
//
// Memory: a large cluster has hundreds of thousands of probes (2,000 Services × 3 ports × 50 nodes = 300,000), so
// each one is a small integer in its node's port table (./port-table.ts: two typed arrays, not a Map) rather than
// an object with a key string of its own.
import {EventEmitter} from 'node:events'
import net from 'node:net'

import {HealthzClient} from './healthz-client.js'
import {PortTable} from './port-table.js'
import {probeKey, type HealthState, type Probe, type ProbedTarget} from '../servemap/types.js'

/** What health is asked about: a probe, or a target, whose probe is its own `probe` or a connect to itself. */
export type HealthSubject = Probe | ProbedTarget

/** What the data path needs from health checking; `HealthMonitor` implements it, tests may pass a fake. */
export interface TargetHealth {
  isHealthy(subject: HealthSubject): boolean
  /** Live traffic could not connect to the target: mark it down now rather than after two probe runs. */
  reportFailure(subject: HealthSubject): void
}

export interface HealthMonitorOptions {
  /** Pause between the end of one run of a probe and the start of the next. */
  intervalMs?: number
  /** Per-run limit for the TCP connect or the HTTP response headers. */
  timeoutMs?: number
  /** Consecutive failures that take an `up` target down (at most 255). */
  unhealthyThreshold?: number
  /** Consecutive successes that bring a `down` target up (at most 255). */
  healthyThreshold?: number
  /** Node health port answering GET /healthz (kube-proxy: 10256); unset: every probe runs on its own. */
  nodeHealthPort?: number
}

/** Rounds between fresh tries of /healthz on a node that did not answer it. */
const HEALTHZ_RETRY_ROUNDS = 15

/** Connect probes per node and round when the node has no health server (see runGroup). */
const FALLBACK_PROBES_PER_ROUND = 32

/**
 * Events: `change` on every state transition (for "target up/down" logs); `result` after every probe run (for a
 * node-level /healthz round, only for the probes whose state it moves).
 */
export interface HealthEvents {
  change: [probe: Probe, from: HealthState, to: HealthState]
  result: [probe: Probe, ok: boolean, state: HealthState]
}

const DEFAULT_INTERVAL_MS = 2000 // cloud-provider-kind's Envoy health_check interval: 2s
const DEFAULT_TIMEOUT_MS = 1500 // shorter than the interval, so a black-holed node is noticed within one period
const DEFAULT_UNHEALTHY_THRESHOLD = 2 // Envoy unhealthy_threshold in cloud-provider-kind
const DEFAULT_HEALTHY_THRESHOLD = 1 // Envoy healthy_threshold in cloud-provider-kind
const HEALTHZ_PATH = '/healthz' // kube-proxy: pkg/proxy/healthcheck/proxy_health.go

type Kind = Probe['kind']
const KINDS: Kind[] = ['tcp', 'http']

// One probe's health packed in an integer: bits 0–1 the state, 2–9 consecutive failures, 10–17 consecutive
// successes (both saturate at COUNT_MAX).
const STATES: HealthState[] = ['unknown', 'up', 'down']
const COUNT_MAX = 255
const UNKNOWN = 0

interface Health {
  state: HealthState
  failures: number
  successes: number
}

function pack({state, failures, successes}: Health): number {
  return STATES.indexOf(state) | (Math.min(failures, COUNT_MAX) << 2) | (Math.min(successes, COUNT_MAX) << 10)
}

/** The state alone, read from the bits: unpack makes an object, and some loops read every probe of a node. */
function stateOf(packed: number): HealthState {
  return STATES[packed & 3]!
}

function failuresOf(packed: number): number {
  return (packed >> 2) & COUNT_MAX
}

function unpack(packed: number): Health {
  return {state: stateOf(packed), failures: failuresOf(packed), successes: (packed >> 10) & COUNT_MAX}
}

/**
 * Whether a grouped probe already shows the node's verdict, so a round with the same verdict has nothing to do.
 * Checked for every port probed on a node (2,500 at issue 20's scale, on 100 nodes for each Service change).
 */
function settled(packed: number, verdict: boolean): boolean {
  const state = stateOf(packed)
  return verdict ? state === 'up' && failuresOf(packed) === 0 : state === 'down'
}

/** Every probe of one node address, and the node's /healthz round that decides the grouped ones. */
interface NodeProbes {
  address: string
  /** Probed port → packed health, per probe kind. */
  ports: Record<Kind, PortTable>
  /** Whether /healthz answered on the last try; undefined before the first. */
  healthz?: boolean
  roundsSinceHealthz: number
  /** /healthz's verdict in the last round (200 or not); undefined when the round fell back to connects. */
  verdict?: boolean
  /** Some grouped probe may not show the verdict yet (new, reported failed, decided by a connect). */
  unsettled: boolean
  running: boolean
  /** Where the next fallback round starts among the node's connect probes. */
  cursor: number
  timer?: NodeJS.Timeout
  /** Aborts the round in flight, if any. */
  cancel?: () => void
  removed: boolean
  /** Asks /healthz over a connection kept between rounds (made on the first). */
  healthzClient?: HealthzClient
}

/** A probe that runs on its own timer (not decided by its node's /healthz). */
interface Runner {
  probe: Probe
  timer?: NodeJS.Timeout
  cancel?: () => void
  removed: boolean
}

/** The subject's probe, without allocating: a probe itself, a target's own probe, or the target (a connect). */
function probeParts(subject: HealthSubject): {kind: Kind; at: {address: string; port: number}} {
  if ('kind' in subject) return {kind: subject.kind, at: subject}
  return subject.probe ? {kind: subject.probe.kind, at: subject.probe} : {kind: 'tcp', at: subject}
}

/**
 * Runs each distinct probe once however many routes use it: grouped per node where the node health port answers,
 * otherwise on its own unref'd timer. Runs of one probe or node never overlap (the next is scheduled when the
 * previous one ends).
 */
export class HealthMonitor extends EventEmitter<HealthEvents> implements TargetHealth {
  private readonly nodes = new Map<string, NodeProbes>()
  private readonly runners = new Map<string, Runner>()
  /** Probes still `unknown` (no result yet). */
  private unknown = 0
  private readonly nodeHealthPort: number | undefined
  private readonly intervalMs: number
  private readonly timeoutMs: number
  private readonly unhealthyThreshold: number
  private readonly healthyThreshold: number
  private closed = false

  constructor(options: HealthMonitorOptions = {}) {
    super()
    this.intervalMs = positive('intervalMs', options.intervalMs ?? DEFAULT_INTERVAL_MS)
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    this.unhealthyThreshold = count('unhealthyThreshold', options.unhealthyThreshold ?? DEFAULT_UNHEALTHY_THRESHOLD)
    this.healthyThreshold = count('healthyThreshold', options.healthyThreshold ?? DEFAULT_HEALTHY_THRESHOLD)
    this.nodeHealthPort = options.nodeHealthPort
  }

  /** Replaces the set of probes: new ones start `unknown` and run at once, removed ones stop, kept ones keep state. */
  setProbes(subjects: Iterable<HealthSubject>): void {
    const wanted = new Set<string>()
    const added: HealthSubject[] = []
    for (const subject of subjects) {
      const {kind, at} = probeParts(subject)
      const key = `${kind} ${at.address} ${at.port}`
      if (wanted.has(key)) continue
      wanted.add(key)
      if (!this.nodes.get(at.address)?.ports[kind].has(at.port)) added.push(subject)
    }
    const removed: Probe[] = []
    for (const [address, node] of this.nodes) {
      for (const kind of KINDS) {
        for (const port of node.ports[kind].portList()) {
          if (!wanted.has(`${kind} ${address} ${port}`)) removed.push({kind, address, port})
        }
      }
    }
    this.changeProbes(added, removed)
  }

  /**
   * Adds and removes probes, visiting only those: serve's loop passes what one change added and removed
   * (src/serve/probe-set.ts) rather than every probe. A probe in both lists is kept; a node left without probes
   * stops. New probes start `unknown` and run at once; kept ones keep their state.
   */
  changeProbes(added: Iterable<HealthSubject>, removed: Iterable<HealthSubject>): void {
    if (this.closed) return
    const joined = new Set<NodeProbes>()
    const gone = new Set<string>()
    for (const subject of removed) {
      const {kind, at} = probeParts(subject)
      gone.add(`${kind} ${at.address} ${at.port}`)
    }
    for (const subject of added) {
      const {kind, at} = probeParts(subject)
      gone.delete(`${kind} ${at.address} ${at.port}`)
      const node = this.nodes.get(at.address) ?? this.addNode(at.address)
      if (node.ports[kind].has(at.port)) continue
      node.ports[kind].set(at.port, UNKNOWN)
      this.unknown++
      if (!this.grouped(kind, at.port)) this.startRunner({kind, address: at.address, port: at.port})
      else joined.add(node)
    }
    const emptied = new Set<NodeProbes>()
    for (const key of gone) {
      const [kind, address = '', port] = key.split(' ') as [Kind, string, string]
      const node = this.nodes.get(address)
      const packed = node?.ports[kind].get(Number(port))
      if (!node || packed === undefined) continue
      node.ports[kind].delete(Number(port))
      if (stateOf(packed) === 'unknown') this.unknown--
      if (!this.grouped(kind, Number(port))) this.stopRunner({kind, address, port: Number(port)})
      if (node.ports.tcp.size + node.ports.http.size === 0) emptied.add(node)
    }
    for (const node of emptied) {
      this.stopNode(node)
      this.nodes.delete(node.address)
    }
    for (const node of joined) {
      if (emptied.has(node)) continue
      node.unsettled = true
      if (node.verdict !== undefined && !node.running) this.applyVerdict(node, node.verdict)
      if (!node.timer && !node.running) this.runGroup(node)
    }
  }

  /** Probes without a first result yet (start-up waits briefly for this to reach 0). */
  get pending(): number {
    return this.unknown
  }

  /** Number of distinct probes being run. */
  get size(): number {
    let size = 0
    for (const node of this.nodes.values()) size += node.ports.tcp.size + node.ports.http.size
    return size
  }

  state(subject: HealthSubject): HealthState {
    const {kind, at} = probeParts(subject)
    const packed = this.nodes.get(at.address)?.ports[kind].get(at.port)
    return packed === undefined ? 'unknown' : stateOf(packed)
  }

  /** Anything not known to be down is routable: `unknown` included, and probes this monitor does not run. */
  isHealthy(subject: HealthSubject): boolean {
    return this.state(subject) !== 'down'
  }

  reportFailure(subject: HealthSubject): void {
    const {kind, at} = probeParts(subject)
    const node = this.nodes.get(at.address)
    const packed = node?.ports[kind].get(at.port)
    if (!node || packed === undefined) return
    const from = stateOf(packed)
    if (from === 'down') return
    node.ports[kind].set(at.port, pack({state: 'down', failures: this.unhealthyThreshold, successes: 0}))
    node.unsettled = true
    this.changed({kind, address: at.address, port: at.port}, from, 'down')
  }

  /** Stops every timer and aborts runs in flight. */
  close(): void {
    this.closed = true
    for (const node of this.nodes.values()) this.stopNode(node)
    for (const runner of this.runners.values()) this.halt(runner)
    this.nodes.clear()
    this.runners.clear()
    this.unknown = 0
  }

  /** Connect probes, and probes of the node health port itself, are decided per node when grouping is on. */
  private grouped(kind: Kind, port: number): boolean {
    if (this.nodeHealthPort === undefined) return false
    return kind === 'tcp' || port === this.nodeHealthPort
  }

  private hasGrouped(node: NodeProbes): boolean {
    if (this.nodeHealthPort === undefined) return false
    return node.ports.tcp.size > 0 || node.ports.http.has(this.nodeHealthPort)
  }

  private addNode(address: string): NodeProbes {
    const node: NodeProbes = {
      address,
      ports: {tcp: new PortTable(), http: new PortTable()},
      roundsSinceHealthz: 0,
      unsettled: false,
      running: false,
      cursor: 0,
      removed: false,
    }
    this.nodes.set(address, node)
    return node
  }

  private runGroup(node: NodeProbes): void {
    node.timer = undefined
    node.running = true
    const tryHealthz = node.healthz !== false || node.roundsSinceHealthz >= HEALTHZ_RETRY_ROUNDS
    const round = async (): Promise<void> => {
      if (tryHealthz) {
        node.roundsSinceHealthz = 0
        node.healthzClient ??= new HealthzClient(node.address, this.nodeHealthPort!, HEALTHZ_PATH)
        const healthz = node.healthzClient.request(this.timeoutMs)
        node.cancel = healthz.cancel
        const status = await healthz.promise
        if (node.removed || this.closed) return
        node.healthz = status !== undefined
        const verdict = status === undefined ? undefined : status === 200
        const changed = verdict !== node.verdict
        node.verdict = verdict
        if (verdict !== undefined) {
          // Idle cost: a round that repeats the last verdict over settled probes visits none of them.
          if (changed || node.unsettled) this.applyVerdict(node, verdict)
          return
        }
      } else {
        node.roundsSinceHealthz++
        node.verdict = undefined
      }
      node.unsettled = true
      // No node health server: NodePorts are probed by a connect, at most FALLBACK_PROBES_PER_ROUND of them per
      // node and round, in turn, so a node with thousands of ports (or a dead one) costs a bounded amount; live
      // traffic still marks a port down at once.
      const ports = node.ports.tcp.portList()
      const batch =
        ports.length <= FALLBACK_PROBES_PER_ROUND ? ports : rotate(ports, node.cursor, FALLBACK_PROBES_PER_ROUND)
      node.cursor = (node.cursor + batch.length) % Math.max(1, ports.length)
      const runs = batch.map((port) => ({port, ...check({kind: 'tcp', address: node.address, port}, this.timeoutMs)}))
      node.cancel = () => runs.forEach((run) => run.cancel())
      const results = await Promise.all(
        runs.map(async ({port, promise}) => {
          const ok = await promise
          this.decide(node, 'tcp', port, ok)
          return ok
        }),
      )
      // Probes of the health port itself (UDP targets) have nothing of their own to connect to: they follow the
      // node's NodePorts (any answering → reachable; all refusing → down), and without any stay as they are.
      if (results.length > 0) {
        const reachable = results.some(Boolean)
        for (const port of node.ports.http.portList())
          if (this.grouped('http', port)) this.decide(node, 'http', port, reachable)
      }
    }
    void round().then(() => {
      node.cancel = undefined
      node.running = false
      // A node left with only probes of their own (healthCheckNodePort) needs no rounds until one joins again.
      if (node.removed || this.closed || !this.hasGrouped(node)) return
      node.timer = setTimeout(() => this.runGroup(node), this.intervalMs).unref()
    })
  }

  /** Records the node's /healthz verdict for every grouped probe not already showing it. */
  private applyVerdict(node: NodeProbes, verdict: boolean): void {
    let unsettled = false
    for (const kind of KINDS) {
      const ports = node.ports[kind]
      ports.forEach((packed, port) => {
        if (!this.grouped(kind, port) || settled(packed, verdict)) return
        this.record(node, kind, port, verdict)
        if (!settled(ports.get(port)!, verdict)) unsettled = true
      })
    }
    node.unsettled = unsettled
  }

  private decide(node: NodeProbes, kind: Kind, port: number, ok: boolean): void {
    if (!node.removed && !this.closed) this.record(node, kind, port, ok)
  }

  private startRunner(probe: Probe): void {
    const runner: Runner = {probe, removed: false}
    this.runners.set(probeKey(probe), runner)
    this.run(runner)
  }

  private run(runner: Runner): void {
    runner.timer = undefined
    const {promise, cancel} = check(runner.probe, this.timeoutMs)
    runner.cancel = cancel
    void promise.then((ok) => {
      runner.cancel = undefined
      if (runner.removed || this.closed) return
      const node = this.nodes.get(runner.probe.address)
      if (node) this.record(node, runner.probe.kind, runner.probe.port, ok)
      if (runner.removed || this.closed) return // a listener may have closed us
      runner.timer = setTimeout(() => this.run(runner), this.intervalMs).unref()
    })
  }

  private record(node: NodeProbes, kind: Kind, port: number, ok: boolean): void {
    const packed = node.ports[kind].get(port)
    if (packed === undefined) return // no longer wanted
    const health = unpack(packed)
    const from = health.state
    if (ok) {
      health.failures = 0
      health.successes++
      // With no history, the first result decides; afterwards the thresholds apply.
      if (from === 'unknown' || (from === 'down' && health.successes >= this.healthyThreshold)) health.state = 'up'
    } else {
      health.successes = 0
      health.failures++
      if (from === 'unknown' || (from === 'up' && health.failures >= this.unhealthyThreshold)) health.state = 'down'
    }
    node.ports[kind].set(port, pack(health))
    const wantsProbe = from !== health.state || this.listenerCount('result') > 0
    if (!wantsProbe) return
    const probe: Probe = {kind, address: node.address, port}
    if (from !== health.state) this.changed(probe, from, health.state)
    this.emit('result', probe, ok, health.state)
  }

  private changed(probe: Probe, from: HealthState, to: HealthState): void {
    if (from === 'unknown') this.unknown--
    this.emit('change', probe, from, to)
  }

  private stopNode(node: NodeProbes): void {
    node.removed = true
    if (node.timer) clearTimeout(node.timer)
    node.timer = undefined
    node.cancel?.()
    node.healthzClient?.close()
  }

  private stopRunner(probe: Probe): void {
    const key = probeKey(probe)
    const runner = this.runners.get(key)
    if (!runner) return
    this.halt(runner)
    this.runners.delete(key)
  }

  private halt(runner: Runner): void {
    runner.removed = true
    if (runner.timer) clearTimeout(runner.timer)
    runner.timer = undefined
    runner.cancel?.()
  }
}

/** `count` items of `items` starting at `start`, wrapping around. */
function rotate<T>(items: T[], start: number, count: number): T[] {
  return Array.from({length: count}, (_, i) => items[(start + i) % items.length]!)
}

/** One probe run: resolves true when healthy, false otherwise; never rejects. `cancel` resolves it false. */
function check(probe: Probe, timeoutMs: number): {promise: Promise<boolean>; cancel: () => void} {
  if (probe.kind === 'http') {
    // kube-proxy's per-Service healthCheckNodePort answers any path, its node health server on 10256 only
    // /healthz and /livez (kubernetes/kubernetes pkg/proxy/healthcheck/service_health.go and proxy_health.go):
    // /healthz suits both. Only the status code counts.
    // A connection per run, ended at the status line: a raw request rather than Node's HTTP client, which probes
    // running a few times a second keep in the interpreter, where it cost several times more (README "Performance").
    const client = new HealthzClient(probe.address, probe.port, HEALTHZ_PATH, false)
    const {promise, cancel} = client.request(timeoutMs)
    return {promise: promise.then((status) => status === 200), cancel}
  }
  let cancel = (): void => {}
  const promise = new Promise<boolean>((resolve) => {
    const socket = net.connect({host: probe.address, port: probe.port})
    const finish = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok) // later calls are no-ops: a promise settles once
    }
    const timer = setTimeout(() => finish(false), timeoutMs).unref()
    socket.on('connect', () => finish(true))
    socket.on('error', () => finish(false))
    cancel = () => finish(false)
  })
  return {promise, cancel}
}

function count(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > COUNT_MAX)
    throw new RangeError(`${name} must be a whole number from 1 to ${COUNT_MAX}, got ${value}`)
  return value
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`)
  return value
}
