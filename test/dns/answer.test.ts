import {describe, expect, it} from 'vitest'

import {answerQuery, compileZone} from '../../src/dns/answer.js'
import {
  FLAG,
  T,
  buildQuery,
  decode,
  encodeName,
  flagsOf,
  manyAddresses,
  opcodeOf,
  optOf,
  optRecord,
  rcodeOf,
  sampleRecords,
  summarize,
  withOpcode,
} from './helpers.js'

const zone = compileZone(sampleRecords(), {serial: 7, nsAddress: '127.0.0.1'})

const SOA = 'kube.internal 5 SOA ns.kube.internal hostmaster.kube.internal 7 3600 600 86400 5'

function ask(qname: string, qtype: number, transport: 'udp' | 'tcp' = 'udp') {
  const reply = answerQuery(zone, buildQuery(qname, qtype), transport)
  if (!reply) throw new Error('no reply')
  return summarize(reply)
}

function answer(query: Uint8Array, transport: 'udp' | 'tcp' = 'udp'): Buffer {
  const reply = answerQuery(zone, query, transport)
  if (!reply) throw new Error('no reply')
  return Buffer.from(reply)
}

interface Row {
  case: string
  qname: string
  qtype: number
  rcode: string
  aa?: boolean
  answers?: string[]
  authority?: string[]
}

