// One listening TCP socket of a per-service address or a tunnel gateway. serve holds one per Service port (18,000
// at 10,000 Services, test/bench/scale-bench.ts), so each is Node's listening TCP handle itself where the bindings
// allow (raw-tcp.ts): about 1.2 KB of memory against 2.9 KB for a net.Server (15,000 listeners on loopback,
// process.memoryUsage()), whose EventEmitter and options nobody here needs. It does not count connections: its
// owner does (TcpForwarder.close waits for them). Elsewhere it is a net.Server, every connection a net.Socket.
// Its owner takes the connections through methods (ConnectionSink) and it is an object of a class, with one
// onconnection for every handle: closures per listener (four of its own and three of its owner's) took about 5 MB at
// 10,000 Services (heap snapshots of the scale bench's serve).
import net from 'node:net'

import {presetOnListening, rawTcp, socketFromHandle, type TcpHandle, type TcpServerHandle, uvError} from './raw-tcp.js'

/** As lib/net.js listens (its default backlog). */
const BACKLOG = 511

/** Who takes a listener's connections (TcpForwarder, SniRouter, a tunnel gateway's GatewaySink). */
export interface ConnectionSink {
  /** A connection as a TCP handle, not read yet (TcpListenerOptions.handles, where the bindings allow). */
  acceptHandle?(handle: TcpHandle): void
  /** A connection as a net.Socket: paused, half-open capable (as net.Server with pauseOnConnect gives it). */
  accept(socket: net.Socket): void
  /** An accept that failed (the listener goes on). */
  acceptFailed(error: NodeJS.ErrnoException): void
}

export interface TcpListenerOptions {
  address: string
  port: number
  /**
   * Connections go to `sink.acceptHandle` as TCP handles where the bindings allow; without it (or that method), or
   * where they do not, every connection goes to `sink.accept`.
   */
  handles?: boolean
  sink: ConnectionSink
}

export interface TcpListener {
  /** Where it listens (the port the system picked for port 0). */
  readonly bound: {address: string; port: number}
  /**
   * Sets TCP_NODELAY (and keep-alive) on the listening socket for accepted connections to inherit (raw-tcp.ts
   * presetOnListening); false where they do not (the caller sets them per connection).
   */
  presetAccepted(options: {keepAliveMs?: number}): boolean
  /** Stops accepting; resolves once the socket is closed. Connections accepted already are not touched. */
  close(): Promise<void>
}

/**
 * Binds and listens; rejects with the error Node would give (code EADDRINUSE, EACCES, EADDRNOTAVAIL…). `bindings`
 * is raw-tcp.ts's (null: a net.Server, as where Node's bindings are missing; tests take that path so).
 */
export function listenTcp(options: TcpListenerOptions, bindings: typeof rawTcp | null = rawTcp): Promise<TcpListener> {
  if (!bindings) return listenWithServer(options)
  try {
    return Promise.resolve(listenOnHandle(options, bindings.newServerHandle()))
  } catch (error) {
    return Promise.reject(error as Error)
  }
}

/** A listening handle and the listener it belongs to, which its onconnection finds through it. */
type ListeningHandle = TcpServerHandle & {listener?: HandleListener}

/** Node calls it on the listening handle for each connection accepted (status < 0: the accept failed). */
function onConnection(this: ListeningHandle, accepted: number, client?: TcpHandle): void {
  const {sink, handles} = this.listener!
  if (accepted < 0 || !client) sink.acceptFailed(uvError(accepted, 'accept'))
  else if (handles && sink.acceptHandle) sink.acceptHandle(client)
  else sink.accept(socketFromHandle(client))
}

/** A listener on Node's listening TCP handle (see above). */
class HandleListener implements TcpListener {
  private closed?: Promise<void>

  constructor(
    readonly bound: {address: string; port: number},
    private readonly handle: ListeningHandle,
    readonly sink: ConnectionSink,
    readonly handles: boolean,
  ) {}

  presetAccepted(preset: {keepAliveMs?: number}): boolean {
    return presetOnListening(this.handle, preset)
  }

  close(): Promise<void> {
    return (this.closed ??= new Promise((resolve) => this.handle.close(() => resolve())))
  }
}

function listenOnHandle(options: TcpListenerOptions, handle: ListeningHandle): TcpListener {
  const {address, port} = options
  // As lib/net.js does: bind's errors (EADDRINUSE comes only at listen on Linux, libuv delays it) reported as listen's.
  let status = address.includes(':') ? handle.bind6(address, port, 0) : handle.bind(address, port)
  handle.onconnection = onConnection
  if (status === 0) status = handle.listen(BACKLOG)
  if (status < 0) {
    handle.close()
    throw uvError(status, 'listen', address, port)
  }
  const out: {address?: string; port?: number} = {}
  handle.getsockname(out)
  const bound = {address: out.address ?? address, port: out.port ?? port}
  return (handle.listener = new HandleListener(bound, handle, options.sink, options.handles === true))
}

/** Where Node's bindings are not as raw-tcp.ts expects: a net.Server, every connection a net.Socket. */
function listenWithServer({address, port, sink}: TcpListenerOptions): Promise<TcpListener> {
  const server = net.createServer({allowHalfOpen: true, pauseOnConnect: true}, (socket) => sink.accept(socket))
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({host: address, port}, () => {
      server.off('error', reject)
      server.on('error', (error: NodeJS.ErrnoException) => sink.acceptFailed(error))
      const at = server.address() as net.AddressInfo
      resolve({
        bound: {address: at.address, port: at.port},
        presetAccepted: () => false,
        // The listening socket closes within server.close(); its callback would wait for the connections too.
        close: () => {
          if (server.listening) server.close()
          return Promise.resolve()
        },
      })
    })
  })
}
