// A UDP listener on one (address, port). Each client address:port gets a session: its own upstream socket,
// connected to one target chosen when the session starts, so replies find their way back and a flow sticks to
// one node, as with Envoy's UDP proxy sessions
// (https://www.envoyproxy.io/docs/envoy/latest/configuration/listeners/udp_filters/udp_proxy).
import dgram from 'node:dgram'
import net from 'node:net'

import type {ProbedTarget} from '../servemap/types.js'
import type {TargetHealth} from './health.js'
import {hostPort} from '../net/address.js'
import {formatTarget, formatTargets, orderHealthy} from './pick.js'

/** A minute of silence ends a flow, as Envoy's udp_proxy `idle_timeout` does by default (same page as above). */
const DEFAULT_SESSION_IDLE_TIMEOUT_MS = 60_000
const DEFAULT_MAX_SESSIONS = 1024
/** Datagrams held per session while its upstream socket connects; more are dropped, as UDP may. */
const MAX_QUEUED_DATAGRAMS = 64

export interface UdpForwarderOptions {
  address: string
  port: number
  targets: ProbedTarget[]
  health: TargetHealth
  /** `namespace/name`, for logs. */
  service?: string
  /** A session with no datagram either way for this long is closed. */
  idleTimeoutMs?: number
  /**
   * Most concurrent sessions. When the table is full, datagrams from new clients are dropped (and logged once
   * per episode) while existing sessions go on; room is made only by sessions idling out. Evicting the oldest
   * instead would let a burst of new (or spoofed) sources cut off clients in the middle of a conversation.
   */
  maxSessions?: number
  /** Errors and, with `verbose`, one line per session. */
  log?: (line: string) => void
  verbose?: boolean
}

interface Session {
  key: string
  clientAddress: string
  clientPort: number
  target: ProbedTarget
  upstream: dgram.Socket
  idle: NodeJS.Timeout
  /** Datagrams waiting for the upstream socket to connect; undefined once connected. */
  queue?: Buffer[]
  closed: boolean
}

/** Forwards datagrams received on one (address, port) to the targets, one session per client address:port. */
export class UdpForwarder {
  readonly address: string
  readonly port: number
  service: string
  private targets: ProbedTarget[]
  private readonly health: TargetHealth
  private readonly idleTimeoutMs: number
  private readonly maxSessions: number
  private readonly log: (line: string) => void
  private readonly verbose: boolean
  private readonly socket: dgram.Socket
  private readonly sessions = new Map<string, Session>()
  private counter = 0
  private full = false
  private closing?: Promise<void>

  constructor(options: UdpForwarderOptions) {
    this.address = options.address
    this.port = options.port
    this.service = options.service ?? hostPort(options.address, options.port)
    this.targets = options.targets
    this.health = options.health
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_SESSION_IDLE_TIMEOUT_MS
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS
    this.log = options.log ?? (() => {})
    this.verbose = options.verbose ?? false
    this.socket = dgram.createSocket(net.isIPv6(options.address) ? 'udp6' : 'udp4')
    this.socket.on('message', (message, remote) => this.receive(message, remote))
  }

  /** Binds the socket; rejects with the bind error (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
  listen(): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error)
      this.socket.once('error', onError)
      this.socket.bind({address: this.address, port: this.port}, () => {
        this.socket.removeListener('error', onError)
        this.socket.on('error', (error) => this.log(`udp ${this.label()}: ${error.message}`))
        resolve(this.socket.address())
      })
    })
  }

  /** The bound address (useful with port 0), once bound. */
  boundAddress(): net.AddressInfo | undefined {
    try {
      return this.socket.address()
    } catch {
      return undefined
    }
  }

  /** New sessions go to `targets`; existing sessions keep their target until they idle out. */
  setTargets(targets: ProbedTarget[]): void {
    this.targets = targets
  }

  get sessionCount(): number {
    return this.sessions.size
  }

  /** Ends every session and closes the socket. `graceMs` is accepted for symmetry with TCP; UDP has no drain. */
  close(_graceMs?: number): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const session of this.sessions.values()) this.end(session)
      try {
        this.socket.close(() => resolve())
      } catch {
        resolve() // never bound, or already closed
      }
    })
    return this.closing
  }

  private receive(message: Buffer, remote: dgram.RemoteInfo): void {
    const key = `${remote.address}|${remote.port}`
    const session = this.sessions.get(key) ?? this.open(key, remote)
    if (!session) return
    session.idle.refresh()
    if (session.queue) {
      if (session.queue.length < MAX_QUEUED_DATAGRAMS) session.queue.push(message)
      return
    }
    session.upstream.send(message)
  }

  private open(key: string, remote: dgram.RemoteInfo): Session | undefined {
    if (this.closing) return undefined
    if (this.sessions.size >= this.maxSessions) {
      if (!this.full) this.log(`udp ${this.label()}: session table full (${this.maxSessions}); dropping new clients`)
      this.full = true
      return undefined
    }
    const target = orderHealthy(this.targets, (t) => this.health.isHealthy(t), this.counter++)?.[0]
    if (!target) {
      if (this.verbose) {
        this.log(`udp ${this.label()}: no healthy target (${formatTargets(this.targets)}); dropping datagram`)
      }
      return undefined
    }
    const upstream = dgram.createSocket(net.isIPv6(target.address) ? 'udp6' : 'udp4')
    const session: Session = {
      key,
      clientAddress: remote.address,
      clientPort: remote.port,
      target,
      upstream,
      idle: setTimeout(() => this.expire(session), this.idleTimeoutMs).unref(),
      queue: [],
      closed: false,
    }
    this.sessions.set(key, session)
    upstream.on('message', (reply) => {
      if (session.closed) return
      session.idle.refresh()
      this.socket.send(reply, session.clientPort, session.clientAddress)
    })
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      // A connected UDP socket learns of an ICMP port-unreachable as ECONNREFUSED: the node is not listening.
      if (error.code === 'ECONNREFUSED') this.health.reportFailure(target)
      this.log(`udp ${this.label()}: ${formatTarget(target)}: ${error.message}; ending the session`)
      this.end(session)
    })
    // connect() binds an ephemeral port on the wildcard address first; being connected, the socket accepts
    // datagrams from the target only.
    upstream.connect(target.port, target.address, (error?: Error) => {
      const queued = session.queue ?? []
      session.queue = undefined
      if (session.closed) return
      if (error) {
        this.log(`udp ${this.label()}: ${formatTarget(target)}: ${error.message}; ending the session`)
        this.end(session)
        return
      }
      for (const datagram of queued) upstream.send(datagram)
    })
    if (this.verbose) {
      this.log(`udp ${this.label()}: ${hostPort(remote.address, remote.port)} → ${formatTarget(target)}`)
    }
    return session
  }

  private expire(session: Session): void {
    if (this.verbose) {
      this.log(`udp ${this.label()}: ${hostPort(session.clientAddress, session.clientPort)} idle; session closed`)
    }
    this.end(session)
  }

  private end(session: Session): void {
    if (session.closed) return
    session.closed = true
    clearTimeout(session.idle)
    this.sessions.delete(session.key)
    if (this.sessions.size < this.maxSessions) this.full = false
    try {
      session.upstream.close()
    } catch {
      // already closed
    }
  }

  private label(): string {
    return `${hostPort(this.address, this.port)}/udp (${this.service})`
  }
}
