// The short answers the proxy writes itself (refusals, 404, 502, 503): on a response object of Node's server, or
// straight to a socket no HTTP server object owns (CONNECT, upgrades, the fast path before it reaches a node).
import http from 'node:http'
import type {Duplex} from 'node:stream'

const RAW_REPLY_LINGER_MS = 2000 // how long a refused socket may take to read our reply before it is destroyed

/** A complete `connection: close` response with a plain-text body. */
export function rawResponse(status: number, body: string, headers: Record<string, string> = {}): string {
  const lines = [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}`,
    'content-type: text/plain; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ]
  return `${lines.join('\r\n')}\r\n\r\n${body}`
}

/**
 * Answers on a socket Node has handed over (CONNECT, upgrade) and closes it. Whatever the client still sends is
 * read and dropped, so closing does not turn into a reset that could discard the reply before the client reads it.
 */
export function replyRaw(socket: Duplex, status: number, body: string, headers: Record<string, string> = {}): void {
  socket.on('error', () => socket.destroy())
  socket.resume()
  socket.end(rawResponse(status, body, headers))
  const timer = setTimeout(() => socket.destroy(), RAW_REPLY_LINGER_MS).unref()
  socket.once('close', () => clearTimeout(timer))
}

/** Writes a whole response with `body`, never sniffed; a response already under way is cut instead. */
export function send(
  res: http.ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
    ...headers,
  })
  res.end(body)
}

/** `send` with a plain-text body. */
export function sendText(
  res: http.ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  send(res, status, 'text/plain; charset=utf-8', body, headers)
}
