// The set of per-Service TCP and UDP listeners, kept in step with the ServeMap by diffing: a change to one
// Service opens or closes only its own listeners, and kept listeners get new targets without losing a connection.
import {withChanges} from '../fitted.js'
import type {ForwardListener} from '../servemap/types.js'
import type {TargetHealth} from './health.js'
import type {AllowedHosts} from './host-check.js'
import {HostSplicer} from './host-splice.js'
import {DEFAULT_CONNECT_TIMEOUT_MS} from './socket.js'
import {TcpForwarder} from './tcp.js'
import {UdpForwarder} from './udp.js'

/**
 * On a port that speaks HTTP, a client that has sent no request head after this long is spliced as TCP: a server
 * that speaks first, on a port that only looks like HTTP, still gets through. HTTP clients send their head at once
 * (a browser's preconnected socket may wait longer: it is spliced then, without a kept node connection).
 */
const FIRST_HEAD_MS = 500

/**
 * How many listeners bind at once. Binding all of a large map together keeps every pending bind's server, promise
 * and address lookup alive at the same time, and V8 grows its heap for them: 18,000 listeners (10,000 Services,
 * test/bench/scale-bench.ts) bound at once left the process ~30 MB more RSS than bound 1,024 at a time, which took
 * no longer (ListenerSet alone on loopback, process.memoryUsage()); 256 at a time took longer.
 */
export const BINDS_AT_ONCE = 1024

export interface ListenerSetOptions {
  health: TargetHealth
  connectTimeoutMs?: number
  /** Per TCP listener (see TcpForwarder). */
  maxConnections?: number
  /** TCP connections idle this long are closed. */
  idleTimeoutMs?: number
  udpIdleTimeoutMs?: number
  udpMaxSessions?: number
  /** Errors and, with `verbose`, one line per connection or UDP session. */
  log?: (line: string) => void
  verbose?: boolean
  /**
   * Ports in http mode answer 421 to a request whose Host is not in their listener's `hosts` (host-check.ts: the
   * DNS rebinding guard). Default true; serve --no-host-check turns it off.
   */
  hostCheck?: boolean
}

/** What one `apply` changed. A listener that failed to bind is not open; the next `apply` tries it again. */
export interface ApplyResult {
  added: ForwardListener[]
  removed: ForwardListener[]
  failed: Array<{listener: ForwardListener; error: NodeJS.ErrnoException}>
}

type Forwarder = TcpForwarder | UdpForwarder

interface Open {
  listener: ForwardListener
  forwarder: Forwarder
}

/** `TCP 127.0.0.1:80`: listeners are the same when address, port and protocol are. */
export function listenerKey(listener: Pick<ForwardListener, 'address' | 'port' | 'protocol'>): string {
  return `${listener.protocol} ${listener.address} ${listener.port}`
}

/** Opens, keeps and closes forwarders so that they match the last list given to `apply`. */
export class ListenerSet {
  private readonly open = new Map<string, Open>()
  /** Removed TCP forwarders whose connections are still running; `close` ends them. */
  private readonly draining = new Set<Forwarder>()
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false
  /**
   * Each listener's key, made once per listener object: serve's map memo hands unchanged listeners back, so a change
   * makes no key string for each of them (18,000 at 10,000 Services).
   */
  private readonly keys = new WeakMap<ForwardListener, string>()

  constructor(private readonly options: ListenerSetOptions) {}

  /** Brings the open listeners in line with `listeners`. Calls are serialised; one bind error never stops another. */
  apply(listeners: ForwardListener[]): Promise<ApplyResult> {
    const run = this.queue.then(() => this.applyNow(listeners))
    this.queue = run.catch(() => {})
    return run
  }

  /** The listeners currently open. */
  list(): ForwardListener[] {
    return [...this.open.values()].map((o) => o.listener)
  }

  /** Closes every listener; open TCP connections get `graceMs` (default: wait for them) before being destroyed. */
  async close(graceMs?: number): Promise<void> {
    this.closed = true
    await this.queue
    const forwarders = [...[...this.open.values()].map((o) => o.forwarder), ...this.draining]
    this.open.clear()
    await Promise.all(forwarders.map((f) => f.close(graceMs)))
    this.draining.clear()
  }

