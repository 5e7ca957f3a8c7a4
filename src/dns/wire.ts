// DNS wire format for the responder: our own decoder for queries (header, the question, the OPT record) and the
// assembly of replies from pre-encoded sections. Resource records themselves are encoded once per zone change by
// dns2's Packet (`encodeRecordData`); the per-query path below only copies bytes. doctor's client side (a query,
// the reading of its reply) is here too, so there is one DNS parser.
//
// Why decode ourselves: dns2 2.4.0 drops an OPT record carrying two EDNS options (it skips option data counting
// bits, not octets), hides malformed questions behind `questions: []`, and cannot tell "no header" from "bad body",
// so FORMERR, BADVERS and truncation would all be wrong on real queries. See node_modules/dns2/packet.js:
// `Packet.Resource.EDNS.decode` skips an option with `reader.read(optionLength)`, which reads bits, and
// `Packet.parse` swallows the error of any record it cannot decode.
import dns2 from 'dns2'
import type {Resource} from 'dns2'

/** Record types we answer or treat specially (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 6891, RFC 1995). */
export const TYPE = {A: 1, NS: 2, SOA: 6, AAAA: 28, SRV: 33, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255} as const

/** Classes (RFC 1035 §3.2.4). */
export const CLASS = {IN: 1, ANY: 255} as const

/** Response codes (RFC 1035 §4.1.1; BADVERS is the 12-bit extended code of RFC 6891 §9). */
export const RCODE = {NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16} as const

/** The standard query opcode (RFC 1035 §4.1.1). */
export const OPCODE_QUERY = 0

/** Octets in the fixed message header (RFC 1035 §4.1.1). */
export const HEADER_LENGTH = 12

/** A reply to a query without EDNS must fit in this many octets over UDP (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_PAYLOAD = 512

/**
 * The UDP payload size we advertise and never exceed: the DNS Flag Day 2020 value, small enough to avoid IP
 * fragmentation on any path (https://www.dnsflagday.net/2020/). A requester asking for more still gets at most this.
 */
export const EDNS_UDP_PAYLOAD = 1232

/** Largest DNS message a TCP length prefix can carry (RFC 1035 §4.2.2). */
export const MAX_TCP_MESSAGE = 0xffff

/** Octets of an OPT record with no options: root owner, type, class, TTL, RDLENGTH (RFC 6891 §6.1.2). */
const OPT_LENGTH = 11

/** Longest name on the wire, root label included (RFC 1035 §2.3.4). */
const MAX_NAME_LENGTH = 255

/** The EDNS information of a query's OPT record (RFC 6891 §6.1.3). */
export interface Edns {
  /** Requester's UDP payload size, as sent (the OPT CLASS field). */
  udpPayloadSize: number
  version: number
  /** The DO bit (RFC 3225); copied into the reply. */
  dnssecOk: boolean
}

/** The question of a query. */
export interface Question {
  /**
   * The name in lowercase (ASCII only, RFC 4343), labels joined by '.', no trailing dot. A '.' inside a label is
   * written as NUL so such names never equal a zone name nor fake a label boundary.
   */
  name: string
  /** The name as the requester wrote it (original case), uncompressed, root label included. */
  wire: Uint8Array
  type: number
  class: number
}

/** Header bits of a query a reply may echo (RFC 1035 §4.1.1; CD per RFC 4035 §3.2.2). */
export interface QueryHeader {
  id: number
  opcode: number
  rd: boolean
  cd: boolean
}

/** What a received message turned out to be. */
export type ParsedQuery =
  /** No header, or a response (QR=1): never answered, so two servers cannot bounce messages forever. */
  | {kind: 'drop'}
  /** The header is readable but the rest is not a well-formed message (or has two OPT records). */
  | {kind: 'malformed'; header: QueryHeader}
  | {kind: 'query'; header: QueryHeader; questionCount: number; question?: Question; edns?: Edns}

