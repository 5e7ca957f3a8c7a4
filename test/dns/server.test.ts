// The responder over real sockets on 127.0.0.1: Node's resolver, dig (UDP and TCP), raw UDP and TCP clients.
import {execFile} from 'node:child_process'
import dgram from 'node:dgram'
import {promises as dnsPromises} from 'node:dns'
import net from 'node:net'
import {describe, expect, it, onTestFinished} from 'vitest'

import {startDnsServer} from '../../src/dns/server.js'
import type {DnsServer, DnsServerOptions} from '../../src/dns/server.js'
import type {DnsRecords} from '../../src/servemap/types.js'
import {waitFor} from '../e2e/serve-helpers.js'
import {T, buildQuery, decode, frame, rcodeOf, sampleRecords, summarize} from './helpers.js'

const HOST = '127.0.0.1'

/** Starts a responder on port 0 and registers its cleanup at once. */
async function start(records: DnsRecords = sampleRecords(), extra: Partial<DnsServerOptions> = {}): Promise<DnsServer> {
  const server = await startDnsServer({address: HOST, port: 0, records, ...extra})
  onTestFinished(() => server.close())
  return server
}

function resolver(server: DnsServer): dnsPromises.Resolver {
  const r = new dnsPromises.Resolver({timeout: 3000, tries: 1})
  r.setServers([`${HOST}:${server.udpPort}`])
  return r
}

/** Runs dig against the server; resolves with its stdout whatever the exit status. */
function dig(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'dig',
      [`@${HOST}`, '-p', String(port), '+time=3', '+tries=1', ...args],
      {timeout: 10_000},
      (error, stdout) => {
        if (error && stdout === '') reject(error)
        else resolve(stdout)
      },
    )
  })
}

/** The flags dig prints (`;; flags: qr aa rd;`), sorted. */
function digFlags(output: string): string[] {
  const match = /;; flags: ([a-z ]*);/.exec(output)
  return (match?.[1] ?? '').split(' ').filter(Boolean).sort()
}

function digStatus(output: string): string | undefined {
  return /status: ([A-Z]+)/.exec(output)?.[1]
}

