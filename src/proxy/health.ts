// Active health checks of node targets, shared by every route that uses the same probe, plus passive failures
// reported by live traffic. Thresholds follow cloud-provider-kind's Envoy cluster (lb-detection.md §3.1):
// 2 consecutive failures mark a target down, 1 success marks it up.
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
}

/** Events: `change` on every state transition (for "target up/down" logs), `result` after every probe run. */
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
  state: HealthState
  failures: number
  successes: number
  timer?: NodeJS.Timeout
  /** Aborts the run in flight, if any. */
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
      const entry: Entry = {probe: {...probe}, state: 'unknown', failures: 0, successes: 0, removed: false}
      this.entries.set(key, entry)
      this.run(entry)
    }
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
    entry.state = to
    this.emit('change', entry.probe, from, to)
  }

  private stop(entry: Entry): void {
    entry.removed = true
    if (entry.timer) clearTimeout(entry.timer)
    entry.timer = undefined
    entry.cancel?.()
    entry.cancel = undefined
  }
}

/** One probe run: resolves true when healthy, false otherwise; never rejects. `cancel` resolves it false. */
function check(probe: Probe, timeoutMs: number): {promise: Promise<boolean>; cancel: () => void} {
  let cancel = (): void => {}
  const promise = new Promise<boolean>((resolve) => {
    let done = false
    const finish = (ok: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      cleanup()
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false), timeoutMs).unref()
    let cleanup: () => void
    if (probe.kind === 'tcp') {
      const socket = net.connect({host: probe.address, port: probe.port})
      socket.on('connect', () => finish(true))
      socket.on('error', () => finish(false))
      cleanup = () => socket.destroy()
    } else {
      // kube-proxy's per-Service healthCheckNodePort answers any path, its node health server on 10256 only
      // /healthz and /livez (lb-detection.md §2.6): /healthz suits both. Only the status code counts.
      const request = http.get({
        host: probe.address,
        port: probe.port,
        path: HEALTHZ_PATH,
        agent: false,
        headers: {'user-agent': 'kubectl-expose-lb health check'},
      })
      request.on('response', (response) => {
        response.resume()
        finish(response.statusCode === 200)
      })
      request.on('error', () => finish(false))
      cleanup = () => request.destroy()
    }
    cancel = () => finish(false)
  })
  return {promise, cancel}
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`)
  return value
}