const rows: Row[] = [
  {
    case: 'a host answers A with each IPv4 address',
    qname: 'radarr.media.kube.internal',
    qtype: T.A,
    rcode: 'NOERROR',
    answers: ['radarr.media.kube.internal 5 A 192.168.1.10', 'radarr.media.kube.internal 5 A 192.168.1.11'],
  },
  {
    case: 'a host answers AAAA with its IPv6 addresses',
    qname: 'radarr.media.kube.internal',
    qtype: T.AAAA,
    rcode: 'NOERROR',
    answers: ['radarr.media.kube.internal 5 AAAA fd00::10'],
  },
  {
    case: 'names are case-insensitive',
    qname: 'SoNaRR.Kube.INTERNAL',
    qtype: T.A,
    rcode: 'NOERROR',
    answers: ['sonarr.kube.internal 5 A 192.168.1.20'],
  },
  {
    case: 'a trailing dot changes nothing',
    qname: 'sonarr.kube.internal.',
    qtype: T.A,
    rcode: 'NOERROR',
    answers: ['sonarr.kube.internal 5 A 192.168.1.20'],
  },
  {
    case: 'an IPv4-only host has no AAAA: NODATA',
    qname: 'sonarr.kube.internal',
    qtype: T.AAAA,
    rcode: 'NOERROR',
    authority: [SOA],
  },
  {
    case: 'an IPv6-only host has no A: NODATA',
    qname: 'v6.kube.internal',
    qtype: T.A,
    rcode: 'NOERROR',
    authority: [SOA],
  },
  {
    case: 'an SRV owner answers SRV, target uncompressed',
    qname: '_http._tcp.radarr.media.kube.internal',
    qtype: T.SRV,
    rcode: 'NOERROR',
    answers: ['_http._tcp.radarr.media.kube.internal 5 SRV 0 1 80 radarr.media.kube.internal'],
  },
  {
    case: 'an SRV owner has no A: NODATA',
    qname: '_http._tcp.radarr.media.kube.internal',
    qtype: T.A,
    rcode: 'NOERROR',
    authority: [SOA],
  },
  {
    case: 'an empty non-terminal above an SRV owner is NODATA (RFC 8020)',
    qname: '_tcp.radarr.media.kube.internal',
    qtype: T.SRV,
    rcode: 'NOERROR',
    authority: [SOA],
  },
  {
    case: 'an empty non-terminal above a host is NODATA, not NXDOMAIN',
    qname: 'media.kube.internal',
    qtype: T.A,
    rcode: 'NOERROR',
    authority: [SOA],
  },
  {
    case: 'an unknown name in the zone is NXDOMAIN with the SOA',
    qname: 'nope.kube.internal',
    qtype: T.A,
    rcode: 'NXDOMAIN',
    authority: [SOA],
  },
  {
    case: 'a name below a host is NXDOMAIN',
    qname: 'x.sonarr.kube.internal',
    qtype: T.A,
    rcode: 'NXDOMAIN',
    authority: [SOA],
  },
  {
    case: 'an unknown name answers NXDOMAIN for any type',
    qname: 'nope.kube.internal',
    qtype: 65280,
    rcode: 'NXDOMAIN',
    authority: [SOA],
  },
  {case: 'the apex answers SOA', qname: 'kube.internal', qtype: T.SOA, rcode: 'NOERROR', answers: [SOA]},
  {
    case: 'the apex answers NS',
    qname: 'kube.internal',
    qtype: T.NS,
    rcode: 'NOERROR',
    answers: ['kube.internal 5 NS ns.kube.internal'],
  },
  {case: 'the apex has no A: NODATA', qname: 'kube.internal', qtype: T.A, rcode: 'NOERROR', authority: [SOA]},
  {
    case: 'the name server answers A with the listen address',
    qname: 'ns.kube.internal',
    qtype: T.A,
    rcode: 'NOERROR',
    answers: ['ns.kube.internal 5 A 127.0.0.1'],
  },
  {
    case: 'the name server has no AAAA: NODATA',
    qname: 'ns.kube.internal',
    qtype: T.AAAA,
    rcode: 'NOERROR',
    authority: [SOA],
  },
  {
    case: 'an unknown type (65280) is NODATA',
    qname: 'sonarr.kube.internal',
    qtype: 65280,
    rcode: 'NOERROR',
    authority: [SOA],
  },
  {case: 'CAA is NODATA', qname: 'sonarr.kube.internal', qtype: T.CAA, rcode: 'NOERROR', authority: [SOA]},
  {case: 'TXT is NODATA', qname: 'sonarr.kube.internal', qtype: T.TXT, rcode: 'NOERROR', authority: [SOA]},
  {case: 'MX is NODATA', qname: 'sonarr.kube.internal', qtype: T.MX, rcode: 'NOERROR', authority: [SOA]},
  {
    case: 'ANY answers every set the name has',
    qname: 'radarr.media.kube.internal',
    qtype: T.ANY,
    rcode: 'NOERROR',
    answers: [
      'radarr.media.kube.internal 5 A 192.168.1.10',
      'radarr.media.kube.internal 5 A 192.168.1.11',
      'radarr.media.kube.internal 5 AAAA fd00::10',
    ],
  },
  {
    case: 'ANY at the apex answers SOA and NS',
    qname: 'kube.internal',
    qtype: T.ANY,
    rcode: 'NOERROR',
    answers: [SOA, 'kube.internal 5 NS ns.kube.internal'],
  },
  {
    case: 'ANY on an empty non-terminal is NODATA',
    qname: 'media.kube.internal',
    qtype: T.ANY,
    rcode: 'NOERROR',
    authority: [SOA],
  },
  {case: 'a zone transfer is refused', qname: 'kube.internal', qtype: T.AXFR, rcode: 'REFUSED', aa: false},
  {case: 'a name outside the zone is REFUSED', qname: 'example.com', qtype: T.A, rcode: 'REFUSED', aa: false},
  {case: 'the parent of the apex is REFUSED', qname: 'internal', qtype: T.SOA, rcode: 'REFUSED', aa: false},
  {
    case: 'a name ending in the zone without a label boundary is REFUSED',
    qname: 'xkube.internal',
    qtype: T.A,
    rcode: 'REFUSED',
    aa: false,
  },
  {
    case: 'the zone as a prefix of another name is REFUSED',
    qname: 'sonarr.kube.internal.example.com',
    qtype: T.A,
    rcode: 'REFUSED',
    aa: false,
  },
  {case: 'the root is REFUSED', qname: '', qtype: T.NS, rcode: 'REFUSED', aa: false},
]

