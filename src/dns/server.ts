// The DNS responder's sockets: UDP and TCP on one address, every message answered by answer.ts.
//
// Why Node's own sockets (UDP in udp-socket.ts, TCP on node:net) rather than dns2's UDPServer/TCPServer
// (node_modules/dns2/server/*.js): those servers decode each query with dns2's own parser, which drops an OPT record
// carrying two EDNS options (so truncation would use the wrong size limit) and hands undecodable packets to nobody (so
// no FORMERR); with port 0 their TCP side binds to all interfaces; and their listen() never settles on a bind error.
// The sockets below are small; dns2 stays where it is sound: encoding the records, once per zone change (wire.ts
// `encodeRecordData`). Repeated UDP questions are answered from reply-cache.ts.
import net from 'node:net'
import {networkInterfaces} from 'node:os'
import {performance} from 'node:perf_hooks'

import {BindError} from '../errors.js'
import {isLoopback} from '../net/address.js'
import {errnoCode} from '../net/errno.js'
import type {DnsRecords} from '../servemap/types.js'
import {answerQuery, compileZone} from './answer.js'
import type {CompiledZone, Transport} from './answer.js'
import {ReplyCache} from './reply-cache.js'
import {bindUdpResponder, type DatagramAnswer, type UdpResponder} from './udp-socket.js'
import {serverFailure} from './wire.js'

/** Where and what to serve. */
export interface DnsServerOptions {
  /** A local IP address (not a host name). `ns.<zone>` answers A with it when it is a specific IPv4 address. */
  address: string
  /** 0 picks free ports: UDP and TCP then try to share one number, and may not. */
  port: number
  records: DnsRecords
  /**
   * What clients on other machines are told (LAN mode, src/servemap/remote.ts); without it everyone gets `records`.
   * A client is local when its address is a loopback one or one of this machine's own.
   */
  remoteRecords?: DnsRecords
  /** optional log sink */
  log?: (line: string) => void
  /** How long a TCP client may take to send one message (default TCP_MESSAGE_DEADLINE_MS); tests pass a small one. */
  tcpMessageDeadlineMs?: number
}

/** A running responder. */
export interface DnsServer {
  udpPort: number
  tcpPort: number
  /** Swaps the zones: the next query sees `records` (and `remote`). Throws, keeping the old ones, on a bad apex. */
  setRecords(records: DnsRecords, remote?: DnsRecords): void
  close(): Promise<void>
}

/** RFC 7766 §6.2.3: servers close idle connections; a few seconds is customary (dns2 and Unbound use 10 s-ish). */
const TCP_IDLE_TIMEOUT_MS = 10_000

/** Enough for many resolvers retrying truncated answers, few enough that a flood cannot exhaust descriptors. */
const TCP_MAX_CONNECTIONS = 1000

/**
 * How long a client may take to send one whole message over TCP: counted from the connection's opening for the
 * first message, from the first octet of its length prefix for each later one. The idle timeout (RFC 7766 §6.2.3)
 * restarts with every octet, so alone it lets a client that trickles one octet every few seconds keep its
 * connection forever, and TCP_MAX_CONNECTIONS such clients keep every new one out; RFC 7766 §10 asks servers to
 * bound what TCP clients can hold for that reason. A query fits in one segment, so a few seconds is generous.
 * Between messages only the idle timeout applies, so a kept-open, pipelining connection (RFC 7766 §6.2.1.1) is fine.
 */
const TCP_MESSAGE_DEADLINE_MS = 5_000

/** Answers one message from `client` (an IP address): its reply, or undefined for none. */
type Answer = (message: Uint8Array, client: string) => Uint8Array | undefined

/** How long the list of this machine's own addresses is trusted before it is read again (DHCP, VPNs come and go). */
const OWN_ADDRESSES_TTL_MS = 5_000

/** Whether `address` belongs to this machine: loopback, or an address of one of its interfaces. */
function localClients(): (address: string) => boolean {
  let own = new Set<string>()
  let readAt = -Infinity
  return (address) => {
    if (isLoopback(address)) return true
    const now = performance.now()
    if (now - readAt > OWN_ADDRESSES_TTL_MS) {
      own = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)))
      readAt = now
    }
    return own.has(address.replace(/^::ffff:/i, ''))
  }
}