/** A run of encoded resource records ready to be copied into a reply. */
export interface Section {
  count: number
  bytes: Uint8Array
}

/** Decodes a received message. Never throws: anything unreadable becomes 'drop' or 'malformed'. */
export function parseQuery(msg: Uint8Array): ParsedQuery {
  if (msg.length < HEADER_LENGTH) return {kind: 'drop'}
  const flags = readU16(msg, 2)
  if (flags & 0x8000) return {kind: 'drop'}
  const header: QueryHeader = {
    id: readU16(msg, 0),
    opcode: (flags >> 11) & 0xf,
    rd: (flags & 0x0100) !== 0,
    cd: (flags & 0x0010) !== 0,
  }
  const questionCount = readU16(msg, 4)
  const recordCount = readU16(msg, 6) + readU16(msg, 8)
  const additionalCount = readU16(msg, 10)

  let offset = HEADER_LENGTH
  let question: Question | undefined
  for (let i = 0; i < questionCount; i++) {
    const name = readName(msg, offset, i === 0)
    if (!name || name.end + 4 > msg.length) return {kind: 'malformed', header}
    if (i === 0)
      question = {name: name.text, wire: name.wire, type: readU16(msg, name.end), class: readU16(msg, name.end + 2)}
    offset = name.end + 4
  }
  // Answer and authority records have no meaning in a query; they only have to be well formed.
  for (let i = 0; i < recordCount; i++) {
    const record = readRecordFrame(msg, offset)
    if (!record) return {kind: 'malformed', header}
    offset = record.end
  }
  let edns: Edns | undefined
  for (let i = 0; i < additionalCount; i++) {
    const record = readRecordFrame(msg, offset)
    if (!record) return {kind: 'malformed', header}
    if (record.type === TYPE.OPT) {
      // RFC 6891 §6.1.1: at most one OPT, owned by the root; §7: otherwise FORMERR.
      if (edns || record.nameLength !== 1 || !optionsWellFormed(msg, record.dataStart, record.end)) {
        return {kind: 'malformed', header}
      }
      const ttl = readU32(msg, record.dataStart - 6)
      edns = {udpPayloadSize: record.class, version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0}
    }
    offset = record.end
  }
  // Octets after the last record are ignored, as most servers do.
  return {kind: 'query', header, questionCount, question, edns}
}

/** What `encodeReply` turns into a message. */
export interface Reply {
  header: QueryHeader
  /** Authoritative Answer (RFC 1035 §4.1.1). */
  aa: boolean
  /** Up to 12 bits: the upper 8 go into the OPT record (RFC 6891 §6.1.3) and need `edns`. */
  rcode: number
  question?: Question
  answer?: Section
  authority?: Section
  /** Present when the query carried OPT: the reply then carries ours (RFC 6891 §7). */
  edns?: Edns
  /** Above this many octets the answer and authority sections are left out and TC is set (RFC 2181 §9). */
  maxLength: number
}