describe('answerQuery: names and types', () => {
  it.each(rows)('$case', (row) => {
    expect(ask(row.qname, row.qtype)).toEqual({
      rcode: row.rcode,
      aa: row.aa ?? true,
      answers: row.answers ?? [],
      authority: row.authority ?? [],
    })
  })

  it('answers the same over TCP, byte for byte', () => {
    for (const row of rows) {
      const query = buildQuery(row.qname, row.qtype)
      expect(answer(query, 'tcp')).toEqual(answer(query, 'udp'))
    }
  })
})

describe('answerQuery: Ingress and route hosts (outside the zone, wildcards)', () => {
  const hostZone = compileZone(
    sampleRecords({
      hosts: [
        ['sonarr.kube.internal', ['192.168.1.20']],
        ['radarr.home.example.com', ['127.77.0.5']],
        ['*.apps.example.com', ['127.77.0.6']],
        ['*.lab.kube.internal', ['127.77.0.7']],
      ],
      srv: [],
    }),
    {serial: 7},
  )
  const hostRows: Row[] = [
    {
      case: 'an Ingress host outside the zone answers A',
      qname: 'Radarr.Home.Example.com',
      qtype: T.A,
      rcode: 'NOERROR',
      answers: ['radarr.home.example.com 5 A 127.77.0.5'],
    },
    {case: 'another type of it: NODATA', qname: 'radarr.home.example.com', qtype: T.AAAA, rcode: 'NOERROR'},
    {case: 'its parent is not known: REFUSED', qname: 'home.example.com', qtype: T.A, rcode: 'REFUSED', aa: false},
    {case: 'a name below it: REFUSED', qname: 'x.radarr.home.example.com', qtype: T.A, rcode: 'REFUSED', aa: false},
    {
      case: 'a wildcard host covers one label',
      qname: 'grafana.apps.example.com',
      qtype: T.A,
      rcode: 'NOERROR',
      answers: ['grafana.apps.example.com 5 A 127.77.0.6'],
    },
    {case: 'but not two', qname: 'a.b.apps.example.com', qtype: T.A, rcode: 'REFUSED', aa: false},
    {case: 'nor its own domain', qname: 'apps.example.com', qtype: T.A, rcode: 'REFUSED', aa: false},
    {
      case: 'a wildcard inside the zone answers too',
      qname: 'x.lab.kube.internal',
      qtype: T.A,
      rcode: 'NOERROR',
      answers: ['x.lab.kube.internal 5 A 127.77.0.7'],
    },
    {case: 'anything else outside stays REFUSED', qname: 'example.com', qtype: T.A, rcode: 'REFUSED', aa: false},
  ]
  it.each(hostRows)('$case', (row) => {
    const reply = answerQuery(hostZone, buildQuery(row.qname, row.qtype), 'udp')
    expect(summarize(reply!)).toEqual({
      rcode: row.rcode,
      aa: row.aa ?? true,
      answers: row.answers ?? [],
      authority: row.authority ?? [],
    })
  })
})

/** Every flag bit a query can carry (genreport's `opcodeflg` probe sets them all). */
const EVERY_FLAG = FLAG.AA | FLAG.TC | FLAG.RD | FLAG.RA | FLAG.Z | FLAG.AD | FLAG.CD

/** A message that is only a header: no question, as `dig +header-only` sends. */
function headerOnly(flags: number): Buffer {
  const message = Buffer.alloc(12)
  message.writeUInt16BE(0x1234, 0)
  message.writeUInt16BE(flags, 2)
  return message
}

interface HeaderRow {
  case: string
  query: Buffer
  rcode: string
  /** The reply's flags as dig prints them; the reply's opcode is always the query's. */
  flags: string[]
}

