// The simulator's `pods/portforward`: the API server's upgrade of GET /api/v1/namespaces/NS/pods/NAME/portforward
// to a WebSocket speaking the channel protocol (src/kube/portforward-channel.ts), carried to the Pod the way kubelet
// does it (kubernetes/kubernetes pkg/kubelet/cri/streaming/portforward/websocket.go): both channels of each port
// first get the port number; the Pod's port is dialled (here: status.podIP, a loopback address where a test server
// or LoopbackNodes listens); a failed dial is reported as text on the error channel; when either side of a port's
// connection ends, or the client closes the WebSocket, everything closes.
import type {IncomingMessage} from 'node:http'
import net from 'node:net'
import type {Duplex} from 'node:stream'

import {WebSocketServer, type WebSocket} from 'ws'

import {
  dataChannel,
  encodeFrame,
  encodePortHeader,
  errorChannel,
  parsePortsQuery,
  PORT_FORWARD_PROTOCOL,
} from '../kube/portforward-channel.js'
import type {KubeObject} from './kinds.js'
import {SpdySession, type SpdyStream} from './spdy.js'
import {statusBody} from './status.js'

/** The WebSocket subprotocol kubectl tunnels SPDY through (KEP-4006), which the simulator answers with a 400. */
const SPDY_OVER_WEBSOCKET = 'SPDY/3.1+portforward.k8s.io'

/**
 * One unmasked binary WebSocket message (RFC 6455 §5.2, FIN set, opcode 2) whose payload is the channel byte and
 * `data`, header included, in one buffer.
 */
export function encodeServerFrame(channel: number, data: Buffer): Buffer {
  const length = data.length + 1
  const head = length < 126 ? 2 : length < 0x10000 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + length)
  frame[0] = 0x82
  if (length < 126) frame[1] = length
  else if (length < 0x10000) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  frame[head] = channel
  data.copy(frame, head + 1)
  return frame
}

/** The path of a port-forward request: namespace and Pod name. */
const PORTFORWARD_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward\/?$/

/** Where a port-forward request points, or undefined when the path is not one. */
export function portForwardTarget(path: string): {namespace: string; pod: string} | undefined {
  const match = PORTFORWARD_PATH.exec(path)
  return match ? {namespace: decodeURIComponent(match[1]!), pod: decodeURIComponent(match[2]!)} : undefined
}

/** An answer to an upgrade that is refused: an HTTP status with a Status body, written on the raw socket. */
export function refuseUpgrade(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  const reason = {400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found'}[status] ?? 'Error'
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
      `Connection: close\r\n\r\n${text}`,
  )
}

/** Serves port-forward WebSockets; `close()` ends every open one (an API server going away). */
export class PortForwardServer {
  private readonly wss = new WebSocketServer({
    noServer: true,
    // kubelet answers v4.channel.k8s.io, and a request without a subprotocol as the same binary channels.
    handleProtocols: (offered) => (offered.has(PORT_FORWARD_PROTOCOL) ? PORT_FORWARD_PROTOCOL : false),
  })
  private readonly open = new Set<WebSocket>()
  private readonly sessions = new Set<SpdySession>()
  /** Streams served so far, for tests. */
  served = 0

  /** Takes over an upgrade request already authorized for `pod`; answers 400/404 itself. Returns the status. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, pod: KubeObject | undefined, name: string): number {
    const query = new URL(req.url ?? '/', 'http://sim').searchParams
    const refuse = (status: number, reason: string, message: string): number => {
      refuseUpgrade(socket, status, statusBody(status, reason, message))
      return status
    }
    if (!pod) return refuse(404, 'NotFound', `pods "${name}" not found`)
    const status = (pod.status ?? {}) as {phase?: string; podIP?: string}
    if (status.phase !== 'Running' || !status.podIP) {
      const message = `unable to upgrade connection: pod ${name} is not running (phase ${status.phase ?? 'unknown'})`
      return refuse(400, 'BadRequest', message)
    }
    const podIP = status.podIP
    const uid = pod.metadata.uid ?? ''
    // kubectl's fallback dialer: a plain upgrade to SPDY/3.1, the ports named in each stream's headers.
    if (req.headers.upgrade?.toLowerCase() === 'spdy/3.1') {
      this.serveSpdy(socket, head, podIP, `${name}, uid ${uid}`)
      return 101
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
    if (!offered.includes(PORT_FORWARD_PROTOCOL) && offered.includes(SPDY_OVER_WEBSOCKET)) {
      // kubectl 1.32 tries SPDY tunnelled through a WebSocket first, and takes the plain SPDY upgrade after any
      // answer but 101 (client-go tools/portforward fallback_dialer.go), as with API servers before 1.30.
      return refuse(
        400,
        'BadRequest',
        `unable to upgrade: ${SPDY_OVER_WEBSOCKET} is not served; use the SPDY/3.1 upgrade`,
      )
    }
    const ports = parsePortsQuery(query.getAll('ports'))
    if ('error' in ports) return refuse(400, 'BadRequest', ports.error)
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      return refuse(400, 'BadRequest', 'unable to upgrade: missing upgrade headers')
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, socket, podIP, ports, `${name}, uid ${uid}`))
    return 101
  }

  /** Ends every open stream, as a restarting API server does. */
  closeAll(): void {
    for (const ws of this.open) ws.terminate()
    this.open.clear()
    for (const session of this.sessions) session.close()
    this.sessions.clear()
  }

