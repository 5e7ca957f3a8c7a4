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
import {statusBody} from './status.js'

/** Messages queued for the client above which the Pod is not read, and below which it is read again. */
const UNSENT_PAUSE = 16
const UNSENT_RESUME = 4

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
    const ports = parsePortsQuery(query.getAll('ports'))
    if ('error' in ports) return refuse(400, 'BadRequest', ports.error)
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      return refuse(400, 'BadRequest', 'unable to upgrade: missing upgrade headers')
    }
    const podIP = status.podIP
    const uid = pod.metadata.uid ?? ''
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, podIP, ports, `${name}, uid ${uid}`))
    return 101
  }

  /** Ends every open stream, as a restarting API server does. */
  closeAll(): void {
    for (const ws of this.open) ws.terminate()
    this.open.clear()
  }

  private serve(ws: WebSocket, podIP: string, ports: number[], podLabel: string): void {
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
      // Sends not yet written to the client's socket: past a limit the Pod is not read until they are.
      let unsent = 0
      pod.on('data', (chunk: Buffer) => {
        unsent++
        ws.send(encodeFrame(dataChannel(i), chunk), () => {
          unsent--
          if (unsent < UNSENT_RESUME && pod.isPaused()) pod.resume()
        })
        if (unsent >= UNSENT_PAUSE) pod.pause()
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