const headerRows: HeaderRow[] = [
  {
    case: 'QUERY with every flag set: AA set, RD and CD copied, TC, RA, Z and AD clear',
    query: buildQuery('sonarr.kube.internal', T.A, {flags: EVERY_FLAG}),
    rcode: 'NOERROR',
    flags: ['qr', 'aa', 'rd', 'cd'],
  },
  {
    case: 'IQUERY (1) is NOTIMP and copies neither RD nor CD',
    query: buildQuery('sonarr.kube.internal', T.A, {flags: withOpcode(1, FLAG.RD | FLAG.CD | FLAG.AD)}),
    rcode: 'NOTIMP',
    flags: ['qr'],
  },
  {
    case: 'STATUS (2) is NOTIMP and copies neither RD nor CD',
    query: buildQuery('sonarr.kube.internal', T.A, {flags: withOpcode(2, FLAG.RD | FLAG.CD)}),
    rcode: 'NOTIMP',
    flags: ['qr'],
  },
  {
    case: 'NOTIFY (4) is NOTIMP and copies no flag',
    query: buildQuery('kube.internal', T.SOA, {flags: withOpcode(4, FLAG.AA | FLAG.RD)}),
    rcode: 'NOTIMP',
    flags: ['qr'],
  },
  {
    case: 'UPDATE (5) is NOTIMP and copies no flag',
    query: buildQuery('kube.internal', T.SOA, {flags: withOpcode(5, FLAG.RD | FLAG.CD)}),
    rcode: 'NOTIMP',
    flags: ['qr'],
  },
  {
    case: "unassigned opcode 15, header only, every flag set (genreport's opcodeflg) is NOTIMP with only QR",
    query: headerOnly(withOpcode(15, EVERY_FLAG)),
    rcode: 'NOTIMP',
    flags: ['qr'],
  },
  {
    case: 'an unknown opcode on a malformed message is FORMERR and copies no flag',
    query: headerOnly(withOpcode(15, FLAG.RD | FLAG.CD)).fill(0xff, 4, 6), // QDCOUNT 65535, no questions
    rcode: 'FORMERR',
    flags: ['qr'],
  },
]

describe('answerQuery: header', () => {
  it('echoes the ID and the question as asked, and points answer owners at it', () => {
    const reply = decode(answer(buildQuery('SoNaRR.Kube.INTERNAL', T.A, {id: 0xbeef})))
    expect(reply.id).toBe(0xbeef)
    expect(reply.questions).toEqual([{name: 'SoNaRR.Kube.INTERNAL', type: 'A', class: 'IN'}])
    expect(reply.answers?.[0]?.name).toBe('SoNaRR.Kube.INTERNAL')
  })

  it('points the SOA owner at the apex inside the question', () => {
    const reply = decode(answer(buildQuery('Nope.KUBE.internal', T.A)))
    expect(reply.authorities?.[0]?.name).toBe('KUBE.internal')
  })

  it('sets QR and AA, copies RD and CD, and leaves RA, Z and AD clear', () => {
    const query = buildQuery('sonarr.kube.internal', T.A, {flags: FLAG.RD | FLAG.Z | FLAG.AD | FLAG.CD | FLAG.RA})
    const flags = answer(query).readUInt16BE(2)
    expect(flags & 0xfff0).toBe(FLAG.QR | FLAG.AA | FLAG.RD | FLAG.CD)
    const plain = answer(buildQuery('sonarr.kube.internal', T.A, {flags: 0})).readUInt16BE(2)
    expect(plain & 0xfff0).toBe(FLAG.QR | FLAG.AA)
  })

  it.each(headerRows)('$case', (row) => {
    const reply = answer(row.query)
    expect({rcode: rcodeOf(reply), opcode: opcodeOf(reply), flags: flagsOf(reply)}).toEqual({
      rcode: row.rcode,
      opcode: opcodeOf(row.query),
      flags: row.flags,
    })
  })

  it('answers an opcode other than QUERY with NOTIMP, echoing the opcode', () => {
    for (const opcode of [1, 2, 4, 5, 15]) {
      const reply = answer(buildQuery('sonarr.kube.internal', T.A, {flags: (opcode << 11) | FLAG.RD}))
      expect(rcodeOf(reply)).toBe('NOTIMP')
      expect((reply.readUInt16BE(2) >> 11) & 0xf).toBe(opcode)
      expect(decode(reply).answers).toEqual([])
    }
  })

  it('answers QDCOUNT 0 or 2 with FORMERR', () => {
    const none = buildQuery('sonarr.kube.internal', T.A).subarray(0, 12)
    none.writeUInt16BE(0, 4)
    expect(rcodeOf(answer(none))).toBe('FORMERR')
    const one = buildQuery('sonarr.kube.internal', T.A)
    const two = Buffer.concat([one, one.subarray(12)])
    two.writeUInt16BE(2, 4)
    const reply = answer(two)
    expect(rcodeOf(reply)).toBe('FORMERR')
    expect(decode(reply).id).toBe(0x1234)
  })

  it('refuses classes other than IN', () => {
    expect(summarize(answer(buildQuery('sonarr.kube.internal', T.A, {qclass: 3})))).toEqual({
      rcode: 'REFUSED',
      aa: false,
      answers: [],
      authority: [],
    })
  })

  it('drops responses (QR=1) and messages shorter than a header', () => {
    expect(answerQuery(zone, buildQuery('sonarr.kube.internal', T.A, {flags: FLAG.QR}), 'udp')).toBeUndefined()
    expect(answerQuery(zone, Buffer.from([1, 2, 3, 4, 5]), 'udp')).toBeUndefined()
    expect(answerQuery(zone, new Uint8Array(0), 'tcp')).toBeUndefined()
  })
})

