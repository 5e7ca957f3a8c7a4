// The WebSocket channel protocol of `pods/portforward` (`v4.channel.k8s.io`), as kubelet serves it
// (kubernetes/kubernetes pkg/kubelet/cri/streaming/portforward/websocket.go) and client-node's PortForward speaks it
// (node_modules/@kubernetes/client-node/dist/portforward.js): every binary message starts with one byte naming the
// channel, the rest is that channel's data. For the i-th port of the request, channel 2i carries the data in both
// directions and channel 2i+1 the server's error text. The server's first message on each of its channels is the
// port number, two bytes little endian. v4 has no close signal of its own: closing the WebSocket ends the stream
// in both directions. Pure: bytes in, bytes or events out.

/** The WebSocket subprotocol kubelet and the API server answer for binary port-forward channels. */
export const PORT_FORWARD_PROTOCOL = 'v4.channel.k8s.io'

/** The data channel of the i-th port of a request. */
export function dataChannel(portIndex: number): number {
  return portIndex * 2
}

/** The error channel of the i-th port of a request. */
export function errorChannel(portIndex: number): number {
  return portIndex * 2 + 1
}

/** One message: the channel byte, then `data`. */
export function encodeFrame(channel: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  if (!Number.isInteger(channel) || channel < 0 || channel > 255) throw new RangeError(`bad channel ${channel}`)
  const frame = Buffer.allocUnsafe(data.length + 1)
  frame[0] = channel
  frame.set(data, 1)
  return frame
}

/** The port header a server sends first on each channel of a port. */
export function encodePortHeader(channel: number, port: number): Buffer {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad port ${port}`)
  const bytes = Buffer.allocUnsafe(2)
  bytes.writeUInt16LE(port, 0)
  return encodeFrame(channel, bytes)
}

/** What one message from the server means to a client of one port (index 0). */
export type ChannelEvent =
  | {kind: 'port'; channel: 'data' | 'error'; port: number}
  | {kind: 'data'; data: Buffer}
  | {kind: 'error'; message: string}
  | {kind: 'invalid'; reason: string}

/**
 * A client's reader of the server's messages for a one-port request: it takes off each channel's two-byte port
 * header (which may come alone, as kubelet sends it, or ahead of data) and checks it names the requested port.
 */
export class PortForwardReader {
  private readonly headerSeen = [false, false]
  private headerBytes: Buffer[] = [Buffer.alloc(0), Buffer.alloc(0)]

  constructor(private readonly port: number) {}

  /** True once the data channel's port header arrived: the server took the stream. */
  get opened(): boolean {
    return this.headerSeen[0] === true
  }

  /** The events one message carries, in order. */
  read(message: Buffer): ChannelEvent[] {
    if (message.length === 0) return [{kind: 'invalid', reason: 'an empty message (no channel byte)'}]
    const channel = message[0]!
    if (channel > 1) return [{kind: 'invalid', reason: `a message on channel ${channel}; one port uses 0 and 1`}]
    let body = message.subarray(1)
    const events: ChannelEvent[] = []
    if (!this.headerSeen[channel]) {
      const head = Buffer.concat([this.headerBytes[channel]!, body])
      if (head.length < 2) {
        this.headerBytes[channel] = head
        return []
      }
      this.headerSeen[channel] = true
      this.headerBytes[channel] = Buffer.alloc(0)
      const port = head.readUInt16LE(0)
      if (port !== this.port) return [{kind: 'invalid', reason: `port header ${port}, but ${this.port} was asked`}]
      events.push({kind: 'port', channel: channel === 0 ? 'data' : 'error', port})
      body = head.subarray(2)
    }
    if (body.length === 0) return events
    events.push(channel === 0 ? {kind: 'data', data: body} : {kind: 'error', message: body.toString('utf8')})
    return events
  }
}

/**
 * The ports of a `portforward` request's query (`ports=80,443` or `ports=80&ports=443`): the API server's
 * PodPortForwardOptions.ports (k8s.io/api core/v1 types.go), each 1–65535.
 */
export function parsePortsQuery(values: string[]): number[] | {error: string} {
  const ports: number[] = []
  for (const value of values.flatMap((v) => v.split(','))) {
    const text = value.trim()
    const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN
    if (!(port >= 1 && port <= 65535)) return {error: `invalid port "${text}"`}
    ports.push(port)
  }
  return ports.length > 0 ? ports : {error: 'query parameter "ports" is required'}
}