/** Sends datagrams and collects `count` replies. */
async function udpExchange(port: number, messages: Uint8Array[], count = messages.length): Promise<Buffer[]> {
  const socket = dgram.createSocket('udp4')
  onTestFinished(() => new Promise<void>((resolve) => socket.close(() => resolve())))
  const replies: Buffer[] = []
  const done = new Promise<Buffer[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${replies.length} of ${count} UDP replies`)), 5000)
    socket.on('message', (message) => {
      replies.push(message)
      if (replies.length === count) {
        clearTimeout(timer)
        resolve(replies)
      }
    })
  })
  for (const message of messages) {
    await new Promise<void>((resolve, reject) => socket.send(message, port, HOST, (e) => (e ? reject(e) : resolve())))
  }
  return done
}

/** A TCP connection that collects length-framed replies. */
async function tcpConnect(port: number) {
  const socket = net.connect({host: HOST, port})
  onTestFinished(() => void socket.destroy())
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  let buffered = Buffer.alloc(0)
  const replies: Buffer[] = []
  const waiters: Array<() => void> = []
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      replies.push(buffered.subarray(2, 2 + buffered.readUInt16BE(0)))
      buffered = buffered.subarray(2 + buffered.readUInt16BE(0))
    }
    for (const wake of waiters.splice(0)) wake()
  })
  return {
    write: (bytes: Uint8Array) => new Promise<void>((resolve) => socket.write(bytes, () => resolve())),
    /** Resolves once `count` replies have arrived in total. */
    async replies(count: number): Promise<Buffer[]> {
      const deadline = Date.now() + 5000
      while (replies.length < count) {
        if (Date.now() > deadline) throw new Error(`got ${replies.length} of ${count} TCP replies`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 100)
        })
      }
      return replies.slice(0, count)
    },
  }
}

describe("Node's resolver", () => {
  it('resolves A, AAAA and SRV, and reports unknown and outside names', async () => {
    const server = await start()
    const r = resolver(server)
    expect(await r.resolve4('radarr.media.kube.internal')).toEqual(['192.168.1.10', '192.168.1.11'])
    expect(await r.resolve4('RADARR.media.kube.internal')).toEqual(['192.168.1.10', '192.168.1.11'])
    expect(await r.resolve6('radarr.media.kube.internal')).toEqual(['fd00::10'])
    // toMatchObject: Node 24's resolver adds `type: 'SRV'` to each record; the SRV fields are what is served.
    expect(await r.resolveSrv('_http._tcp.radarr.media.kube.internal')).toMatchObject([
      {name: 'radarr.media.kube.internal', port: 80, priority: 0, weight: 1},
    ])
    expect(await r.resolve4('many.kube.internal')).toHaveLength(60)
    await expect(r.resolve4('nope.kube.internal')).rejects.toMatchObject({code: 'ENOTFOUND'})
    await expect(r.resolve6('sonarr.kube.internal')).rejects.toMatchObject({code: 'ENODATA'})
    await expect(r.resolve4('example.com')).rejects.toMatchObject({code: 'EREFUSED'})
  })
})

describe('dig', () => {
  it('answers over UDP and TCP', async () => {
    const server = await start()
    expect(await dig(server.udpPort, ['radarr.media.kube.internal', 'A', '+short'])).toBe(
      '192.168.1.10\n192.168.1.11\n',
    )
    expect(await dig(server.tcpPort, ['+tcp', 'radarr.media.kube.internal', 'A', '+short'])).toBe(
      '192.168.1.10\n192.168.1.11\n',
    )
    expect(await dig(server.udpPort, ['ns.kube.internal', 'A', '+short'])).toBe(`${HOST}\n`)
  })

  it('shows an authoritative answer without recursion available', async () => {
    const server = await start()
    const out = await dig(server.udpPort, ['sonarr.kube.internal', 'A'])
    expect(digStatus(out)).toBe('NOERROR')
    expect(digFlags(out)).toEqual(['aa', 'qr', 'rd'])
    expect(out).toMatch(/sonarr\.kube\.internal\.\s+5\s+IN\s+A\s+192\.168\.1\.20/)
    expect(out).toMatch(/EDNS: version: 0, flags:; udp: 1232/)
  })

  it('shows NXDOMAIN with the SOA, and REFUSED outside the zone', async () => {
    const server = await start()
    const nx = await dig(server.udpPort, ['nope.kube.internal', 'A'])
    expect(digStatus(nx)).toBe('NXDOMAIN')
    expect(digFlags(nx)).toEqual(['aa', 'qr', 'rd'])
    expect(nx).toMatch(
      /AUTHORITY SECTION:\nkube\.internal\.\s+5\s+IN\s+SOA\s+ns\.kube\.internal\. hostmaster\.kube\.internal\./,
    )
    const refused = await dig(server.tcpPort, ['+tcp', 'example.com', 'A'])
    expect(digStatus(refused)).toBe('REFUSED')
    expect(digFlags(refused)).toEqual(['qr', 'rd'])
  })

  it("answers genreport's opcodeflg probe (opcode 15, every flag set) with NOTIMP and only QR", async () => {
    const server = await start()
    const flags = ['+tcflag', '+rec', '+raflag', '+cd', '+ad', '+aaflag', '+zflag']
    const out = await dig(server.udpPort, ['+noedns', '+header-only', '+opcode=15', ...flags])
    expect(digStatus(out)).toBe('NOTIMP')
    expect(digFlags(out)).toEqual(['qr'])
  })

  it('shows BADVERS for EDNS version 1', async () => {
    const server = await start()
    const out = await dig(server.udpPort, ['+edns=1', '+noednsnegotiation', 'sonarr.kube.internal', 'A'])
    expect(digStatus(out)).toBe('BADVERS')
    expect(out).toMatch(/ANSWER: 0/)
  })

  it('gets TC over UDP with a 512-octet buffer, and the whole answer over TCP', async () => {
    const server = await start()
    const udp = await dig(server.udpPort, ['+bufsize=512', '+ignore', 'many.kube.internal', 'A'])
    expect(digFlags(udp)).toEqual(['aa', 'qr', 'rd', 'tc'])
    expect(udp).toMatch(/QUERY: 1, ANSWER: 0, AUTHORITY: 0/)
    const tcp = await dig(server.tcpPort, ['+tcp', 'many.kube.internal', 'A', '+short'])
    expect(tcp.trim().split('\n')).toHaveLength(60)
  })
})

describe('TCP', () => {
  it('answers two pipelined queries in one write and a query split over two writes', async () => {
    const server = await start()
    const conn = await tcpConnect(server.tcpPort)
    await conn.write(
      Buffer.concat([
        frame(buildQuery('sonarr.kube.internal', T.A, {id: 1})),
        frame(buildQuery('v6.kube.internal', T.AAAA, {id: 2})),
      ]),
    )
    const split = frame(buildQuery('radarr.media.kube.internal', T.A, {id: 3}))
    await conn.write(split.subarray(0, 1))
    await new Promise((resolve) => setTimeout(resolve, 20))
    await conn.write(split.subarray(1, 20))
    await new Promise((resolve) => setTimeout(resolve, 20))
    await conn.write(split.subarray(20))
    const replies = await conn.replies(3)
    expect(replies.map((r) => decode(r).id)).toEqual([1, 2, 3])
    expect(replies.map((r) => summarize(r).answers)).toEqual([
      ['sonarr.kube.internal 5 A 192.168.1.20'],
      ['v6.kube.internal 5 AAAA fd00::20'],
      ['radarr.media.kube.internal 5 A 192.168.1.10', 'radarr.media.kube.internal 5 A 192.168.1.11'],
    ])
  })

  it('keeps answering on a connection after a malformed message', async () => {
    const server = await start()
    const conn = await tcpConnect(server.tcpPort)
    const header = Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    await conn.write(
      Buffer.concat([frame(Buffer.from([1, 2, 3])), frame(header), frame(buildQuery('sonarr.kube.internal', T.A))]),
    )
    const [formerr, ok] = await conn.replies(2)
    expect(rcodeOf(formerr!)).toBe('FORMERR')
    expect(formerr!.readUInt16BE(0)).toBe(0xabcd)
    expect(summarize(ok!).answers).toEqual(['sonarr.kube.internal 5 A 192.168.1.20'])
  })
})

describe('TCP message deadline', () => {
  /** A raw connection that remembers whether the server closed it and how much of its message was out by then. */
  async function rawConnect(port: number) {
    const socket = net.connect({host: HOST, port})
    onTestFinished(() => void socket.destroy())
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    const state = {sent: 0, sentWhenClosed: -1, replied: false}
    socket.on('error', () => {}) // a write racing the server's close: 'close' follows
    socket.on('data', () => (state.replied = true))
    socket.on('close', () => (state.sentWhenClosed = state.sent))
    return {socket, state}
  }

  it('closes a client that trickles its message past the deadline, while a normal client keeps working', async () => {
    const server = await start(sampleRecords(), {tcpMessageDeadlineMs: 300})
    const normal = await tcpConnect(server.tcpPort)
    await normal.write(frame(buildQuery('sonarr.kube.internal', T.A, {id: 1})))
    await normal.replies(1)

    // One octet every 50 ms: the whole message takes over 2 s, six times the deadline, while no gap comes near the
    // idle timeout. Timers of one process fire in order, so the deadline passes before most octets are sent.
    const message = frame(buildQuery('sonarr.kube.internal', T.A, {id: 2}))
    const slow = await rawConnect(server.tcpPort)
    const trickle = setInterval(() => {
      if (slow.state.sent < message.length && !slow.socket.destroyed) {
        slow.socket.write(message.subarray(slow.state.sent, ++slow.state.sent))
      }
    }, 50)
    onTestFinished(() => clearInterval(trickle))
    await waitFor(
      () => slow.state.sentWhenClosed >= 0 || slow.state.replied,
      20_000,
      'the trickling client to be closed or answered',
    )
    expect(slow.state.replied).toBe(false)
    expect(slow.state.sentWhenClosed).toBeLessThan(message.length)

    // The normal connection sat idle for longer than the deadline: between messages only the idle timeout counts.
    await normal.write(frame(buildQuery('v6.kube.internal', T.AAAA, {id: 3})))
    const [, second] = await normal.replies(2)
    expect(summarize(second!).answers).toEqual(['v6.kube.internal 5 AAAA fd00::20'])
    const fresh = await tcpConnect(server.tcpPort)
    await fresh.write(frame(buildQuery('sonarr.kube.internal', T.A, {id: 4})))
    expect(summarize((await fresh.replies(1))[0]!).answers).toEqual(['sonarr.kube.internal 5 A 192.168.1.20'])
  })

  it('counts the first message from the opening: a client that sends nothing is closed', async () => {
    const server = await start(sampleRecords(), {tcpMessageDeadlineMs: 300})
    const silent = await rawConnect(server.tcpPort)
    // Well inside the 10 s idle timeout, which is all that closed such a client before.
    await waitFor(() => silent.state.sentWhenClosed === 0, 5000, 'the silent client to be closed')
  })
})

describe('UDP robustness', () => {
  it('survives malformed packets and keeps answering', async () => {
    const server = await start()
    const garbage = [
      Buffer.from([1, 2, 3, 4, 5]),
      Buffer.alloc(0),
      Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), // claims a question: FORMERR
      Buffer.from([0xab, 0xce, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]), // pointer loop: FORMERR
      Buffer.concat([Buffer.from([0xab, 0xcf, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40]), Buffer.alloc(70)]), // label 64
      buildQuery('sonarr.kube.internal', T.A, {flags: 0x8000}), // a response: dropped
    ]
    // Six sent, three deserve a reply; then a valid query must still be answered.
    const replies = await udpExchange(server.udpPort, [...garbage, buildQuery('sonarr.kube.internal', T.A, {id: 7})], 4)
    const byId = new Map(replies.map((r) => [r.readUInt16BE(0), r]))
    expect([...byId.keys()].sort((a, b) => a - b)).toEqual([7, 0xabcd, 0xabce, 0xabcf])
    expect(rcodeOf(byId.get(0xabcd)!)).toBe('FORMERR')
    expect(rcodeOf(byId.get(0xabce)!)).toBe('FORMERR')
    expect(rcodeOf(byId.get(0xabcf)!)).toBe('FORMERR')
    expect(summarize(byId.get(7)!).answers).toEqual(['sonarr.kube.internal 5 A 192.168.1.20'])
  })
})

describe('setRecords', () => {
  it('takes effect on the next query', async () => {
    const server = await start()
    const r = resolver(server)
    expect(await r.resolve4('sonarr.kube.internal')).toEqual(['192.168.1.20'])
    server.setRecords(
      sampleRecords({
        hosts: [
          ['sonarr.kube.internal', ['192.168.1.99']],
          ['new.kube.internal', ['10.1.1.1']],
        ],
        srv: [],
      }),
    )
    expect(await r.resolve4('sonarr.kube.internal')).toEqual(['192.168.1.99'])
    expect(await r.resolve4('new.kube.internal')).toEqual(['10.1.1.1'])
    await expect(r.resolve4('radarr.media.kube.internal')).rejects.toMatchObject({code: 'ENOTFOUND'})
    const soa = await r.resolveSoa('kube.internal')
    expect(soa).toMatchObject({nsname: 'ns.kube.internal', hostmaster: 'hostmaster.kube.internal', minttl: 5})
    expect(soa.serial).toBeGreaterThan(1)
  })

  it('logs skipped records once', async () => {
    const lines: string[] = []
    const server = await start(sampleRecords({hosts: [['a.kube.internal', ['nonsense']]]}), {log: (l) => lines.push(l)})
    server.setRecords(sampleRecords({hosts: [['a.kube.internal', ['nonsense']]]}))
    expect(lines).toEqual(['DNS: skipped address "nonsense" of a.kube.internal: not an IPv4 address'])
  })
})

describe('binding', () => {
  it('binds UDP and TCP to the given address only, even with port 0', async () => {
    const server = await start()
    expect(server.udpPort).toBeGreaterThan(0)
    expect(server.tcpPort).toBeGreaterThan(0)
    // Linux routes all of 127/8 to loopback: a socket bound to 127.0.0.1 is not reachable on 127.0.0.2.
    const other = net.connect({host: '127.0.0.2', port: server.tcpPort})
    onTestFinished(() => void other.destroy())
    await expect(
      new Promise((resolve, reject) => other.once('connect', resolve).once('error', reject)),
    ).rejects.toThrow()
  })

  it('rejects EADDRINUSE on UDP with the address, port and protocol', async () => {
    const first = await start()
    const error = await startDnsServer({address: HOST, port: first.udpPort, records: sampleRecords()}).then(
      (s) => (onTestFinished(() => s.close()), undefined),
      (e: unknown) => e,
    )
    expect(error).toMatchObject({code: 'EADDRINUSE'})
    expect((error as Error).message).toMatch(
      new RegExp(`^cannot bind DNS on 127\\.0\\.0\\.1:${first.udpPort}/udp: address already in use`),
    )
  })

  it('rejects EADDRINUSE on TCP and releases the UDP port it had bound', async () => {
    const blocker = net.createServer()
    onTestFinished(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
    await new Promise<void>((resolve) => blocker.listen({host: HOST, port: 0}, resolve))
    const port = (blocker.address() as net.AddressInfo).port
    const error = await startDnsServer({address: HOST, port, records: sampleRecords()}).then(
      (s) => (onTestFinished(() => s.close()), undefined),
      (e: unknown) => e,
    )
    expect(error).toMatchObject({code: 'EADDRINUSE'})
    expect((error as Error).message).toMatch(`cannot bind DNS on 127.0.0.1:${port}/tcp`)
    // The UDP half is closed again: the port is free for UDP.
    const probe = dgram.createSocket('udp4')
    onTestFinished(() => new Promise<void>((resolve) => probe.close(() => resolve())))
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject)
      probe.bind(port, HOST, resolve)
    })
  })

  it('gives TCP the UDP port number when it is free, so resolvers retrying truncated answers find it', async () => {
    const server = await start()
    expect(server.tcpPort).toBe(server.udpPort)
  })

  it('rejects an address that is not an IP', async () => {
    await expect(startDnsServer({address: 'localhost', port: 0, records: sampleRecords()})).rejects.toThrow(
      /"localhost" is not an IP address/,
    )
  })
})