describe('answerQuery: EDNS (RFC 6891)', () => {
  it('answers a query with OPT with an OPT: payload 1232, version 0', () => {
    const reply = decode(answer(buildQuery('sonarr.kube.internal', T.A, {edns: [{udpPayloadSize: 4096}]})))
    expect(optOf(reply)).toMatchObject({name: '.', udpPayloadSize: 1232, ednsVersion: 0, extendedRcode: 0})
    expect(reply.answers?.length).toBe(1)
  })

  it("writes every octet of its OPT, whatever the memory a reply is made in held before (Node's buffer pool)", () => {
    // Replies come from Buffer.allocUnsafe's shared pool: dirty all of it, the part not handed out yet included.
    new Uint8Array(Buffer.allocUnsafe(1).buffer).fill(0xff)
    const reply = answer(buildQuery('sonarr.kube.internal', T.A, {edns: [{udpPayloadSize: 4096}]}))
    // Root owner, TYPE OPT (41), CLASS 1232, extended RCODE 0, version 0, flags 0, RDLENGTH 0.
    expect([...reply.subarray(reply.length - 11)]).toEqual([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0])
  })

  it('sends no OPT when the query had none', () => {
    expect(decode(answer(buildQuery('sonarr.kube.internal', T.A))).additionals).toEqual([])
  })

  it('keeps an OPT with two options and unknown flags (the dns2 2.4.0 bug) and honours its size', () => {
    const options = [
      {code: 10, data: new Uint8Array(8)}, // COOKIE, as dig sends
      {code: 12, data: new Uint8Array(4)}, // PADDING
      {code: 65001, data: new Uint8Array([1, 2, 3])}, // unknown: ignored
    ]
    const query = buildQuery('many.kube.internal', T.A, {edns: [{udpPayloadSize: 1232, options, flags: 0x7fff}]})
    const reply = answer(query)
    expect(decode(reply).flag_tc).toBe(false)
    expect(decode(reply).answers?.length).toBe(60)
    expect(optOf(decode(reply))?.udpPayloadSize).toBe(1232)
  })

  it('copies the DO bit', () => {
    const reply = decode(answer(buildQuery('sonarr.kube.internal', T.A, {edns: [{dnssecOk: true}]})))
    expect(optOf(reply)?.flag_do).toBe(true)
  })

  it('answers EDNS version 1 with BADVERS: RCODE 0 in the header, 1 in the OPT, no answer', () => {
    const reply = answer(buildQuery('sonarr.kube.internal', T.A, {edns: [{version: 1}]}))
    expect(reply[3]! & 0xf).toBe(0)
    const decoded = decode(reply)
    expect(optOf(decoded)).toMatchObject({extendedRcode: 1, ednsVersion: 0})
    expect(rcodeOf(reply)).toBe('BADVERS')
    expect(decoded.answers).toEqual([])
    expect(decoded.questions).toEqual([{name: 'sonarr.kube.internal', type: 'A', class: 'IN'}])
  })

  it('answers two OPT records with FORMERR', () => {
    const reply = answer(buildQuery('sonarr.kube.internal', T.A, {edns: [{}, {}]}))
    expect(rcodeOf(reply)).toBe('FORMERR')
    expect(decode(reply).answers).toEqual([])
  })

  it('answers a malformed OPT (owner not root, option overrunning its data) with FORMERR', () => {
    const base = buildQuery('sonarr.kube.internal', T.A)
    base.writeUInt16BE(1, 10)
    const notRoot = Buffer.concat([base, encodeName('x'), optRecord().subarray(1)])
    expect(rcodeOf(answer(notRoot))).toBe('FORMERR')
    const opt = optRecord({options: [{code: 10, data: new Uint8Array(8)}]})
    opt.writeUInt16BE(9, 13) // option length 9 in 8 octets
    expect(rcodeOf(answer(Buffer.concat([base, opt])))).toBe('FORMERR')
  })
})