/** Builds a reply message: header, the question as asked, the sections, and our OPT record. */
export function encodeReply(reply: Reply): Uint8Array {
  const {header, question, edns} = reply
  const questionLength = question ? question.wire.length + 4 : 0
  const optLength = edns ? OPT_LENGTH : 0
  const base = HEADER_LENGTH + questionLength + optLength
  let answer = reply.answer
  let authority = reply.authority
  let truncated = false
  if (base + (answer?.bytes.length ?? 0) + (authority?.bytes.length ?? 0) > reply.maxLength) {
    truncated = true
    answer = undefined
    authority = undefined
  }
  const answerLength = answer?.bytes.length ?? 0
  const authorityLength = authority?.bytes.length ?? 0
  const out = newMessage(base + answerLength + authorityLength)

  // QR=1, opcode echoed; RA, Z and AD stay clear. RD and CD are copied for QUERY only: they are flags of a query
  // (RFC 1035 §4.1.1, RFC 4035 §3.2.2), other opcodes give those bits other meanings or none (RFC 2136 §2.2 makes
  // them Z in UPDATE; RFC 6895 §2), so a NOTIMP must not claim to understand them. ISC's DNS compliance test reports
  // echoed ones as `opcodeflg=rd,cd` (https://gitlab.isc.org/isc-projects/DNS-Compliance-Testing, genreport.c).
  const query = header.opcode === OPCODE_QUERY
  writeU16(out, 0, header.id)
  out[2] =
    0x80 | (header.opcode << 3) | (reply.aa ? 0x04 : 0) | (truncated ? 0x02 : 0) | (query && header.rd ? 0x01 : 0)
  out[3] = (query && header.cd ? 0x10 : 0) | (reply.rcode & 0xf)
  writeU16(out, 4, question ? 1 : 0)
  writeU16(out, 6, answer?.count ?? 0)
  writeU16(out, 8, authority?.count ?? 0)
  writeU16(out, 10, edns ? 1 : 0)

  let offset = HEADER_LENGTH
  if (question) {
    out.set(question.wire, offset)
    offset += question.wire.length
    writeU16(out, offset, question.type)
    writeU16(out, offset + 2, question.class)
    offset += 4
  }
  if (answer) {
    out.set(answer.bytes, offset)
    offset += answerLength
  }
  if (authority) {
    out.set(authority.bytes, offset)
    offset += authorityLength
  }
  if (edns) {
    // Root owner, TYPE, CLASS = our payload size, TTL = extended RCODE | version 0 | DO, RDLENGTH 0.
    out[offset] = 0
    writeU16(out, offset + 1, TYPE.OPT)
    writeU16(out, offset + 3, EDNS_UDP_PAYLOAD)
    out[offset + 5] = (reply.rcode >> 4) & 0xff
    out[offset + 6] = 0
    out[offset + 7] = edns.dnssecOk ? 0x80 : 0
    out[offset + 8] = 0
    writeU16(out, offset + 9, 0)
  }
  return out
}

/**
 * Room for a reply, every octet of which encodeReply writes, from Node's shared pool of small buffers
 * (Buffer.allocUnsafe). A reply made as a Uint8Array of its own is given memory of its own (a malloc, and a free
 * after a collection) when the socket hands it to the kernel: 0.3–0.4 µs of CPU per query of 8.7 (dnsperf,
 * docs/performance.md, tenth session).
 */
function newMessage(length: number): Uint8Array {
  return Buffer.allocUnsafe(length)
}

/** The largest reply a requester accepts over UDP (RFC 1035 §4.2.1, RFC 6891 §6.2.5), capped at ours. */
export function udpReplyLimit(edns: Edns | undefined): number {
  if (!edns) return CLASSIC_UDP_PAYLOAD
  return Math.min(Math.max(CLASSIC_UDP_PAYLOAD, edns.udpPayloadSize), EDNS_UDP_PAYLOAD)
}

/** A header-only SERVFAIL for `msg`, for when answering failed unexpectedly; undefined when `msg` has no header. */
export function serverFailure(msg: Uint8Array): Uint8Array | undefined {
  const parsed = parseQuery(msg)
  if (parsed.kind === 'drop') return undefined
  return encodeReply({header: parsed.header, aa: false, rcode: RCODE.SERVFAIL, maxLength: MAX_TCP_MESSAGE})
}

/** A query for `name` (no trailing dot needed) of `type`, class IN, recursion not desired (RFC 1035 §4.1). */
export function encodeQuery(id: number, name: string, type: number): Uint8Array {
  const wire = encodeName(name)
  const out = new Uint8Array(HEADER_LENGTH + wire.length + 4)
  writeU16(out, 0, id)
  writeU16(out, 4, 1) // QDCOUNT; the flags word stays 0: a standard query, RD clear
  out.set(wire, HEADER_LENGTH)
  writeU16(out, HEADER_LENGTH + wire.length, type)
  writeU16(out, HEADER_LENGTH + wire.length + 2, CLASS.IN)
  return out
}