/** A zone and the UDP replies it gave (reply-cache.ts): a new zone starts with none. */
interface Serving {
  zone: CompiledZone
  replies: ReplyCache
}

function serving(zone: CompiledZone): Serving {
  return {zone, replies: new ReplyCache()}
}

/** Binds UDP and TCP on `options.address` and answers for `options.records.domain`. Rejects on bind errors. */
export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const {address, port, log, tcpMessageDeadlineMs = TCP_MESSAGE_DEADLINE_MS} = options
  if (net.isIP(address) === 0) throw new Error(`cannot start DNS: "${address}" is not an IP address`)
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new Error(`cannot start DNS: invalid port ${port}`)

  let serial = 1
  let local = serving(compileZone(options.records, {serial, nsAddress: address}))
  reportProblems(local.zone, undefined, log)
  const compileRemote = (records: DnsRecords | undefined, previous?: CompiledZone) =>
    records && serving(compileZone(records, {serial, nsAddress: address, previous, handOver: true}))
  let remote = compileRemote(options.remoteRecords)
  const isLocal = localClients()
  const servingFor = (client: string) => (remote && !isLocal(client) ? remote : local)

  /** Answers from `from`'s zone; a UDP reply is kept for the question asked again (a failure's SERVFAIL never is). */
  const answerFrom = (from: Serving, message: Uint8Array, transport: Transport) => {
    try {
      const reply = answerQuery(from.zone, message, transport)
      if (reply && transport === 'udp') from.replies.remember(message, reply)
      return reply
    } catch (error) {
      log?.(`DNS: answering a query failed: ${error instanceof Error ? error.message : String(error)}`)
      return serverFailure(message)
    }
  }
  const answerTcp: Answer = (message, client) => answerFrom(servingFor(client), message, 'tcp')
  const answerUdp: DatagramAnswer = (message, client) => {
    const from = servingFor(client)
    return from.replies.replay(message) ?? answerFrom(from, message, 'udp')
  }

  const connections = new Set<net.Socket>()
  const {udp, tcp} = await bindBoth(
    port,
    (p) => bindUdp(address, p, answerUdp, log),
    (p) =>
      listenTcp(address, p, (socket) => serveConnection(socket, answerTcp, connections, tcpMessageDeadlineMs), log),
  )
  const udpPort = udp.port

  let closing: Promise<void> | undefined
  return {
    udpPort,
    tcpPort: (tcp.address() as net.AddressInfo).port,
    setRecords(records, remoteRecords) {
      // The zones replaced here are not answered from again: patches change their names in place. Each new zone
      // comes with no kept replies.
      const next = compileZone(records, {serial: serial + 1, nsAddress: address, previous: local.zone, handOver: true})
      serial++
      const nextRemote = compileRemote(remoteRecords, remote?.zone)
      reportProblems(next, local.zone, log)
      local = serving(next)
      remote = nextRemote
    },
    close() {
      closing ??= (async () => {
        for (const socket of connections) socket.destroy()
        await Promise.all([udp.close(), new Promise<void>((resolve) => tcp.close(() => resolve()))])
      })()
      return closing
    },
  }
}

/** Tries for one number for both with port 0, before settling for two different ones. */
const SAME_PORT_ATTEMPTS = 8

/**
 * Binds UDP and then TCP on `port`. With port 0 both get the same number if possible, as resolvers retry truncated
 * answers over TCP on the port they used for UDP: a number free for UDP may be taken for TCP (by a client
 * connection, even), so a few numbers are tried; after that any free TCP port will do.
 */
