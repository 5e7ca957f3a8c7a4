// HTTP/1.1 framing for the router's fast path (host-splice.ts). Pure: bytes in, verdicts out. Only the plainest
// requests qualify; everything else (chunked bodies, upgrades, Expect, absolute-form, odd framing, any header a
// proxy must rewrite) is left to Node's parser and http-proxy-3, which are strict about request smuggling. Responses
// are followed only far enough to know where each ends (ResponseTracker).

/** Node's default --max-http-header-size: a longer head goes to Node's parser, which answers 431. */
export const MAX_HEAD_BYTES = 16 * 1024

/** RFC 9110 §9.2.2: methods whose requests may be sent again after a connection failed before the response. */
export const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

/** A request head the fast path can forward as bytes. Names and values are latin1 strings, as on the wire. */
export interface RequestHead {
  method: string
  /** The origin-form request-target, as sent. */
  target: string
  /** The Host field value, as sent ('' for an HTTP/1.0 head without one). */
  host: string
  /** Body bytes that follow the head (Content-Length; 0 without one). */
  bodyLength: number
  /** The connection ends after this exchange: `Connection: close`, or HTTP/1.0 without keep-alive. */
  close: boolean
  /** Bytes of the head, including the blank line. */
  length: number
  /** The field lines, `[name, value]`, in order. */
  fields: Array<[string, string]>
}

/** `head`: a complete plain head; `partial`: wait for more bytes; `other`: leave the connection to Node's parser. */
export type HeadScan = {head: RequestHead} | {partial: true} | {other: string}

/** What a scan takes besides plain HTTP/1.1 heads. */
export interface ScanOptions {
  /**
   * HTTP/1.0 heads too, with or without Host (`close` unless they ask for keep-alive, RFC 9112 §9.3). Only where
   * heads go to the node byte for byte (a per-service address): the router rewrites heads as HTTP/1.1.
   */
  http10?: boolean
}

const PLAIN_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']
const REQUEST_LINE = new RegExp(`^(${PLAIN_METHODS.join('|')}) (\\/[!-~]*) HTTP\\/1\\.([01])$`)
/** How every plain request line starts: with these, the first bytes tell at once what is not one. */
const LINE_STARTS = PLAIN_METHODS.map((method) => `${method} /`)
/**
 * RFC 9110 §5.1 token, then the value without control characters (RFC 9110 §5.5); no obs-fold. The value's
 * trailing spaces and tabs are trimmed apart (trimValue): a lazy match tried the end of the line after each character.
 */
const FIELD_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\0-\x08\n-\x1f\x7f]*)$/
const CONTENT_LENGTH = /^\d{1,15}$/
/** The blank line that ends a head, as bytes: Buffer.indexOf finds a Buffer faster than a string it must encode. */
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1')

/**
 * Fields that send a request to Node's parser: framing it re-checks (Transfer-Encoding), hop-by-hop fields the proxy
 * would have to drop (RFC 9110 §7.6.1), Expect (Node answers 100-continue itself), Upgrade (WebSockets).
 */
export const OTHER_FIELDS: ReadonlySet<string> = new Set([
  'transfer-encoding',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'expect',
])

/** Fields that may appear once at most on the fast path (twice is an error or needs merging). */
export const SINGLE_FIELDS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'connection',
  'x-forwarded-for',
  'x-forwarded-port',
  'x-forwarded-proto',
  'x-forwarded-host',
])

/** The lengths of the names above: any other name is none of them, and is not lowercased to look it up. */
const NOTED_LENGTHS = new Set([...OTHER_FIELDS, ...SINGLE_FIELDS].map((name) => name.length))