/** The ID of a message (RFC 1035 §4.1.1), to match a reply to its query; undefined when it is too short for one. */
export function messageId(msg: Uint8Array): number | undefined {
  return msg.length < 2 ? undefined : readU16(msg, 0)
}

/** A reply as a client checking it needs it: header bits and the answer records' types. */
export interface ParsedResponse {
  id: number
  /** Authoritative Answer (RFC 1035 §4.1.1). */
  aa: boolean
  /** The header's 4-bit RCODE. */
  rcode: number
  /** TYPE of each answer record, in order. */
  answerTypes: number[]
}

/**
 * Decodes a response (QR=1) through its answer section; undefined when `msg` is not a response or its question or
 * answer section is not well formed. Authority and additional records are not read.
 */
export function parseResponse(msg: Uint8Array): ParsedResponse | undefined {
  if (msg.length < HEADER_LENGTH) return undefined
  const flags = readU16(msg, 2)
  if (!(flags & 0x8000)) return undefined
  let offset = HEADER_LENGTH
  for (let i = readU16(msg, 4); i > 0; i--) {
    const name = readName(msg, offset, false)
    if (!name || name.end + 4 > msg.length) return undefined
    offset = name.end + 4
  }
  const answerTypes: number[] = []
  for (let i = readU16(msg, 6); i > 0; i--) {
    const record = readRecordFrame(msg, offset)
    if (!record) return undefined
    answerTypes.push(record.type)
    offset = record.end
  }
  return {id: readU16(msg, 0), aa: (flags & 0x0400) !== 0, rcode: flags & 0xf, answerTypes}
}

/** A resource record as the zone compiler describes it; owner names are added per reply. */
export type RecordData =
  | {type: typeof TYPE.A; address: string}
  | {type: typeof TYPE.AAAA; address: string}
  | {type: typeof TYPE.NS; host: string}
  | {type: typeof TYPE.SRV; priority: number; weight: number; port: number; target: string}
  | {
      type: typeof TYPE.SOA
      mname: string
      rname: string
      serial: number
      refreshSeconds: number
      retrySeconds: number
      expireSeconds: number
      minimumSeconds: number
    }

/**
 * Encodes one record without its owner name: TYPE, CLASS IN, TTL, RDLENGTH, RDATA, with no compression (names in
 * RDATA are written in full, as RFC 3597 §4 requires for SRV). Addresses must already be valid (see
 * `parseIPv4`/`parseIPv6`); IPv6 is passed to dns2 fully expanded, the one form its encoder reads correctly.
 */
export function encodeRecordData(data: RecordData, ttlSeconds: number): Uint8Array {
  return encodeRecordDirect(data, ttlSeconds) ?? encodeRecordDataWithDns2(data, ttlSeconds)
}

/**
 * The fixed part after the owner: TYPE, CLASS IN, TTL (clamped to 2^31 - 1 as dns2 does: RFC 2181 §8) and RDLENGTH,
 * into a pooled buffer of 10 + `rdata` octets; the caller writes the RDATA from offset 10.
 */
function recordHead(type: number, ttlSeconds: number, rdata: number): Buffer {
  const bytes = Buffer.allocUnsafe(10 + rdata)
  bytes.writeUInt16BE(type, 0)
  bytes.writeUInt16BE(CLASS.IN, 2)
  bytes.writeUInt32BE(Math.min(ttlSeconds >>> 0, 0x7fffffff), 4)
  bytes.writeUInt16BE(rdata, 8)
  return bytes
}

/** Dotted-quad text as parseIPv4 gives it (no leading zeros needed, each 0–255). */
const IPV4_TEXT = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/
/** Eight groups of 1–4 hex digits, as parseIPv6 gives them. */
const IPV6_FULL = /^[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){7}$/
/** A host name dns2 would write as it is: labels of 1–63 printable ASCII octets, no empty label, no trailing dot. */
const PLAIN_NAME = /^[\x21-\x2d\x2f-\x7e]{1,63}(?:\.[\x21-\x2d\x2f-\x7e]{1,63})*$/

