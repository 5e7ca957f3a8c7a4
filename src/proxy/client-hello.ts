// The server name of a TLS ClientHello, read from the first bytes of a connection without terminating TLS. Pure.
// Formats: the record layer (RFC 8446 §5.1; the same in TLS 1.0–1.2, RFC 5246 §6.2.1): type 22 (handshake), a
// version, a 16-bit length of at most 2^14, then the fragment; a handshake message may be split over several records.
// ClientHello (RFC 8446 §4.1.2): legacy_version, random[32], session id<0..32>, cipher suites<2..2^16-2>, compression
// methods<1..2^8-1>, extensions<8..2^16-1> (absent in SSLv3-era hellos). server_name (RFC 6066 §3): extension 0, a
// ServerNameList of (name_type 0 = host_name, HostName<1..2^16-1>), "without a trailing dot".

/** What the bytes so far say. */
export type HelloScan =
  /** Not a whole ClientHello yet: read more (and call again with everything read). */
  | {kind: 'more'}
  /** A complete ClientHello; `serverName` lowercase, undefined when it carries no SNI. */
  | {kind: 'hello'; serverName?: string}
  /** Not TLS, or a malformed or oversized hello: `reason` for the log line. */
  | {kind: 'invalid'; reason: string}

const RECORD_HANDSHAKE = 22
const HANDSHAKE_CLIENT_HELLO = 1
const EXTENSION_SERVER_NAME = 0
const NAME_TYPE_HOST_NAME = 0
/** RFC 8446 §5.1: a record's fragment is at most 2^14 bytes. */
const MAX_RECORD_LENGTH = 16_384
/**
 * A ClientHello larger than this is refused. Hellos with post-quantum key shares are about 1.8 KB (X25519MLKEM768,
 * draft-ietf-tls-ecdhe-mlkem), with padding (RFC 7685) up to a few KB; 64 KiB leaves room and bounds what is held.
 */
export const MAX_HELLO_BYTES = 65_536

/** Reads the server name of the ClientHello at the start of `bytes` (everything the client sent so far). */
export function scanClientHello(bytes: Uint8Array): HelloScan {
  if (bytes.length === 0) return {kind: 'more'}
  if (bytes[0] !== RECORD_HANDSHAKE) return {kind: 'invalid', reason: 'not a TLS handshake'}
  // Join the fragments of the handshake records until the ClientHello is whole.
  const parts: Uint8Array[] = []
  let have = 0
  let need: number | undefined
  for (let offset = 0; ;) {
    if (need !== undefined && have >= need) break
    if (offset + 5 > bytes.length) return {kind: 'more'}
    if (bytes[offset] !== RECORD_HANDSHAKE)
      return {kind: 'invalid', reason: 'a record other than handshake before the ClientHello ended'}
    if (bytes[offset + 1] !== 3) return {kind: 'invalid', reason: 'not a TLS record version'}
    const length = (bytes[offset + 3]! << 8) | bytes[offset + 4]!
    if (length === 0 || length > MAX_RECORD_LENGTH) return {kind: 'invalid', reason: `record length ${length}`}
    const end = offset + 5 + length
    parts.push(bytes.subarray(offset + 5, Math.min(end, bytes.length)))
    have += Math.min(end, bytes.length) - offset - 5
    if (need === undefined && have >= 4) {
      const head = join(parts, 4)
      if (head[0] !== HANDSHAKE_CLIENT_HELLO)
        return {kind: 'invalid', reason: 'the first handshake message is not a ClientHello'}
      need = 4 + ((head[1]! << 16) | (head[2]! << 8) | head[3]!)
      if (need > MAX_HELLO_BYTES) return {kind: 'invalid', reason: `ClientHello of ${need} bytes is too large`}
    }
    if (end > bytes.length) {
      if (need !== undefined && have >= need) break
      return {kind: 'more'}
    }
    offset = end
  }
  return parseHello(join(parts, need!).subarray(4))
}

/** The first `length` bytes of the concatenation of `parts` (no copy when the first part holds them: most hellos). */
function join(parts: Uint8Array[], length: number): Uint8Array {
  if (parts[0]!.length >= length) return parts[0]!.subarray(0, length)
  const out = new Uint8Array(length)
  let at = 0
  for (const part of parts) {
    if (at >= length) break
    const take = part.subarray(0, length - at)
    out.set(take, at)
    at += take.length
  }
  return out
}

/** The ClientHello body (after its 4-byte handshake header). */
function parseHello(body: Uint8Array): HelloScan {
  const bad = (what: string): HelloScan => ({kind: 'invalid', reason: `malformed ClientHello: ${what}`})
  let at = 2 + 32 // legacy_version, random
  if (at + 1 > body.length) return bad('too short')
  at += 1 + body[at]! // session id
  if (at + 2 > body.length) return bad('no cipher suites')
  at += 2 + u16(body, at) // cipher suites
  if (at + 1 > body.length) return bad('no compression methods')
  at += 1 + body[at]! // compression methods
  if (at > body.length) return bad('compression methods cut short')
  if (at === body.length) return {kind: 'hello'} // no extensions at all
  if (at + 2 > body.length) return bad('extensions cut short')
  const end = at + 2 + u16(body, at)
  if (end > body.length) return bad('extensions cut short')
  for (at += 2; at + 4 <= end;) {
    const type = u16(body, at)
    const length = u16(body, at + 2)
    const data = at + 4
    if (data + length > end) return bad('an extension runs past the end')
    if (type === EXTENSION_SERVER_NAME) return serverName(body.subarray(data, data + length))
    at = data + length
  }
  return {kind: 'hello'}
}

/** The host_name of a server_name extension's data. */
function serverName(data: Uint8Array): HelloScan {
  const bad = (what: string): HelloScan => ({kind: 'invalid', reason: `malformed server_name: ${what}`})
  if (data.length < 2 || u16(data, 0) + 2 !== data.length) return bad('list length')
  for (let at = 2; at + 3 <= data.length;) {
    const type = data[at]!
    const length = u16(data, at + 1)
    if (at + 3 + length > data.length) return bad('name length')
    if (type === NAME_TYPE_HOST_NAME) {
      const bytes = data.subarray(at + 3, at + 3 + length)
      // Host names are ASCII letters, digits, '-', '.', and '_' as some clusters use (RFC 6066 §3 HostName).
      if (!bytes.every(isHostNameByte)) return bad('not a host name')
      let name = ascii.decode(bytes).toLowerCase()
      if (name.endsWith('.')) name = name.slice(0, -1)
      return name === '' ? bad('empty host name') : {kind: 'hello', serverName: name}
    }
    at += 3 + length
  }
  return {kind: 'hello'}
}

const ascii = new TextDecoder('ascii')

/** A letter, digit, '-', '.' or '_'. */
function isHostNameByte(byte: number): boolean {
  const lower = byte | 0x20 // ASCII letters differ in case by this bit alone
  return (
    (lower >= 0x61 && lower <= 0x7a) ||
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d ||
    byte === 0x2e ||
    byte === 0x5f
  )
}

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!
}