/** `value` without the spaces and tabs at its end (RFC 9110 §5.5 OWS; String.trimEnd takes more than these). */
function trimValue(value: string): string {
  let end = value.length
  while (end > 0 && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--
  return end === value.length ? value : value.slice(0, end)
}

/** A LF without the CR before it: RFC 9112 §2.2 lets a recipient accept it; Node refuses it, and so must we. */
function hasBareLf(text: string): boolean {
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) {
    if (at === 0 || text.charCodeAt(at - 1) !== 13) return true
  }
  return false
}

/** Reads the request head at the start of `bytes`. */
export function scanRequestHead(bytes: Buffer, options: ScanOptions = {}): HeadScan {
  const found = bytes.indexOf(HEAD_END)
  if (found < 0) {
    // Another protocol (an h2c preface, MQTT, TLS) is told apart by its first bytes, without waiting for more.
    if (hasBareLf(bytes.toString('latin1'))) return {other: 'bare LF'}
    const start = bytes.toString('latin1', 0, 8)
    if (!LINE_STARTS.some((line) => line.startsWith(start) || start.startsWith(line))) return {other: 'request line'}
    return bytes.length >= MAX_HEAD_BYTES ? {other: 'head too large'} : {partial: true}
  }
  const end = found + 4
  if (end > MAX_HEAD_BYTES) {
    return hasBareLf(bytes.toString('latin1', 0, end)) ? {other: 'bare LF'} : {other: 'head too large'}
  }
  // The head without its blank line; every line in it ends with CRLF, the last one included.
  const text = bytes.toString('latin1', 0, end - 2)
  if (hasBareLf(text)) return {other: 'bare LF'}
  let lineEnd = text.indexOf('\r\n')
  const request = REQUEST_LINE.exec(text.slice(0, lineEnd))
  if (!request) return {other: 'request line'}
  const http10 = request[3] === '0'
  if (http10 && !options.http10) return {other: 'request line'}
  const fields: Array<[string, string]> = []
  let host: string | undefined
  let length: string | undefined
  let connection: string | undefined
  /** The single fields seen so far, each between two LFs (a name holds no LF). */
  let singles = '\n'
  for (let at = lineEnd + 2; at < text.length; at = lineEnd + 2) {
    lineEnd = text.indexOf('\r\n', at)
    const field = FIELD_LINE.exec(text.slice(at, lineEnd))
    if (!field) return {other: 'field line'}
    const name = field[1]!
    const value = trimValue(field[2]!)
    fields.push([name, value])
    if (!NOTED_LENGTHS.has(name.length)) continue
    const key = name.toLowerCase()
    if (OTHER_FIELDS.has(key)) return {other: key}
    if (!SINGLE_FIELDS.has(key)) continue
    if (singles.includes(`\n${key}\n`)) return {other: `repeated ${key}`}
    singles += `${key}\n`
    if (key === 'host') host = value
    else if (key === 'content-length') length = value
    else if (key === 'connection') connection = value.toLowerCase()
  }
  host ??= http10 ? '' : undefined
  if (host === undefined) return {other: 'no host'}
  if (length !== undefined && !CONTENT_LENGTH.test(length)) return {other: 'content-length'}
  if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') return {other: 'connection'}
  return {
    head: {
      method: request[1]!,
      target: request[2]!,
      host,
      bodyLength: length === undefined ? 0 : Number(length),
      close: http10 ? connection !== 'keep-alive' : connection === 'close',
      length: end,
      fields,
    },
  }
}

/** The port a Host value names (the last `:digits`, after an IPv6 literal's `]`), or 80. */
function portOfHost(host: string): string {
  return /:(\d+)$/.exec(host)?.[1] ?? '80'
}

/** Whether the client sent X-Forwarded-* fields of its own (their names are 15 to 17 characters long). */
export function hasForwardedFields(head: RequestHead): boolean {
  return head.fields.some(
    ([name]) => name.length >= 15 && name.length <= 17 && name.toLowerCase().startsWith('x-forwarded-'),
  )
}

/**
 * The head as the node receives it, with the X-Forwarded-* fields http-proxy-3 adds on the slow path (`xfwd`):
 * For, Port and Proto appended to what the client sent, Host kept or set to the Host field.
 */