/**
 * The records a zone holds by the thousand (A, AAAA, SRV), written directly: dns2's generic encoder (a bit writer,
 * the type's name looked up among all types per record) cost about 20 µs each, 0.4 s of serve's start at 10,000
 * Services (test/bench/scale-bench.ts, --cpu-prof). The same octets as dns2's encoding (test/dns/wire.test.ts holds
 * them to it); undefined for anything else or any input not in the plain form, which dns2 then encodes.
 */
function encodeRecordDirect(data: RecordData, ttlSeconds: number): Buffer | undefined {
  switch (data.type) {
    case TYPE.A: {
      const m = IPV4_TEXT.exec(data.address)
      if (!m) return undefined
      const bytes = recordHead(TYPE.A, ttlSeconds, 4)
      for (let i = 0; i < 4; i++) {
        const octet = Number(m[i + 1])
        if (octet > 255) return undefined
        bytes[10 + i] = octet
      }
      return bytes
    }
    case TYPE.AAAA: {
      if (!IPV6_FULL.test(data.address)) return undefined
      const bytes = recordHead(TYPE.AAAA, ttlSeconds, 16)
      data.address.split(':').forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), 10 + 2 * i))
      return bytes
    }
    case TYPE.SRV: {
      const {target} = data
      if (target.length > 253 || !PLAIN_NAME.test(target)) return undefined
      const numbers = [data.priority, data.weight, data.port]
      if (!numbers.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff)) return undefined
      // Labels and their length octets take as many octets as the name has characters, plus the first length and
      // the root label (RFC 1035 §3.1).
      const bytes = recordHead(TYPE.SRV, ttlSeconds, 6 + target.length + 2)
      numbers.forEach((n, i) => bytes.writeUInt16BE(n, 10 + 2 * i))
      let at = 16
      for (const label of target.split('.')) {
        bytes[at++] = label.length
        bytes.write(label, at, 'latin1')
        at += label.length
      }
      bytes[at] = 0
      return bytes
    }
    default:
      return undefined
  }
}

/** encodeRecordData through dns2's Packet: every record type, any input dns2 takes. */
export function encodeRecordDataWithDns2(data: RecordData, ttlSeconds: number): Uint8Array {
  const base = {name: '', type: data.type, class: CLASS.IN, ttl: ttlSeconds}
  let fields: Partial<Resource>
  switch (data.type) {
    case TYPE.A:
    case TYPE.AAAA:
      fields = {address: data.address}
      break
    case TYPE.NS:
      fields = {ns: data.host}
      break
    case TYPE.SRV:
      fields = {priority: data.priority, weight: data.weight, port: data.port, target: data.target}
      break
    case TYPE.SOA:
      fields = {
        primary: data.mname,
        admin: data.rname,
        serial: data.serial,
        refresh: data.refreshSeconds,
        retry: data.retrySeconds,
        expiration: data.expireSeconds,
        minimum: data.minimumSeconds,
      }
      break
  }
  // Without a name table on the writer dns2 does not compress; the empty owner encodes as the single root octet.
  const bytes = dns2.Packet.Resource.encode(new dns2.Packet.Resource({...base, ...fields}))
  return Buffer.from(bytes.subarray(1))
}

/**
 * `length` bytes for a record or section the caller fills completely. Small ones are slices of Node's shared
 * Buffer pool (https://nodejs.org/api/buffer.html#static-method-bufferallocunsafesize), as are the records
 * Buffer.from copies: a zone of 10,000 Services holds some 80,000 of them, and with `new Uint8Array` each had an
 * ArrayBuffer of its own, a JS object and a native backing store (heap snapshot, test/bench/scale-bench.ts).
 */
function pooledBytes(length: number): Uint8Array {
  return Buffer.allocUnsafe(length)
}