  private async applyNow(listeners: ForwardListener[]): Promise<ApplyResult> {
    const result: ApplyResult = {added: [], removed: [], failed: []}
    if (this.closed) return result
    const wanted = new Map<string, ForwardListener>()
    for (const listener of listeners) {
      let key = this.keys.get(listener)
      if (key === undefined) this.keys.set(listener, (key = listenerKey(listener)))
      if (!wanted.has(key)) wanted.set(key, listener)
    }

    // forEach, not for…of: no [key, value] pair per entry (thousands of listeners, on every change).
    this.open.forEach((open, key) => {
      // A port whose mode changed (http ⇄ tcp) is opened again, as the other kind.
      if (wanted.get(key)?.mode === open.listener.mode) return
      this.open.delete(key)
      result.removed.push(open.listener)
      // Stop accepting now (the port is free again when this returns); running connections carry on.
      this.draining.add(open.forwarder)
      void open.forwarder.close().then(() => this.draining.delete(open.forwarder))
    })

    const toOpen: Array<[string, ForwardListener]> = []
    wanted.forEach((listener, key) => {
      const open = this.open.get(key)
      // serve's map memo hands an unchanged Service's listener object back on every change: nothing to update.
      if (open?.listener === listener) return
      if (open) {
        open.forwarder.setTargets(listener.targets)
        open.forwarder.service = listener.service
        if (open.forwarder instanceof TcpForwarder) open.forwarder.allowedHosts = this.allowedHosts(listener)
        open.listener = listener
        return
      }
      toOpen.push([key, listener])
    })
    // A few binds at a time (BINDS_AT_ONCE), reported in the order given whatever order they finished in.
    for (let from = 0; from < toOpen.length && !this.closed; from += BINDS_AT_ONCE) {
      const opening = toOpen.slice(from, from + BINDS_AT_ONCE).map(([key, listener]) => {
        const forwarder = this.create(listener)
        return forwarder.listen().then(
          () => ({key, listener, forwarder, error: undefined}),
          (error: Error) => ({key, listener, forwarder, error}),
        )
      })
      for (const {key, listener, forwarder, error} of await Promise.all(opening)) {
        if (error) {
          void forwarder.close(0)
          result.failed.push({listener, error})
        } else if (this.closed) {
          void forwarder.close(0)
        } else {
          this.open.set(key, {listener, forwarder})
          result.added.push(listener)
        }
      }
    }
    return result
  }

  private create(listener: ForwardListener): Forwarder {
    const {health, log, verbose} = this.options
    const common = {
      address: listener.address,
      port: listener.port,
      targets: listener.targets,
      service: listener.service,
      health,
      log,
      verbose,
    }
    return listener.protocol === 'UDP'
      ? new UdpForwarder(
          withChanges(common, {idleTimeoutMs: this.options.udpIdleTimeoutMs, maxSessions: this.options.udpMaxSessions}),
        )
      : this.tcp(listener, common)
  }

  /**
   * The Host values a port in http mode answers, or undefined for any (another mode, or the check is off): the map's
   * own list, a few names (a Set per listener was about 225 bytes, thousands of listeners at scale).
   */
  private allowedHosts(listener: ForwardListener): AllowedHosts | undefined {
    if (this.options.hostCheck === false || listener.mode !== 'http' || !listener.hosts) return undefined
    return listener.hosts
  }

  /** A TCP forwarder; on an HTTP port, plain keep-alive clients go through a HostSplicer (kept node connections). */
  private tcp(listener: ForwardListener, common: ConstructorParameters<typeof TcpForwarder>[0]): TcpForwarder {
    const connectTimeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    const forwarder = new TcpForwarder(
      withChanges(common, {
        connectTimeoutMs,
        maxConnections: this.options.maxConnections,
        idleTimeoutMs: this.options.idleTimeoutMs,
      }),
    )
    if (listener.mode !== 'http') return forwarder
    forwarder.allowedHosts = this.allowedHosts(listener)
    // A Host the forwarder does not allow is left to it: it answers 421 (TcpForwarder.relay). Made on the first
    // connection: most listeners of a large cluster never see one.
    const log = common.log ?? (() => {})
    const verbose = common.verbose ?? false
    forwarder.makeSplicer = () =>
      new HostSplicer({
        pick: (host) => {
          const ordered = forwarder.allowsHost(host) ? forwarder.pick() : undefined
          return ordered && {service: forwarder.service, ordered}
        },
        serviceOf: (host) => (forwarder.allowsHost(host) ? forwarder.service : undefined),
        health: this.options.health,
        connectTimeoutMs,
        headersTimeoutMs: FIRST_HEAD_MS,
        transparent: true,
        idleTimeoutMs: this.options.idleTimeoutMs,
        log,
        verbose,
      })
    return forwarder
  }
}