export function forwardedHead(head: RequestHead, clientAddress: string): Buffer {
  const added: Record<string, string> = {
    'x-forwarded-for': clientAddress,
    'x-forwarded-port': portOfHost(head.host),
    'x-forwarded-proto': 'http',
  }
  let text = `${head.method} ${head.target} HTTP/1.1\r\n`
  let hasForwardedHost = false
  for (const [name, value] of head.fields) {
    const key = name.toLowerCase()
    const extra = added[key]
    if (key === 'x-forwarded-host') hasForwardedHost = true
    if (extra === undefined) {
      text += `${name}: ${value}\r\n`
      continue
    }
    text += `${name}: ${value === '' ? '' : `${value},`}${extra}\r\n`
    delete added[key]
  }
  for (const [name, value] of Object.entries(added)) text += `${name}: ${value}\r\n`
  if (!hasForwardedHost) text += `x-forwarded-host: ${head.host}\r\n`
  return Buffer.from(`${text}\r\n`, 'latin1')
}

/**
 * What forwardedHead appends to a head without X-Forwarded-* fields of its own, blank line included. It depends on
 * the Host value and the client only, so a connection makes it once (host-splice.ts) rather than per request.
 */
export function forwardedSuffix(host: string, clientAddress: string): Buffer {
  return Buffer.from(
    `x-forwarded-for: ${clientAddress}\r\nx-forwarded-port: ${portOfHost(host)}\r\nx-forwarded-proto: http\r\n` +
      `x-forwarded-host: ${host}\r\n\r\n`,
    'latin1',
  )
}

/**
 * forwardedHead for a head (the first `head.length` bytes of `bytes`) without X-Forwarded-* fields of its own: the
 * client's request and field lines as sent (scanRequestHead took them: HTTP/1.1, no obs-fold, no bare LF), then
 * `suffix`. Node reads the same fields either way; this skips the strings a rebuilt head costs on every request.
 */
export function appendForwarded(bytes: Buffer, head: RequestHead, suffix: Buffer): Buffer {
  const kept = head.length - 2
  const out = Buffer.allocUnsafe(kept + suffix.length)
  bytes.copy(out, 0, 0, kept)
  suffix.copy(out, kept)
  return out
}

const CRLF = Buffer.from('\r\n', 'latin1')
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})/
const CONTENT_LENGTH_FIELD = /\r\ncontent-length:[ \t]*(\d+)[ \t]*\r\n/i
const CHUNKED_FIELD = /\r\ntransfer-encoding:[^\r\n]*chunked[ \t]*\r\n/i
const CHUNK_SIZE = /^([0-9a-fA-F]{1,12})[ \t]*(?:;[^\r\n]*)?$/

type Framing = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close' | 'unframed'

/**
 * Follows the responses on a spliced connection (RFC 9112 §6.3) just far enough to tell when every forwarded request
 * has its whole response, so that the connection can change hands between two exchanges. It reads heads and chunk
 * sizes only; bodies are skipped by length.
 */
export class ResponseTracker {
  /** Methods of the forwarded requests still waiting for the end of their response, oldest first. */
  private readonly waiting: string[] = []
  private framing: Framing = 'head'
  /** Body or chunk bytes still to skip, or the CRLF bytes after chunk data. */
  private left = 0
  /** A head, chunk-size line or trailer section that arrived in pieces. */
  private partial = ''

  /** A request was sent: its response comes after those of the requests before it. */
  request(method: string): void {
    this.waiting.push(method)
  }

  /** True when every request sent so far has its whole response. */
  get idle(): boolean {
    return this.waiting.length === 0 && this.framing === 'head' && this.partial === ''
  }

  /** False once the stream left HTTP/1.1 framing (an upgrade, a response that ends at close, garbage). */
  get framed(): boolean {
    return this.framing !== 'until-close' && this.framing !== 'unframed'
  }