  /**
   * SPDY, as kubelet's httpstream handler serves it (pkg/kubelet/cri/streaming/portforward/httpstream.go): streams
   * come in pairs sharing a `requestID`, an `error` one and a `data` one, each naming the `port`; the data stream's
   * bytes go to the Pod's port and back; a failed dial is written to the error stream; when the Pod's side ends,
   * both streams are closed (FIN), and a FIN from the client half-closes the Pod connection.
   */
  private serveSpdy(socket: Duplex, head: Buffer, podIP: string, podLabel: string): void {
    this.served++
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
        'X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n',
    )
    const pods = new Set<net.Socket>()
    const errors = new Map<string, SpdyStream>()
    const held = new Set<net.Socket>()
    socket.on('drain', () => {
      for (const pod of held) pod.resume()
      held.clear()
    })
    const session = new SpdySession(
      socket,
      head,
      (stream, s) => {
        const requestId = stream.headers.requestid ?? ''
        const port = Number(stream.headers.port)
        if (stream.headers.streamtype === 'error') {
          errors.set(requestId, stream)
          return
        }
        if (stream.headers.streamtype !== 'data') return s.reset(stream.id)
        const pod = net.connect({host: podIP, port, allowHalfOpen: true})
        pods.add(pod)
        const finish = (): void => {
          s.send(stream.id, Buffer.alloc(0), true)
          const error = errors.get(requestId)
          if (error) s.send(error.id, Buffer.alloc(0), true)
          errors.delete(requestId)
        }
        // The connection's queue full: this Pod is not read until it drains, as a real API server's blocking
        // writes hold it (the WebSocket path below does the same).
        pod.on('data', (chunk: Buffer) => {
          if (s.send(stream.id, chunk)) return
          pod.pause()
          held.add(pod)
        })
        pod.on('end', finish)
        pod.on('close', () => pods.delete(pod))
        pod.on('error', (error: NodeJS.ErrnoException) => {
          const stream = errors.get(requestId)
          const message = `error forwarding port ${port} to pod ${podLabel}: failed to connect to localhost:${port} inside the pod's network namespace: dial tcp ${podIP}:${port}: ${error.code ?? error.message}`
          if (stream && pod.bytesRead === 0) s.send(stream.id, Buffer.from(message))
          finish()
        })
        stream.onData = (data) => pod.write(data)
        stream.onEnd = (reset) => (reset ? pod.destroy() : pod.end())
      },
      () => {
        for (const pod of pods) pod.destroy()
        this.sessions.delete(session)
      },
    )
    this.sessions.add(session)
  }

  /**
   * `socket` is the upgraded connection under `ws`: the Pod's data is written to it as whole frames (one buffer
   * each, as the SPDY path writes its data frames), while `ws` reads the client's frames and sends the rest.
   */
  private serve(ws: WebSocket, socket: Duplex, podIP: string, ports: number[], podLabel: string): void {
    this.served++
    this.open.add(ws)
    const sockets: net.Socket[] = []
    let ended = false
    const end = (): void => {
      if (ended) return
      ended = true
      for (const s of sockets) s.destroy()
      if (ws.readyState === ws.OPEN) ws.close(1000)
      this.open.delete(ws)
    }
    ws.on('close', end)
    ws.on('error', end)
    ports.forEach((port, i) => {
      ws.send(encodePortHeader(dataChannel(i), port))
      ws.send(encodePortHeader(errorChannel(i), port))
      const pod = net.connect({host: podIP, port})
      sockets[i] = pod
      // The client's socket full: the Pod is not read until it drains.
      pod.on('data', (chunk: Buffer) => {
        if (ws.readyState !== ws.OPEN) return
        if (!socket.write(encodeServerFrame(dataChannel(i), chunk))) {
          pod.pause()
          socket.once('drain', () => pod.resume())
        }
      })
      pod.on('error', (error: NodeJS.ErrnoException) => {
        if (!pod.connecting && pod.bytesRead + pod.bytesWritten > 0) return end()
        const message = `error forwarding port ${port} to pod ${podLabel}: failed to connect to localhost:${port} inside the pod's network namespace: dial tcp ${podIP}:${port}: ${error.code ?? error.message}`
        if (ws.readyState === ws.OPEN) ws.send(encodeFrame(errorChannel(i), Buffer.from(message)))
        end()
      })
      pod.on('close', end)
      pod.on('end', end)
    })
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || data.length === 0) return
      const channel = data[0]!
      const pod = channel % 2 === 0 ? sockets[channel / 2] : undefined
      if (!pod) return // writes to an error channel are ignored, as kubelet does
      if (!pod.write(data.subarray(1))) {
        ws.pause()
        pod.once('drain', () => ws.resume())
      }
    })
  }
}
