// The fast path's request-head reading as it was first written (regular expressions over the split lines, one
// per field, and a Map of what was seen): the oracle that http-head.test.ts holds scanRequestHead to, over random
// heads. Any verdict on which the two differ is a change in what the fast path accepts. Which fields it looks for
// (OTHER_FIELDS, SINGLE_FIELDS) is shared: that is policy, not the reading under test.
import {
  MAX_HEAD_BYTES,
  OTHER_FIELDS,
  SINGLE_FIELDS,
  type HeadScan,
  type ScanOptions,
} from '../../src/proxy/http-head.js'

const PLAIN_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']
const REQUEST_LINE = new RegExp(`^(${PLAIN_METHODS.join('|')}) (\\/[!-~]*) HTTP\\/1\\.([01])$`)
/** How every plain request line starts: with these, the first bytes tell at once what is not one. */
const LINE_STARTS = PLAIN_METHODS.map((method) => `${method} /`)
/** RFC 9110 §5.1 token, then the value without control characters (RFC 9110 §5.5); no obs-fold. */
const FIELD_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\0-\x08\n-\x1f\x7f]*?)[ \t]*$/
const CONTENT_LENGTH = /^\d{1,15}$/

/** Where the head in `bytes` ends (after CRLF CRLF), -1 when it has not ended yet. */
function headEnd(bytes: Buffer): number {
  const at = bytes.indexOf('\r\n\r\n', 0, 'latin1')
  return at < 0 ? -1 : at + 4
}

/** A LF without the CR before it: RFC 9112 §2.2 lets a recipient accept it; Node refuses it, and so must we. */
function hasBareLf(bytes: Buffer, end: number): boolean {
  for (let at = bytes.indexOf(10); at >= 0 && at < end; at = bytes.indexOf(10, at + 1)) {
    if (at === 0 || bytes[at - 1] !== 13) return true
  }
  return false
}

/** Reads the request head at the start of `bytes`. */
export function scanRequestHeadByRegex(bytes: Buffer, options: ScanOptions = {}): HeadScan {
  const end = headEnd(bytes)
  const searched = end < 0 ? bytes.length : end
  if (hasBareLf(bytes, searched)) return {other: 'bare LF'}
  if (end < 0) {
    // Another protocol (an h2c preface, MQTT, TLS) is told apart by its first bytes, without waiting for more.
    const start = bytes.toString('latin1', 0, 8)
    if (!LINE_STARTS.some((line) => line.startsWith(start) || start.startsWith(line))) return {other: 'request line'}
    return bytes.length >= MAX_HEAD_BYTES ? {other: 'head too large'} : {partial: true}
  }
  if (end > MAX_HEAD_BYTES) return {other: 'head too large'}
  const lines = bytes.toString('latin1', 0, end - 4).split('\r\n')
  const request = REQUEST_LINE.exec(lines[0] ?? '')
  if (!request) return {other: 'request line'}
  const http10 = request[3] === '0'
  if (http10 && !options.http10) return {other: 'request line'}
  const fields: Array<[string, string]> = []
  const seen = new Map<string, string>()
  for (let i = 1; i < lines.length; i++) {
    const field = FIELD_LINE.exec(lines[i]!)
    if (!field) return {other: 'field line'}
    const [, name = '', value = ''] = field
    const key = name.toLowerCase()
    if (OTHER_FIELDS.has(key)) return {other: key}
    if (SINGLE_FIELDS.has(key) && seen.has(key)) return {other: `repeated ${key}`}
    seen.set(key, value)
    fields.push([name, value])
  }
  const host = seen.get('host') ?? (http10 ? '' : undefined)
  if (host === undefined) return {other: 'no host'}
  const length = seen.get('content-length')
  if (length !== undefined && !CONTENT_LENGTH.test(length)) return {other: 'content-length'}
  const connection = seen.get('connection')?.toLowerCase()
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
