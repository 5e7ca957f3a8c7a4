// DNS fuzzing (npm run test:fuzz): 100,000 malformed or random packets over UDP and TCP at the responder, then
// valid queries must still answer correctly, and the heap must be about where it started.
import dgram from 'node:dgram'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startDnsServer, type DnsServer} from '../../src/dns/server.js'
import {buildQuery, encodeName, optRecord, T} from '../dns/helpers.js'
import {seededRandom} from '../seeded-random.js'

const UDP_PACKETS = 80_000
const TCP_CONNECTIONS = 2_000
const TCP_MESSAGES_PER_CONNECTION = 10

const SEED = Number(process.env.FUZZ_SEED ?? 20261126)
const random = seededRandom(SEED)
const int = (n: number) => Math.floor(random() * n)
const bytes = (n: number) => Buffer.from(Array.from({length: n}, () => int(256)))

/** One malformed packet of a random kind. */
function malformed(): Buffer {
  const valid = buildQuery(
    ['radarr.kube.internal', 'x.kube.internal', 'example.com'][int(3)]!,
    [T.A, T.AAAA, T.SRV, T.ANY, int(65536)][int(5)]!,
    {id: int(65536)},
  )
  switch (int(10)) {
    case 0: // random bytes of random length
      return bytes(int(600))
    case 1: // truncated header or question
      return valid.subarray(0, int(valid.length))
    case 2: {
      // a compression pointer that points at itself, or loops between two
      const b = Buffer.from(valid)
      b.writeUInt16BE(0xc000 | 12, 12)
      return b.subarray(0, 16)
    }
    case 3: {
      // counts far beyond the data
      const b = Buffer.from(valid)
      for (const at of [4, 6, 8, 10]) b.writeUInt16BE(int(65536), at)
      return b
    }
    case 4: // an oversized label (length byte 63..255) and a name longer than 255 bytes
      return Buffer.concat([
        valid.subarray(0, 12),
        Buffer.from([64 + int(192)]),
        bytes(300),
        Buffer.from([0, 0, 1, 0, 1]),
      ])
    case 5: {
      // odd classes and types
      const b = Buffer.from(valid)
      b.writeUInt16BE(int(65536), b.length - 4)
      b.writeUInt16BE(int(65536), b.length - 2)
      return b
    }
    case 6: {
      // EDNS with random options, versions, flags and sizes; sometimes two OPT records
      const opt = () =>
        optRecord({
          udpPayloadSize: int(65536),
          version: int(256),
          flags: int(65536),
          options: Array.from({length: int(4)}, () => ({code: int(65536), data: bytes(int(40))})),
        })
      const extra = int(2) + 1
      const b = Buffer.concat([valid, ...Array.from({length: extra}, opt)])
      b.writeUInt16BE(extra, 10)
      return b
    }
    case 7: {
      // flip random bits of a valid query
      const b = Buffer.from(valid)
      for (let i = 0; i < 1 + int(8); i++) b[int(b.length)]! ^= 1 << int(8)
      return b
    }
    case 8: // header with QR set (a response) or an unknown opcode
      return Buffer.concat([Buffer.from([int(256), int(256), 0x80 | (int(16) << 3), 0]), valid.subarray(4)])
    default: // a label with a reserved type (0x40, 0x80) in the first byte
      return Buffer.concat([
        valid.subarray(0, 12),
        Buffer.from([0x40 | int(64)]),
        encodeName('a.kube.internal'),
        Buffer.from([0, 1, 0, 1]),
      ])
  }
}

let dns: DnsServer
const records = {domain: 'kube.internal', hosts: new Map([['radarr.kube.internal', ['127.77.0.5']]]), srv: new Map()}

beforeAll(async () => {
  dns = await startDnsServer({address: '127.0.0.1', port: 0, records})
})
afterAll(() => dns.close())

function heapMb(): number {
  ;(globalThis as {gc?: () => void}).gc?.()
  return process.memoryUsage().heapUsed / 2 ** 20
}

/** A valid query over UDP, answered with radarr's address. */
function validAnswer(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4')
    const timer = setTimeout(() => (socket.close(), resolve(false)), 2000)
    socket.on('message', (msg) => {
      clearTimeout(timer)
      socket.close()
      resolve(msg.readUInt16BE(6) === 1 && msg.subarray(msg.length - 4).join('.') === '127.77.0.5')
    })
    socket.send(buildQuery('radarr.kube.internal', T.A, {id: 7}), dns.udpPort, '127.0.0.1')
  })
}

async function fuzzUdp(count: number): Promise<number> {
  const socket = dgram.createSocket('udp4')
  let replies = 0
  socket.on('message', () => replies++)
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  for (let sent = 0; sent < count; sent++) {
    socket.send(malformed(), dns.udpPort, '127.0.0.1')
    // Pace the sender so the kernel buffer does not drop most packets before the server sees them.
    if (sent % 200 === 199) await new Promise((r) => setTimeout(r, 2))
  }
  await new Promise((r) => setTimeout(r, 200))
  socket.close()
  return replies
}

/** TCP connections carrying garbage: random frames, length prefixes that lie, half messages, abrupt closes. */
async function fuzzTcp(connections: number): Promise<void> {
  const one = () =>
    new Promise<void>((resolve) => {
      const socket = net.connect(dns.tcpPort, '127.0.0.1')
      socket.on('error', () => resolve())
      socket.on('close', () => resolve())
      socket.on('data', () => {})
      socket.on('connect', () => {
        for (let i = 0; i < TCP_MESSAGES_PER_CONNECTION; i++) {
          const body = malformed()
          const lie = int(4)
          const length = lie === 0 ? int(65536) : lie === 1 ? 0 : body.length
          const prefix = Buffer.alloc(2)
          prefix.writeUInt16BE(length)
          socket.write(Buffer.concat([prefix, body]))
        }
        if (int(2)) socket.destroy()
        else socket.end()
      })
    })
  for (let i = 0; i < connections; i += 50) await Promise.all(Array.from({length: Math.min(50, connections - i)}, one))
}

describe('DNS responder under fuzzing', () => {
  it(`answers valid queries after ${UDP_PACKETS + TCP_CONNECTIONS * TCP_MESSAGES_PER_CONNECTION} malformed packets, with a flat heap (seed ${SEED})`, async () => {
    expect(await validAnswer()).toBe(true)
    await fuzzUdp(5_000) // warm up code paths and buffers before measuring
    const before = heapMb()
    const replies = await fuzzUdp(UDP_PACKETS)
    await fuzzTcp(TCP_CONNECTIONS)
    for (let i = 0; i < 20; i++) expect(await validAnswer()).toBe(true)
    const after = heapMb()
    console.log(
      `dns fuzz: ${UDP_PACKETS} UDP packets (${replies} replies), ${TCP_CONNECTIONS}×${TCP_MESSAGES_PER_CONNECTION} TCP messages; heap ${before.toFixed(1)} → ${after.toFixed(1)} MiB`,
    )
    expect(after - before).toBeLessThan(20)
  }, 300_000)
})
