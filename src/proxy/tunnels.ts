// Tunnel gateways: for each Service port the API server carries, a listener on loopback that the router and the
// per-service listeners treat as one more target. Each connection it accepts becomes one pods/portforward stream
// to an endpoint Pod, spread round-robin over the Pods; a stream that fails to open is tried on the next Pod before
// the connection is given up. When a Pod leaves the endpoints, its streams close with it.
import net from 'node:net'
import type {Duplex} from 'node:stream'

import type {PodEndpoint} from '../plan/types.js'
import {listChanges} from '../servemap/list-changes.js'
import type {GatewayAddress} from '../servemap/tunnels.js'
import type {TunnelRoute} from '../servemap/types.js'
import {errnoCode} from '../net/errno.js'
import {gatewayPorts, type NextPort} from './gateway-ports.js'
import {orderEndpoints} from './pick.js'
import {listenTcp, type ConnectionSink, type TcpListener} from './tcp-listener.js'

/**
 * Opens one stream to a Pod's port (src/kube/port-forward.ts openPortForward, or a fake in tests); `cluster` names
 * the cluster whose API server carries it when several are served.
 */
export type TunnelDial = (target: {cluster?: string; namespace: string; pod: string; port: number}) => Promise<Duplex>

export interface TunnelGatewayOptions {
  dial: TunnelDial
  log: (line: string) => void
  verbose?: boolean
  /** Where gateways listen (default 127.0.0.1). */
  address?: string
  /** The ports gateways try, in turn (gateway-ports.ts; default gatewayPorts(): on Linux, the local port range). */
  nextPort?: NextPort
  /**
   * A stream was refused for want of RBAC (an error whose `reason` is `forbidden`): no other Pod of the namespace
   * is tried, and serve reports the route (src/serve/runtime.ts).
   */
  onForbidden?: (route: TunnelRoute, error: Error) => void
}

/**
 * A stream that can write what it reads straight to the client socket (src/kube/port-forward.ts relayTo) rather
 * than through its readable side, and so read into buffers it reuses once the client took their bytes.
 */
interface RelayingStream extends Duplex {
  relayTo(to: net.Socket): void
}

function isRelaying(stream: Duplex): stream is RelayingStream {
  return typeof (stream as Partial<RelayingStream>).relayTo === 'function'
}

/** One open stream: the client connection and the stream to the Pod it rides on. */
interface Carried {
  client: net.Socket
  stream: Duplex
}

/**
 * The gateways of this process by `address:port`. A per-service listener whose chosen target is one of them hands
 * the accepted client straight to it (handOffToGateway) rather than connecting to it over loopback: the extra TCP
 * hop cost a write and a read of every byte, about as much CPU as the WebSocket stream itself (npm run bench,
 * section tunnel).
 */
const local = new Map<string, Gateway>()

/**
 * Carries `client` (accepted, paused, not read yet) over the gateway listening at `address:port` in this process;
 * false when none does there (a target elsewhere, or a gateway closed meanwhile).
 */
export function handOffToGateway(address: string, port: number, client: net.Socket): boolean {
  const gateway = local.get(`${address}:${port}`)
  if (!gateway) return false
  gateway.take(client)
  return true
}

function endpointKey(e: PodEndpoint): string {
  return `${e.pod}:${e.port}`
}

/**
 * Takes a gateway's connections. The listener exists before its gateway (which reads where it listens), and the
 * gateway before the first connection can be accepted (the next turn of the event loop).
 */
class GatewaySink implements ConnectionSink {
  gateway?: Gateway

  constructor(
    private readonly service: string,
    private readonly log: (line: string) => void,
  ) {}

  accept(client: net.Socket): void {
    if (this.gateway) this.gateway.take(client)
    else client.destroy()
  }

  acceptFailed(error: NodeJS.ErrnoException): void {
    this.log(`tunnel: ${this.service}: ${error.message}`)
  }
}

class Gateway {
  private endpoints: PodEndpoint[] = []
  private counter = 0
  // Made with the first connection: a gateway per Service port, thousands of them, most never carrying one.
  private open?: Map<string, Set<Carried>>
  private clients?: Set<net.Socket>

  private readonly key: string
  /** Where it listens (read once: the serve map compares it on every change). */
  readonly at: GatewayAddress