/** A record run whose owner is the name at `pointer` (a message offset, RFC 1035 §4.1.4). */
export function ownedSection(pointer: number, records: Uint8Array[]): Section {
  let length = 0
  for (const record of records) length += 2 + record.length
  const bytes = pooledBytes(length)
  let offset = 0
  for (const record of records) {
    writeU16(bytes, offset, 0xc000 | pointer)
    bytes.set(record, offset + 2)
    offset += 2 + record.length
  }
  return {count: records.length, bytes}
}

/** Joins sections in order. */
export function joinSections(sections: Section[]): Section {
  let length = 0
  let count = 0
  for (const section of sections) {
    length += section.bytes.length
    count += section.count
  }
  const bytes = pooledBytes(length)
  let offset = 0
  for (const section of sections) {
    bytes.set(section.bytes, offset)
    offset += section.bytes.length
  }
  return {count, bytes}
}

/** Octets `name` (lowercase, no trailing dot, '' for the root) takes on the wire uncompressed. */
export function nameWireLength(name: string): number {
  return name === '' ? 1 : name.length + 2
}

/** Whether `name` can be a DNS name: labels of 1–63 octets, at most 255 octets on the wire (RFC 1035 §2.3.4). */
export function isValidName(name: string): boolean {
  if (name === '') return true
  if (nameWireLength(name) > MAX_NAME_LENGTH) return false
  return name.split('.').every((label) => label.length > 0 && label.length <= 63 && /^[\x21-\x7e]+$/.test(label))
}

/** Dotted-quad IPv4 text in canonical form, or undefined when `text` is not one. */
export function parseIPv4(text: string): string | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  const octets: number[] = []
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined
    const value = Number(part)
    if (value > 255) return undefined
    octets.push(value)
  }
  return octets.join('.')
}

/** IPv6 text (RFC 4291 §2.2, including '::' and a trailing dotted quad) as 8 full groups, or undefined. */
export function parseIPv6(text: string): string | undefined {
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groupsOf = (part: string, allowQuad: boolean): number[] | undefined => {
    if (part === '') return []
    const groups: number[] = []
    const pieces = part.split(':')
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i] ?? ''
      if (allowQuad && i === pieces.length - 1 && piece.includes('.')) {
        const quad = parseIPv4(piece)
        if (!quad) return undefined
        const [a = 0, b = 0, c = 0, d = 0] = quad.split('.').map(Number)
        groups.push((a << 8) | b, (c << 8) | d)
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        groups.push(parseInt(piece, 16))
      } else {
        return undefined
      }
    }
    return groups
  }
  const head = groupsOf(halves[0] ?? '', halves.length === 1)
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '', true) : []
  if (!head || !tail) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const groups = [...head, ...new Array<number>(halves.length === 1 ? 0 : missing).fill(0), ...tail]
  return groups.map((group) => group.toString(16)).join(':')
}

/** `name` uncompressed on the wire: each label after its length octet, then the root label (RFC 1035 §3.1). */
function encodeName(name: string): Uint8Array {
  const labels = name
    .split('.')
    .filter(Boolean)
    .map((label) => new TextEncoder().encode(label))
  const wire = new Uint8Array(labels.reduce((length, label) => length + 1 + label.length, 1))
  let offset = 0
  for (const label of labels) {
    wire[offset] = label.length
    wire.set(label, offset + 1)
    offset += 1 + label.length
  }
  return wire
}

interface NameRead {
  /** Offset just past the name where it was read (after the first pointer, if any). */
  end: number
  text: string
  wire: Uint8Array
}

/**
 * Reads the name at `offset`, following compression pointers (RFC 1035 §4.1.4). A pointer must go strictly
 * backwards from the labels it ends, which rules out loops. Text and uncompressed wire are built only for
 * `wanted` names (the question); others are just checked and skipped.
 */