describe('answerQuery: truncation', () => {
  const many = 'many.kube.internal' // 60 A records: 1007 octets

  it('truncates over UDP without EDNS: TC, question kept, answer and authority emptied', () => {
    const reply = answer(buildQuery(many, T.A))
    expect(reply.length).toBeLessThanOrEqual(512)
    const decoded = decode(reply)
    expect(decoded.flag_tc).toBe(true)
    expect(decoded.flag_aa).toBe(true)
    expect(decoded.questions).toEqual([{name: many, type: 'A', class: 'IN'}])
    expect(decoded.answers).toEqual([])
    expect(decoded.authorities).toEqual([])
  })

  it('truncates over UDP when the advertised size is too small, keeping the OPT', () => {
    const decoded = decode(answer(buildQuery(many, T.A, {edns: [{udpPayloadSize: 512}]})))
    expect(decoded.flag_tc).toBe(true)
    expect(optOf(decoded)?.udpPayloadSize).toBe(1232)
  })

  it('treats an advertised size below 512 as 512', () => {
    const decoded = decode(answer(buildQuery('sonarr.kube.internal', T.A, {edns: [{udpPayloadSize: 100}]})))
    expect(decoded.flag_tc).toBe(false)
  })

  it('sends the whole answer over UDP when it fits the advertised size', () => {
    const decoded = decode(answer(buildQuery(many, T.A, {edns: [{udpPayloadSize: 1232}]})))
    expect(decoded.flag_tc).toBe(false)
    expect(decoded.answers?.length).toBe(60)
  })

  it('never sends more than 1232 octets over UDP, whatever the requester accepts', () => {
    const decoded = decode(answer(buildQuery('huge.kube.internal', T.A, {edns: [{udpPayloadSize: 4096}]})))
    expect(decoded.flag_tc).toBe(true)
  })

  it('sends the whole answer over TCP', () => {
    const decoded = decode(answer(buildQuery('huge.kube.internal', T.A), 'tcp'))
    expect(decoded.flag_tc).toBe(false)
    expect(decoded.answers?.length).toBe(100)
  })
})

