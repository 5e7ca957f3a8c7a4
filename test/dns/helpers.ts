// Test helpers for the DNS responder: raw query bytes (any type, class, flag or OPT, on purpose beyond what
// dns-packet's typings allow) and replies decoded with dns-packet into comparable summaries.
import packet from 'dns-packet'
import type {Answer, DecodedPacket} from 'dns-packet'

import type {DnsRecords, SrvRecord} from '../../src/servemap/types.js'

/** Record types by number (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 6844). */
export const T = {A: 1, NS: 2, SOA: 6, MX: 15, TXT: 16, AAAA: 28, SRV: 33, AXFR: 252, ANY: 255, CAA: 257} as const

/** Flag bits of the header's second 16-bit word. */
export const FLAG = {QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080, Z: 0x0040, AD: 0x0020, CD: 0x0010}

/** The header flags of a message as dig prints them (`qr aa tc rd ra z ad cd`), in that order. */
export function flagsOf(message: Uint8Array): string[] {
  const word = ((message[2] ?? 0) << 8) | (message[3] ?? 0)
  const order = ['QR', 'AA', 'TC', 'RD', 'RA', 'Z', 'AD', 'CD'] as const
  return order.filter((name) => word & FLAG[name]).map((name) => name.toLowerCase())
}

/** The opcode of a message's header (RFC 1035 §4.1.1). */
export function opcodeOf(message: Uint8Array): number {
  return ((message[2] ?? 0) >> 3) & 0xf
}

/** The flags word for `opcode` with the given flag bits. */
export function withOpcode(opcode: number, flags = 0): number {
  return (opcode << 11) | flags
}

export interface EdnsOptions {
  udpPayloadSize?: number
  version?: number
  dnssecOk?: boolean
  /** Other EDNS flag bits (the 16-bit field DO is the top bit of). */
  flags?: number
  /** Raw {code, data} options. */
  options?: Array<{code: number; data: Uint8Array}>
}

export interface QueryOptions {
  id?: number
  /** The whole flags word; default RD only. */
  flags?: number
  qclass?: number
  /** One OPT record per entry (two is an error we test). */
  edns?: EdnsOptions[]
}

/** Wire form of a name, uncompressed; case kept as written. */
export function encodeName(name: string): Buffer {
  const parts: Buffer[] = []
  for (const label of name.split('.').filter((l) => l !== '')) {
    parts.push(Buffer.from([label.length]), Buffer.from(label, 'latin1'))
  }
  parts.push(Buffer.from([0]))
  return Buffer.concat(parts)
}

function u16(value: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(value)
  return b
}

/** The bytes of an OPT record (RFC 6891 §6.1.2). */
export function optRecord(edns: EdnsOptions = {}): Buffer {
  const rdata = Buffer.concat((edns.options ?? []).map((o) => Buffer.concat([u16(o.code), u16(o.data.length), o.data])))
  const flags = (edns.flags ?? 0) | (edns.dnssecOk ? 0x8000 : 0)
  const ttl = Buffer.from([0, edns.version ?? 0, flags >> 8, flags & 0xff])
  return Buffer.concat([Buffer.from([0]), u16(41), u16(edns.udpPayloadSize ?? 1232), ttl, u16(rdata.length), rdata])
}

/** A one-question query. */
export function buildQuery(name: string, type: number, options: QueryOptions = {}): Buffer {
  const opts = options.edns ?? []
  const header = Buffer.concat([u16(options.id ?? 0x1234), u16(options.flags ?? FLAG.RD), u16(1), u16(0), u16(0)])
  return Buffer.concat([
    header,
    u16(opts.length),
    encodeName(name),
    u16(type),
    u16(options.qclass ?? 1),
    ...opts.map((o) => optRecord(o)),
  ])
}

/** Frames a message for TCP (RFC 1035 §4.2.2). */
export function frame(message: Uint8Array): Buffer {
  return Buffer.concat([u16(message.length), message])
}

const RCODES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  16: 'BADVERS',
}

/** What a table row compares. */
export interface Summary {
  rcode: string
  aa: boolean
  answers: string[]
  authority: string[]
}

export function decode(reply: Uint8Array): DecodedPacket {
  return packet.decode(Buffer.from(reply))
}

/** The OPT record of a reply, if any. */
export function optOf(decoded: DecodedPacket): Extract<Answer, {type: 'OPT'}> | undefined {
  return decoded.additionals?.find((r): r is Extract<Answer, {type: 'OPT'}> => r.type === 'OPT')
}

/** The full 12-bit RCODE name: header low bits, OPT high bits (RFC 6891 §6.1.3). */
export function rcodeOf(reply: Uint8Array): string {
  const high = optOf(decode(reply))?.extendedRcode ?? 0
  const code = (high << 4) | ((reply[3] ?? 0) & 0xf)
  return RCODES[code] ?? `RCODE${code}`
}

/** `name ttl TYPE data`, names lowercase. */
export function formatRecord(record: Answer): string {
  const head = `${record.name.toLowerCase()} ${'ttl' in record ? record.ttl : ''} ${record.type}`
  switch (record.type) {
    case 'A':
    case 'AAAA':
    case 'NS':
      return `${head} ${record.data}`
    case 'SRV':
      return `${head} ${record.data.priority} ${record.data.weight} ${record.data.port} ${record.data.target}`
    case 'SOA': {
      const d = record.data
      return `${head} ${d.mname} ${d.rname} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`
    }
    default:
      return `${head} ?`
  }
}

export function summarize(reply: Uint8Array): Summary {
  const decoded = decode(reply)
  return {
    rcode: rcodeOf(reply),
    aa: decoded.flag_aa,
    answers: (decoded.answers ?? []).map(formatRecord),
    authority: (decoded.authorities ?? []).map(formatRecord),
  }
}

/** n IPv4 addresses 10.0.x.y. */
export function manyAddresses(n: number): string[] {
  return Array.from({length: n}, (_, i) => `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`)
}

/** Records for the zone `kube.internal` used across the DNS tests. */
export function sampleRecords(overrides: {hosts?: Array<[string, string[]]>; srv?: Array<[string, SrvRecord[]]>} = {}) {
  const records: DnsRecords = {
    domain: 'kube.internal',
    hosts: new Map(
      overrides.hosts ?? [
        ['radarr.media.kube.internal', ['192.168.1.10', '192.168.1.11', 'fd00::10']],
        ['sonarr.kube.internal', ['192.168.1.20']],
        ['v6.kube.internal', ['fd00::20']],
        ['many.kube.internal', manyAddresses(60)],
        ['huge.kube.internal', manyAddresses(100)],
      ],
    ),
    srv: new Map(
      overrides.srv ?? [
        [
          '_http._tcp.radarr.media.kube.internal',
          [{priority: 0, weight: 1, port: 80, target: 'radarr.media.kube.internal'}],
        ],
      ],
    ),
  }
  return records
}