function readName(msg: Uint8Array, offset: number, wanted: boolean): NameRead | undefined {
  let position = offset
  let runStart = offset
  let end = -1
  let wireLength = 1
  let text = ''
  let compressed = false
  while (position < msg.length) {
    const length = msg[position] ?? 0
    if (length === 0) {
      if (end < 0) end = position + 1
      if (!wanted) return {end, text, wire: msg}
      // A view made directly: subarray() on a Buffer looks up its species constructor first.
      const wire = compressed
        ? uncompressedName(msg, offset, wireLength)
        : new Uint8Array(msg.buffer, msg.byteOffset + offset, end - offset)
      return {end, text, wire}
    }
    const kind = length & 0xc0
    if (kind === 0xc0) {
      if (position + 1 >= msg.length) return undefined
      const target = ((length & 0x3f) << 8) | (msg[position + 1] ?? 0)
      if (target >= runStart) return undefined
      if (end < 0) end = position + 2
      compressed = true
      runStart = target
      position = target
      continue
    }
    // 0x40 and 0x80 are the obsolete extended and reserved label types (RFC 6891 §5): not accepted.
    if (kind !== 0) return undefined
    if (position + 1 + length > msg.length) return undefined
    wireLength += length + 1
    if (wireLength > MAX_NAME_LENGTH) return undefined
    if (wanted) {
      if (text !== '') text += '.'
      for (let i = position + 1; i <= position + length; i++) {
        const octet = msg[i] ?? 0
        // ASCII case folding only (RFC 4343 §3); a '.' inside a label becomes NUL (see Question.name).
        text += String.fromCharCode(octet >= 0x41 && octet <= 0x5a ? octet + 0x20 : octet === 0x2e ? 0 : octet)
      }
    }
    position += 1 + length
  }
  return undefined
}

/** Copies a compressed name (already validated by `readName`) into its uncompressed form. */
function uncompressedName(msg: Uint8Array, offset: number, wireLength: number): Uint8Array {
  const wire = new Uint8Array(wireLength)
  let position = offset
  let written = 0
  for (;;) {
    const length = msg[position] ?? 0
    if ((length & 0xc0) === 0xc0) {
      position = ((length & 0x3f) << 8) | (msg[position + 1] ?? 0)
      continue
    }
    wire.set(msg.subarray(position, position + 1 + length), written)
    written += 1 + length
    if (length === 0) return wire
    position += 1 + length
  }
}

interface RecordFrame {
  type: number
  class: number
  nameLength: number
  dataStart: number
  end: number
}

/** Checks the frame of the resource record at `offset` (RFC 1035 §4.1.3) and says where its data lies. */
function readRecordFrame(msg: Uint8Array, offset: number): RecordFrame | undefined {
  const name = readName(msg, offset, false)
  if (!name || name.end + 10 > msg.length) return undefined
  const dataStart = name.end + 10
  const end = dataStart + readU16(msg, name.end + 8)
  if (end > msg.length) return undefined
  return {
    type: readU16(msg, name.end),
    class: readU16(msg, name.end + 2),
    nameLength: name.end - offset,
    dataStart,
    end,
  }
}

/** Whether OPT RDATA is a sequence of whole {code, length, data} options (RFC 6891 §6.1.2). Contents are ignored. */
function optionsWellFormed(msg: Uint8Array, start: number, end: number): boolean {
  let offset = start
  while (offset < end) {
    if (offset + 4 > end) return false
    offset += 4 + readU16(msg, offset + 2)
  }
  return offset === end
}

function readU16(msg: Uint8Array, offset: number): number {
  return ((msg[offset] ?? 0) << 8) | (msg[offset + 1] ?? 0)
}

function readU32(msg: Uint8Array, offset: number): number {
  return readU16(msg, offset) * 0x10000 + readU16(msg, offset + 2)
}

function writeU16(out: Uint8Array, offset: number, value: number): void {
  out[offset] = (value >> 8) & 0xff
  out[offset + 1] = value & 0xff
}