  constructor(
    private readonly listener: TcpListener,
    private route: TunnelRoute,
    private readonly options: TunnelGatewayOptions,
  ) {
    const at = listener.bound
    this.at = {address: at.address, port: at.port}
    this.key = `${at.address}:${at.port}`
    local.set(this.key, this)
    this.update(route)
  }

  /** A client that connected here, or was handed over by a listener of this process (handOffToGateway). */
  take(client: net.Socket): void {
    this.accept(client)
  }

  /** New endpoints: streams to Pods no longer among them close now. */
  update(route: TunnelRoute): void {
    // serve hands an unchanged Service's route object back on every change (tunnelRoutes' memo): nothing to do.
    if (route === this.route && route.endpoints === this.endpoints) return
    this.route = route
    this.endpoints = route.endpoints
    const open = this.open
    if (!open) return
    const kept = new Set(route.endpoints.map(endpointKey))
    for (const [key, carried] of open) {
      if (kept.has(key)) continue
      for (const c of carried) {
        c.stream.destroy()
        c.client.destroy()
      }
      open.delete(key)
    }
  }

  close(): void {
    if (local.get(this.key) === this) local.delete(this.key)
    void this.listener.close()
    for (const client of this.clients ?? []) client.destroy()
  }

  private accept(client: net.Socket): void {
    const clients = (this.clients ??= new Set())
    clients.add(client)
    client.on('close', () => clients.delete(client))
    client.on('error', () => client.destroy())
    void this.carry(client, orderEndpoints(this.endpoints, this.counter++))
  }

  private async carry(client: net.Socket, order: PodEndpoint[]): Promise<void> {
    const {log, verbose} = this.options
    const {service, namespace, cluster} = this.route
    const failures: string[] = []
    for (const endpoint of order) {
      if (client.destroyed) return
      let stream: Duplex
      try {
        const pod = {namespace, pod: endpoint.pod, port: endpoint.port}
        stream = await this.options.dial(cluster === undefined ? pod : {cluster, ...pod})
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        if ((error as {reason?: string}).reason === 'forbidden') {
          this.options.onForbidden?.(this.route, error as Error)
          this.refuse(client, `${service}: not reachable through the API server: ${message}`)
          return
        }
        failures.push(message)
        log(`tunnel: ${service}: ${message}; trying the next Pod`)
        continue
      }
      // The Pod left the endpoints, or the client went away, while the stream opened.
      if (client.destroyed || !this.endpoints.some((e) => endpointKey(e) === endpointKey(endpoint))) {
        stream.destroy()
        if (!client.destroyed) continue
        return
      }
      this.splice(client, stream, endpoint)
      if (verbose) log(`tunnel: ${service} → pod ${namespace}/${endpoint.pod}:${endpoint.port}`)
      return
    }
    const why = `no endpoint Pod took the stream${failures.length ? ` (${failures.length} tried)` : ' (none ready)'}`
    log(`tunnel: ${service}: ${why}`)
    this.refuse(client, `${service}: ${why}${failures.length ? `: ${failures.join('; ')}` : ''}`)
  }