  /** Reads response bytes as they are passed to the client. */
  feed(bytes: Buffer): void {
    let at = 0
    while (at < bytes.length && this.framed) {
      if (this.framing === 'body' || this.framing === 'chunk-data' || this.framing === 'chunk-end') {
        const skip = Math.min(this.left, bytes.length - at)
        at += skip
        this.left -= skip
        if (this.left > 0) continue
        if (this.framing === 'body') this.complete()
        else if (this.framing === 'chunk-data') [this.framing, this.left] = ['chunk-end', 2]
        else this.framing = 'chunk-size'
        continue
      }
      // head, chunk-size and trailers are line-based: read up to their end. Mostly the whole of it is in this
      // read: then only those bytes become a string (not the body after a head, a chunk's data after its size).
      if (this.partial === '') {
        const used = this.wholeLine(bytes, at)
        if (used > 0) {
          at += used
          continue
        }
      }
      const terminator = this.framing === 'chunk-size' ? '\r\n' : '\r\n\r\n'
      const text = this.partial + bytes.toString('latin1', at, Math.min(bytes.length, at + MAX_HEAD_BYTES))
      const end = this.framing === 'trailers' && text.startsWith('\r\n') ? 0 : text.indexOf(terminator)
      if (end < 0) {
        if (text.length > MAX_HEAD_BYTES) this.framing = 'unframed'
        else this.partial = text
        return
      }
      const used = (this.framing === 'trailers' && end === 0 ? 2 : end + terminator.length) - this.partial.length
      const line = text.slice(0, end)
      this.partial = ''
      at += used
      this.read(line)
    }
  }

  /**
   * Reads the line or section at `at` when all of it is in `bytes` within MAX_HEAD_BYTES (as feed's string search
   * would find it); returns the bytes used, or 0 to leave it to that search.
   */
  private wholeLine(bytes: Buffer, at: number): number {
    if (this.framing === 'trailers' && bytes[at] === 13 && bytes[at + 1] === 10) {
      this.read('')
      return 2
    }
    const terminator = this.framing === 'chunk-size' ? CRLF : HEAD_END
    const window = bytes.length - at > MAX_HEAD_BYTES ? bytes.subarray(at, at + MAX_HEAD_BYTES) : bytes
    const found = window.indexOf(terminator, window === bytes ? at : 0)
    if (found < 0) return 0
    const end = window === bytes ? found : at + found
    this.read(bytes.toString('latin1', at, end))
    return end + terminator.length - at
  }

  private read(text: string): void {
    if (this.framing === 'trailers') return this.complete()
    if (this.framing === 'chunk-size') {
      const size = CHUNK_SIZE.exec(text)
      if (!size) return void (this.framing = 'unframed')
      const length = parseInt(size[1]!, 16)
      if (length === 0) this.framing = 'trailers'
      else [this.framing, this.left] = ['chunk-data', length]
      return
    }
    const status = Number(STATUS_LINE.exec(text)?.[1] ?? NaN)
    const method = this.waiting[0]
    if (!Number.isInteger(status) || method === undefined) return void (this.framing = 'unframed')
    if (status === 101) return void (this.framing = 'unframed') // the connection is another protocol now
    if (status < 200) return // an interim response: the final one follows
    const head = `${text}\r\n`
    if (method === 'HEAD' || status === 204 || status === 304) return this.complete()
    if (CHUNKED_FIELD.test(head)) return void (this.framing = 'chunk-size')
    const length = CONTENT_LENGTH_FIELD.exec(head)?.[1]
    if (length === undefined) return void (this.framing = 'until-close')
    this.left = Number(length)
    this.framing = 'body'
    if (this.left === 0) this.complete()
  }

  private complete(): void {
    this.waiting.shift()
    this.framing = 'head'
    this.left = 0
  }
}
