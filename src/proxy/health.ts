// Active health checks of node targets, shared by every route that uses the same probe, plus passive failures
// reported by live traffic. Thresholds follow cloud-provider-kind's Envoy cluster (lb-detection.md §3.1):
// 2 consecutive failures mark a target down, 1 success marks it up.
//
// With `nodeHealthPort` (kube-proxy's 10256), connect probes of one node are grouped: one GET /healthz per node
// and round decides them all, as cloud-provider-kind probes externalTrafficPolicy Cluster targets, so idle cost
// grows with nodes, not with Services × ports. Where the node does not answer on that port (firewalled, or
// Cilium's kube-proxy replacement), the group falls back to a TCP connect per NodePort, and tries /healthz again
// now and then.
import {EventEmitter} from 'node:events'
import http from 'node:http'
import net from 'node:net'

import type {Probe} from '../serve/types.js'

/** `unknown` until the first result: counts as healthy, so a fresh start routes at once. */
export type HealthState = 'up' | 'down' | 'unknown'

/** What the data path needs from health checking; `HealthMonitor` implements it, tests may pass a fake. */
export interface TargetHealth {
  isHealthy(probe: Probe): boolean
  /** Live traffic could not connect to the probe's target: mark it down now rather than after two probe runs. */
  reportFailure(probe: Probe): void
}

export interface HealthMonitorOptions {
  /** Pause between the end of one run of a probe and the start of the next. */
  intervalMs?: number
  /** Per-run limit for the TCP connect or the HTTP response headers. */
  timeoutMs?: number
  /** Consecutive failures that take an `up` target down. */
  unhealthyThreshold?: number
  /** Consecutive successes that bring a `down` target up. */
  healthyThreshold?: number
  /** Node health port answering GET /healthz (kube-proxy: 10256); unset: every probe runs on its own. */
  nodeHealthPort?: number
}

/** Rounds between fresh tries of /healthz on a node that did not answer it. */
const HEALTHZ_RETRY_ROUNDS = 15

/** Connect probes per node and round when the node has no health server (see runGroup). */
const FALLBACK_PROBES_PER_ROUND = 32

/** `count` items of `items` starting at `start`, wrapping around. */
function rotate<T>(items: T[], start: number, count: number): T[] {
  return Array.from({length: count}, (_, i) => items[(start + i) % items.length]!)
}

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

interface Entry {
  probe: Probe
  /** The node group deciding this probe, when grouped (no timer of its own then). */
  group?: NodeGroup
  state: HealthState
  failures: number
  successes: number
  timer?: NodeJS.Timeout
  /** Aborts the run in flight, if any. */
  cancel?: () => void
  removed: boolean
}

/** Grouped probes of one node address, decided together by the node's /healthz where it answers. */
interface NodeGroup {
  address: string
  members: Set<Entry>
  /** Whether /healthz answered on the last try; undefined before the first. */
  healthz?: boolean
  roundsSinceHealthz: number
  /** /healthz's verdict in the last round (200 or not); undefined when the round fell back to connects. */
  verdict?: boolean
  running: boolean
  /** Where the next fallback round starts among the members. */
  cursor: number
  timer?: NodeJS.Timeout
  cancel?: () => void
  removed: boolean
}

/** One key per unique (kind, address, port): routes sharing a probe share its timer and its state. */
export function probeKey(probe: Probe): string {
  const host = probe.address.includes(':') ? `[${probe.address}]` : probe.address
  return `${probe.kind}://${host}:${probe.port}`
}

/**
 * Runs each distinct probe on its own unref'd timer: probes of different targets run concurrently, runs of one
 * probe never overlap (the next run is scheduled when the previous one ends). Idle cost grows with the number of
 * distinct probes, not with the number of routes.
 */