async function bindBoth(
  port: number,
  udpOn: (port: number) => Promise<UdpResponder>,
  tcpOn: (port: number) => Promise<net.Server>,
): Promise<{udp: UdpResponder; tcp: net.Server}> {
  for (let attempt = 1; ; attempt++) {
    const udp = await udpOn(port)
    const wanted = port === 0 && attempt === SAME_PORT_ATTEMPTS ? 0 : udp.port
    try {
      return {udp, tcp: await tcpOn(wanted)}
    } catch (error) {
      await udp.close()
      const retry = port === 0 && wanted !== 0 && errnoCode(error) === 'EADDRINUSE'
      if (!retry) throw error
    }
  }
}

function bindUdp(
  address: string,
  port: number,
  answer: DatagramAnswer,
  log?: (line: string) => void,
): Promise<UdpResponder> {
  const onError = (error: Error) => log?.(`DNS: UDP socket error: ${error.message}`)
  return bindUdpResponder(address, port, answer, onError).catch((error: unknown) => {
    throw new BindError('DNS', address, port, 'udp', error)
  })
}

function listenTcp(
  address: string,
  port: number,
  serve: (socket: net.Socket) => void,
  log?: (line: string) => void,
): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({noDelay: true}, serve)
    server.maxConnections = TCP_MAX_CONNECTIONS
    const onListenError = (error: Error) => {
      server.close()
      reject(new BindError('DNS', address, port, 'tcp', error))
    }
    server.once('error', onListenError)
    server.listen({host: address, port, exclusive: true}, () => {
      server.off('error', onListenError)
      server.on('error', (error) => log?.(`DNS: TCP server error: ${error.message}`))
      resolve(server)
    })
  })
}

/**
 * Answers the messages of one TCP connection: each is preceded by its 2-octet length (RFC 1035 §4.2.2); several
 * may arrive in one segment and one may span several (RFC 7766 §6.2.1 pipelining). Replies go out in order. A
 * message not complete within `deadlineMs` (TCP_MESSAGE_DEADLINE_MS) ends the connection.
 */
function serveConnection(socket: net.Socket, answer: Answer, connections: Set<net.Socket>, deadlineMs: number): void {
  connections.add(socket)
  // Resets and the like end the connection; 'close' follows, nothing else to do.
  socket.on('error', () => {})
  socket.setTimeout(TCP_IDLE_TIMEOUT_MS, () => socket.destroy())
  // Runs while a message is expected or under way: from the opening, then from each message's first octet.
  let deadline: NodeJS.Timeout | undefined = setTimeout(() => socket.destroy(), deadlineMs)
  socket.on('close', () => {
    clearTimeout(deadline)
    connections.delete(socket)
  })
  let pending: Buffer | undefined
  socket.on('data', (chunk: Buffer) => {
    const buffer = pending ? Buffer.concat([pending, chunk]) : chunk
    let offset = 0
    let full = false
    socket.cork()
    while (buffer.length - offset >= 2) {
      const length = buffer.readUInt16BE(offset)
      if (buffer.length - offset - 2 < length) break
      const reply = answer(buffer.subarray(offset + 2, offset + 2 + length), socket.remoteAddress ?? '')
      offset += 2 + length
      if (!reply) continue
      const prefix = Buffer.allocUnsafe(2)
      prefix.writeUInt16BE(reply.length)
      socket.write(prefix)
      full = !socket.write(reply) || full
    }
    socket.uncork()
    // Copy the partial message so the (possibly large) chunk it came in is not kept alive.
    pending = offset < buffer.length ? Buffer.from(buffer.subarray(offset)) : undefined
    if (!pending) {
      clearTimeout(deadline)
      deadline = undefined
    } else if (offset > 0 || !deadline) {
      // The partial message began in this chunk: its time starts now.
      clearTimeout(deadline)
      deadline = setTimeout(() => socket.destroy(), deadlineMs)
    }
    if (full) {
      // A requester that does not read its replies stops being read from.
      socket.pause()
      socket.once('drain', () => socket.resume())
    }
  })
}

/** Logs the records a zone skipped, once: only those the previous zone did not already report. */
function reportProblems(zone: CompiledZone, previous: CompiledZone | undefined, log?: (line: string) => void): void {
  if (!log) return
  const known = new Set(previous?.problems)
  for (const problem of zone.problems) if (!known.has(problem)) log(`DNS: ${problem}`)
}
