// The WebSocket channel protocol of `pods/portforward` (`v4.channel.k8s.io`), as kubelet serves it
// (kubernetes/kubernetes pkg/kubelet/cri/streaming/portforward/websocket.go) and client-node's PortForward speaks it
// (node_modules/@kubernetes/client-node/dist/portforward.js): every binary message starts with one byte naming the
// channel, the rest is that channel's data. For the i-th port of the request, channel 2i carries the data in both
// directions and channel 2i+1 the server's error text. The server's first message on each of its channels is the
// port number, two bytes little endian. v4 has no close signal of its own: closing the WebSocket ends the stream
// in both directions. Pure: the frames and port headers, and the request's ports.

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