export class HealthMonitor extends EventEmitter<HealthEvents> implements TargetHealth {
  private readonly entries = new Map<string, Entry>()
  private readonly groups = new Map<string, NodeGroup>()
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
    this.unhealthyThreshold = positive('unhealthyThreshold', options.unhealthyThreshold ?? DEFAULT_UNHEALTHY_THRESHOLD)
    this.healthyThreshold = positive('healthyThreshold', options.healthyThreshold ?? DEFAULT_HEALTHY_THRESHOLD)
    this.nodeHealthPort = options.nodeHealthPort
  }

  /** Replaces the set of probes: new ones start `unknown` and run at once, removed ones stop, kept ones keep state. */
  setProbes(probes: Probe[]): void {
    if (this.closed) return
    const wanted = new Map<string, Probe>()
    for (const probe of probes) wanted.set(probeKey(probe), probe)
    for (const [key, entry] of this.entries) {
      if (!wanted.has(key)) {
        this.stop(entry)
        this.entries.delete(key)
      }
    }
    for (const [key, probe] of wanted) {
      if (this.entries.has(key)) continue
      const entry: Entry = {probe, state: 'unknown', failures: 0, successes: 0, removed: false}
      this.entries.set(key, entry)
      this.unknown++
      if (this.groupable(probe)) this.join(entry)
      else this.run(entry)
    }
  }

  /** Connect probes, and probes of the node health port itself, are decided per node when grouping is on. */
  private groupable(probe: Probe): boolean {
    if (this.nodeHealthPort === undefined) return false
    return probe.kind === 'tcp' || probe.port === this.nodeHealthPort
  }

  private join(entry: Entry): void {
    let group = this.groups.get(entry.probe.address)
    if (!group) {
      group = {
        address: entry.probe.address,
        members: new Set(),
        roundsSinceHealthz: 0,
        running: false,
        removed: false,
        cursor: 0,
      }
      this.groups.set(group.address, group)
    }
    group.members.add(entry)
    entry.group = group
    // A new member of a node whose /healthz already answered takes that verdict now rather than at the next round.
    if (group.verdict !== undefined && !group.running) this.decide(entry, group.verdict)
    if (!group.timer && !group.running) this.runGroup(group)
  }

  private runGroup(group: NodeGroup): void {
    group.timer = undefined
    group.running = true
    const tryHealthz = group.healthz !== false || group.roundsSinceHealthz >= HEALTHZ_RETRY_ROUNDS
    const round = async (): Promise<void> => {
      if (tryHealthz) {
        group.roundsSinceHealthz = 0
        const healthz = requestStatus(
          {kind: 'http', address: group.address, port: this.nodeHealthPort!},
          this.timeoutMs,
        )
        group.cancel = healthz.cancel
        const status = await healthz.promise
        group.healthz = status !== undefined
        group.verdict = status === undefined ? undefined : status === 200
        if (group.verdict !== undefined) {
          const steady: HealthState = group.verdict ? 'up' : 'down'
          for (const member of group.members) {
            // Idle cost: a member already in the verdict's steady state needs no work (and no `result` event).
            if (member.state === steady && (steady === 'down' || member.failures === 0)) continue
            this.decide(member, group.verdict)
          }
          return
        }
      } else {
        group.roundsSinceHealthz++
        group.verdict = undefined
      }
      // No node health server: NodePorts are probed by a connect, at most FALLBACK_PROBES_PER_ROUND of them per
      // node and round, in turn, so a node with thousands of ports (or a dead one) costs a bounded amount; live
      // traffic still marks a port down at once.
      const members = [...group.members]
      const batch =
        members.length <= FALLBACK_PROBES_PER_ROUND ? members : rotate(members, group.cursor, FALLBACK_PROBES_PER_ROUND)
      group.cursor = (group.cursor + batch.length) % Math.max(1, members.length)
      const results = await Promise.all(
        batch
          .filter((member) => member.probe.kind === 'tcp')
          .map(async (member) => {
            const {promise, cancel} = check(member.probe, this.timeoutMs)
            member.cancel = cancel
            const ok = await promise
            member.cancel = undefined
            this.decide(member, ok)
            return ok
          }),
      )
      // Probes of the health port itself (UDP targets) have nothing of their own to connect to: they follow the
      // node's NodePorts (any answering → reachable; all refusing → down), and without any stay as they are.
      if (results.length > 0) {
        const reachable = results.some(Boolean)
        for (const member of group.members) if (member.probe.kind !== 'tcp') this.decide(member, reachable)
      }
    }
    void round().then(() => {
      group.cancel = undefined
      group.running = false
      if (group.removed || this.closed) return
      group.timer = setTimeout(() => this.runGroup(group), this.intervalMs).unref()
    })
  }

  private decide(entry: Entry, ok: boolean): void {
    if (!entry.removed && !this.closed) this.record(entry, ok)
  }

  /** Probes without a first result yet (start-up waits briefly for this to reach 0). */
  get pending(): number {
    return this.unknown
  }

  /** Number of distinct probes being run. */
  get size(): number {
    return this.entries.size
  }

  state(probe: Probe): HealthState {
    return this.entries.get(probeKey(probe))?.state ?? 'unknown'
  }

  /** Anything not known to be down is routable: `unknown` included, and probes this monitor does not run. */
  isHealthy(probe: Probe): boolean {
    return this.state(probe) !== 'down'
  }

  reportFailure(probe: Probe): void {
    const entry = this.entries.get(probeKey(probe))
    if (!entry || entry.state === 'down') return
    entry.successes = 0
    entry.failures = this.unhealthyThreshold
    this.transition(entry, 'down')
  }

  /** Stops every timer and aborts runs in flight. */
  close(): void {
    this.closed = true
    for (const entry of this.entries.values()) this.stop(entry)
    this.entries.clear()
    this.groups.clear()
    this.unknown = 0
  }

  private run(entry: Entry): void {
    entry.timer = undefined
    const {promise, cancel} = check(entry.probe, this.timeoutMs)
    entry.cancel = cancel
    void promise.then((ok) => {
      entry.cancel = undefined
      if (entry.removed || this.closed) return
      this.record(entry, ok)
      if (entry.removed || this.closed) return // a listener may have closed us
      entry.timer = setTimeout(() => this.run(entry), this.intervalMs).unref()
    })
  }

  private record(entry: Entry, ok: boolean): void {
    if (ok) {
      entry.failures = 0
      entry.successes++
      // With no history, the first result decides; afterwards the thresholds apply.
      if (entry.state === 'unknown' || (entry.state === 'down' && entry.successes >= this.healthyThreshold)) {
        this.transition(entry, 'up')
      }
    } else {
      entry.successes = 0
      entry.failures++
      if (entry.state === 'unknown' || (entry.state === 'up' && entry.failures >= this.unhealthyThreshold)) {
        this.transition(entry, 'down')
      }
    }
    this.emit('result', entry.probe, ok, entry.state)
  }

  private transition(entry: Entry, to: HealthState): void {
    const from = entry.state
    if (from === to) return
    if (from === 'unknown') this.unknown--
    entry.state = to
    this.emit('change', entry.probe, from, to)
  }

  private stop(entry: Entry): void {
    if (!entry.removed && entry.state === 'unknown') this.unknown--
    entry.removed = true
    const group = entry.group
    if (group) {
      group.members.delete(entry)
      if (group.members.size === 0) {
        group.removed = true
        if (group.timer) clearTimeout(group.timer)
        group.cancel?.()
        this.groups.delete(group.address)
      }
    }
    if (entry.timer) clearTimeout(entry.timer)
    entry.timer = undefined
    entry.cancel?.()
    entry.cancel = undefined
  }
}