describe('answerQuery: malformed messages', () => {
  const header = (qd: number, an = 0, ns = 0, ar = 0) =>
    Buffer.from([0xab, 0xcd, 0x01, 0x00, 0, qd, 0, an, 0, ns, 0, ar])
  const tail = Buffer.from([0, 1, 0, 1])

  const cases: Array<[string, Buffer]> = [
    ['a header claiming a question it lacks', header(1)],
    ['a question cut short', Buffer.concat([header(1), encodeName('sonarr.kube.internal').subarray(0, 8)])],
    ['a question without type and class', Buffer.concat([header(1), encodeName('sonarr.kube.internal')])],
    ['a compression pointer to itself', Buffer.concat([header(1), Buffer.from([0xc0, 12]), tail])],
    ['a compression pointer loop', Buffer.concat([header(1), Buffer.from([1, 0x61, 0xc0, 12]), tail])],
    ['a forward compression pointer', Buffer.concat([header(1), Buffer.from([0xc0, 40]), tail, Buffer.alloc(40)])],
    ['a pointer cut in half', Buffer.concat([header(1), Buffer.from([0xc0])])],
    [
      'a label length of 64 (reserved bits 01)',
      Buffer.concat([header(1), Buffer.from([0x40]), Buffer.alloc(64), tail]),
    ],
    ['a label type 10', Buffer.concat([header(1), Buffer.from([0x80, 0]), tail])],
    [
      'a name longer than 255 octets',
      Buffer.concat([header(1), encodeName(Array(5).fill('a'.repeat(60)).join('.')), tail]),
    ],
    ['an answer count beyond the data', Buffer.concat([header(1, 3), encodeName('a.kube.internal'), tail])],
    [
      'an additional record cut short',
      Buffer.concat([header(1, 0, 0, 1), encodeName('a.kube.internal'), tail, Buffer.from([0, 0, 41])]),
    ],
    [
      'a record length beyond the data',
      Buffer.concat([
        header(1, 0, 0, 1),
        encodeName('a.kube.internal'),
        tail,
        Buffer.from([0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 50, 1]),
      ]),
    ],
  ]

  it.each(cases)('answers %s with FORMERR, echoing the ID', (_name, message) => {
    const reply = answer(message)
    expect(rcodeOf(reply)).toBe('FORMERR')
    expect(reply.readUInt16BE(0)).toBe(0xabcd)
    expect(reply.readUInt16BE(2) & FLAG.RD).toBe(FLAG.RD)
    expect(reply.length).toBe(12)
  })

  it('accepts a question name compressed with a backward pointer', () => {
    // The question's name points back into a (meaningless) header: legal structure, answered normally.
    const message = Buffer.concat([header(1), Buffer.from([0xc0, 11]), tail])
    message[11] = 0 // arcount low byte doubles as the root label
    expect(rcodeOf(answer(message))).toBe('REFUSED')
  })

  it('ignores octets after the last record', () => {
    const message = Buffer.concat([buildQuery('sonarr.kube.internal', T.A), Buffer.from([1, 2, 3])])
    expect(summarize(answer(message)).answers).toEqual(['sonarr.kube.internal 5 A 192.168.1.20'])
  })

  it('never throws on random bytes', () => {
    let seed = 42
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff
    const valid = buildQuery('radarr.media.kube.internal', T.A, {
      edns: [{options: [{code: 10, data: new Uint8Array(8)}]}],
    })
    for (let i = 0; i < 5000; i++) {
      const message = Buffer.from(valid)
      for (let j = 0; j < 1 + (i % 6); j++) message[random() % message.length] = random()
      const cut = message.subarray(0, i % 3 === 0 ? random() % message.length : message.length)
      expect(() => answerQuery(zone, cut, i % 2 ? 'udp' : 'tcp')).not.toThrow()
    }
  })
})