  /** Gives up on a client: an HTTP port gets a 502 with the reason (as the router's own), other ports a close. */
  private refuse(client: net.Socket, why: string): void {
    if (this.route.mode !== 'http' || client.destroyed) return void client.destroy()
    const body = `bad gateway: ${why}\n`
    client.end(
      `HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    )
    client.resume() // read and drop the request, so the close is a FIN, not a reset
  }

  private splice(client: net.Socket, stream: Duplex, endpoint: PodEndpoint): void {
    const key = endpointKey(endpoint)
    const carried: Carried = {client, stream}
    const open = (this.open ??= new Map())
    const set = open.get(key) ?? new Set<Carried>()
    set.add(carried)
    open.set(key, set)
    const forget = (): void => {
      set.delete(carried)
      if (set.size === 0 && open.get(key) === set) open.delete(key)
    }
    stream.on('error', (error: Error) => {
      this.options.log(`tunnel: ${this.route.service}: pod ${endpoint.pod}: ${error.message}`)
      client.destroy()
    })
    stream.on('close', () => {
      forget()
      // The stream ended cleanly (its end went to the client by pipe); without a clean end, cut the client.
      if (!client.writableEnded) client.destroy()
    })
    client.on('close', () => {
      forget()
      stream.destroy()
    })
    client.pipe(stream)
    if (isRelaying(stream)) return stream.relayTo(client)
    stream.pipe(client)
    corkPerTurn(stream, client)
  }
}

/**
 * Holds `to`'s writes of each turn of the event loop and sends them together (one writev): one read of the API
 * server's socket usually holds the end of one message and the start of the next, which the stream hands on as two
 * chunks (pointing into the read, not copied) that would otherwise cost two writes.
 */
function corkPerTurn(from: Duplex, to: net.Socket): void {
  let corked = false
  from.prependListener('data', () => {
    if (corked) return
    corked = true
    to.cork()
    process.nextTick(() => {
      corked = false
      to.uncork()
    })
  })
}

/** The gateways of every tunnelled Service port, kept in step with the serve map. */
/** Ports a gateway tries before it lets the system pick one. */
const PORT_ATTEMPTS = 64

export class TunnelGateways {
  private readonly gateways = new Map<string, Gateway>()
  /** Where each gateway listens, kept in step with `gateways`: what apply returns. */
  private readonly addresses = new Map<string, GatewayAddress>()
  /**
   * The routes of the last apply that opened all it had to: the next apply walks only the routes that came and went
   * since (listChanges; the serve map memo keeps an unchanged Service's route objects), not every route (10,000 at
   * issue 20's scale) into a map of its own. Undefined before the first apply and after one that failed: the next
   * then compares every route with every gateway, so a gateway a failed apply opened or left is not forgotten.
   */
  private applied?: readonly TunnelRoute[]
  private readonly nextPort: NextPort

  constructor(private readonly options: TunnelGatewayOptions) {
    this.nextPort = options.nextPort ?? gatewayPorts()
  }

  /**
   * Opens gateways for new routes, updates the Pods of kept ones, closes the rest; returns where each listens, by
   * route key (one per Service port). The map is this object's own, current until the next apply or close.
   */
  async apply(routes: TunnelRoute[]): Promise<ReadonlyMap<string, GatewayAddress>> {
    const changes = this.applied && listChanges(this.applied, routes)
    // Until every gateway it needs is open: an open that fails is tried again by the next apply, which walks all.
    this.applied = undefined
    let gone: string[]
    if (changes) {
      const coming = new Set(changes.came.map((r) => r.key))
      gone = changes.went.map((r) => r.key).filter((key) => !coming.has(key))
    } else {
      const wanted = new Set(routes.map((r) => r.key))
      gone = [...this.gateways.keys()].filter((key) => !wanted.has(key))
    }
    for (const key of gone) {
      this.gateways.get(key)?.close()
      this.gateways.delete(key)
      this.addresses.delete(key)
    }
    // Kept gateways are updated in place; only new ones are waited for (thousands of routes, few new ones).
    const opening: Array<Promise<void>> = []
    for (const route of changes ? changes.came : routes) {
      const existing = this.gateways.get(route.key)
      if (existing) existing.update(route)
      else opening.push(this.open(route).then((gateway) => this.added(route.key, gateway)))
    }
    await Promise.all(opening)
    this.applied = routes
    return this.addresses
  }

  private added(key: string, gateway: Gateway): void {
    this.gateways.set(key, gateway)
    this.addresses.set(key, gateway.at)
  }

  /** Closes every gateway and the connections they carry. */
  close(): void {
    for (const gateway of this.gateways.values()) gateway.close()
    this.gateways.clear()
    this.addresses.clear()
    this.applied = undefined
  }

  private async open(route: TunnelRoute): Promise<Gateway> {
    const host = this.options.address ?? '127.0.0.1'
    // A port in use (or one this user may not bind) is skipped; after PORT_ATTEMPTS of them the system picks.
    for (let attempt = 1; ; attempt++) {
      const port = attempt < PORT_ATTEMPTS ? this.nextPort() : 0
      // Half-open: a client's FIN ends the stream's writable side only, so the Pod's answer still comes back.
      try {
        const sink = new GatewaySink(route.service, this.options.log)
        const listener = await listenTcp({address: host, port, sink})
        return (sink.gateway = new Gateway(listener, route, this.options))
      } catch (error) {
        const code = errnoCode(error)
        if (port === 0 || (code !== 'EADDRINUSE' && code !== 'EACCES')) throw error
      }
    }
  }
}