/** GET /healthz: the status code, or undefined when no HTTP answer came (refused, reset, timeout, cancelled). */
function requestStatus(probe: Probe, timeoutMs: number): {promise: Promise<number | undefined>; cancel: () => void} {
  let cancel = (): void => {}
  const promise = new Promise<number | undefined>((resolve) => {
    let done = false
    const finish = (status: number | undefined): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      request.destroy()
      resolve(status)
    }
    const timer = setTimeout(() => finish(undefined), timeoutMs).unref()
    const request = http.get({
      host: probe.address,
      port: probe.port,
      path: HEALTHZ_PATH,
      agent: false,
      headers: {'user-agent': 'kubectl-expose-lb health check'},
    })
    request.on('response', (response) => {
      response.resume()
      finish(response.statusCode)
    })
    request.on('error', () => finish(undefined))
    cancel = () => finish(undefined)
  })
  return {promise, cancel}
}

/** One probe run: resolves true when healthy, false otherwise; never rejects. `cancel` resolves it false. */
function check(probe: Probe, timeoutMs: number): {promise: Promise<boolean>; cancel: () => void} {
  if (probe.kind === 'http') {
    // kube-proxy's per-Service healthCheckNodePort answers any path, its node health server on 10256 only
    // /healthz and /livez (lb-detection.md §2.6): /healthz suits both. Only the status code counts.
    const {promise, cancel} = requestStatus(probe, timeoutMs)
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

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`)
  return value
}