describe('compileZone', () => {
  it('skips bad addresses and invalid names, and says so (names outside the zone are Ingress hosts now)', () => {
    const compiled = compileZone(
      sampleRecords({
        hosts: [
          ['ok.kube.internal', ['10.0.0.1', '10.0.0.1', '300.1.1.1', 'fd00::1', 'fd00:::1', '::ffff:10.0.0.2']],
          ['a..b.kube.internal', ['10.0.0.3']],
        ],
        srv: [['_x._tcp.ok.kube.internal', [{priority: 0, weight: 0, port: 70000, target: 'ok.kube.internal'}]]],
      }),
      {serial: 1},
    )
    expect(compiled.problems).toEqual([
      'skipped address "300.1.1.1" of ok.kube.internal: not an IPv4 address',
      'skipped address "fd00:::1" of ok.kube.internal: not an IPv6 address',
      'skipped host "a..b.kube.internal": not a valid name in kube.internal',
      'skipped SRV record of _x._tcp.ok.kube.internal → ok.kube.internal:70000: invalid target or number',
    ])
    const ask = (name: string, type: number) => summarize(answerQuery(compiled, buildQuery(name, type), 'udp')!)
    expect(ask('ok.kube.internal', T.A).answers).toEqual(['ok.kube.internal 5 A 10.0.0.1'])
    expect(ask('ok.kube.internal', T.AAAA).answers).toEqual([
      'ok.kube.internal 5 AAAA fd00::1',
      'ok.kube.internal 5 AAAA ::ffff:a00:2', // dns-packet's spelling of ::ffff:10.0.0.2
    ])
  })

  it('lowercases names and strips trailing dots', () => {
    const compiled = compileZone(
      {domain: 'Kube.Internal.', hosts: new Map([['Web.KUBE.internal.', ['10.0.0.1']]]), srv: new Map()},
      {serial: 1},
    )
    expect(summarize(answerQuery(compiled, buildQuery('web.kube.internal', T.A), 'udp')!).answers).toEqual([
      'web.kube.internal 5 A 10.0.0.1',
    ])
  })

  it('gives ns.<zone> no A when listening on all interfaces or IPv6, and keeps a host named ns', () => {
    for (const nsAddress of ['0.0.0.0', '::1', undefined]) {
      const compiled = compileZone(sampleRecords(), {serial: 1, nsAddress})
      expect(summarize(answerQuery(compiled, buildQuery('ns.kube.internal', T.A), 'udp')!).rcode).toBe('NOERROR')
      expect(summarize(answerQuery(compiled, buildQuery('ns.kube.internal', T.A), 'udp')!).answers).toEqual([])
    }
    const own = compileZone(sampleRecords({hosts: [['ns.kube.internal', ['10.9.9.9']]]}), {
      serial: 1,
      nsAddress: '127.0.0.1',
    })
    expect(summarize(answerQuery(own, buildQuery('ns.kube.internal', T.A), 'udp')!).answers).toEqual([
      'ns.kube.internal 5 A 10.9.9.9',
    ])
  })

  it('answers the same when reusing the records a previous zone encoded', () => {
    const before = compileZone(sampleRecords({hosts: [['sonarr.kube.internal', ['192.168.1.20', '10.0.0.9']]]}), {
      serial: 1,
    })
    const reused = compileZone(sampleRecords(), {serial: 2, previous: before})
    const fresh = compileZone(sampleRecords(), {serial: 2})
    for (const row of rows) {
      const query = buildQuery(row.qname, row.qtype)
      expect(answerQuery(reused, query, 'tcp')).toEqual(answerQuery(fresh, query, 'tcp'))
    }
    expect(summarize(answerQuery(reused, buildQuery('kube.internal', T.SOA), 'udp')!).answers).toEqual([
      'kube.internal 5 SOA ns.kube.internal hostmaster.kube.internal 2 3600 600 86400 5',
    ])
  })

  it('rejects an unusable zone apex', () => {
    expect(() => compileZone({domain: '', hosts: new Map(), srv: new Map()}, {serial: 1})).toThrow(/not a valid domain/)
    expect(() => compileZone({domain: 'a..b', hosts: new Map(), srv: new Map()}, {serial: 1})).toThrow(
      /not a valid domain/,
    )
  })

  it('handles a host with many addresses', () => {
    const compiled = compileZone(sampleRecords({hosts: [['big.kube.internal', manyAddresses(1000)]]}), {serial: 1})
    expect(decode(answerQuery(compiled, buildQuery('big.kube.internal', T.A), 'tcp')!).answers?.length).toBe(1000)
  })
})
