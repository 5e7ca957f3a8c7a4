// The DNS responder's UDP socket: every datagram answered at once, on Node's UDP handle itself when it can be.
//
// dgram.Socket wraps each datagram in an event ('message', with its sender's address object) and each reply in a
// send() that checks its arguments, resolves the address through the socket's lookup and enters an async-id scope
// before it reaches the same handle (lib/dgram.js doSend). Answering on the handle (`process.binding('udp_wrap')`:
// `onmessage`, `send`, as lib/dgram.js drives them) cost 7.9 µs of CPU per query against 8.5 for the plainest
// dgram responder (dnsperf -c8, alternating rounds; docs/performance.md, tenth session): the kernel's share of a
// query is the same, what goes is dgram's JavaScript around it. The handles are the same on Node 20, 22 and 24
// (checked on 20.20.2, 22.23.5, 24.22.3) but not a public interface: `rawUdp` is undefined wherever they do not have
// that shape, or when the user asked Node to warn about pending deprecations (process.binding is DEP0111), and the
// responder then runs on dgram.Socket as before.
import dgram from 'node:dgram'
import net from 'node:net'

import {nodeBindings, uvError} from '../proxy/raw-tcp.js'

/** Answers one datagram from `client` (an IP address): the reply to send back, or undefined for none. */
export type DatagramAnswer = (message: Buffer, client: string) => Uint8Array | undefined

/** A bound responder. */
export interface UdpResponder {
  readonly port: number
  close(): Promise<void>
}

interface SendReq {
  list?: Uint8Array[]
}

interface PeerInfo {
  address: string
  port: number
}

/** Node's UDP handle (lib/dgram.js `socket[kStateSymbol].handle`); the 6 variants take IPv6 addresses. */
interface UdpHandle {
  onmessage: (nread: number, handle: UdpHandle, message: Buffer, peer: PeerInfo) => void
  onerror: (nread: number, handle: UdpHandle, error: Error) => void
  bind(address: string, port: number, flags: number): number
  bind6(address: string, port: number, flags: number): number
  /** ≥ 1 when the kernel took the datagram at once; 0 when queued (`req.list` must stay alive); < 0 on error. */
  send(req: SendReq, list: Uint8Array[], count: number, port: number, address: string, hasCallback: boolean): number
  send6(req: SendReq, list: Uint8Array[], count: number, port: number, address: string, hasCallback: boolean): number
  recvStart(): number
  getsockname(out: {port?: number}): number
  close(callback?: () => void): void
}

/** The UDP bindings: a handle and a send request, as lib/dgram.js makes them. */
export interface RawUdp {
  newHandle(): UdpHandle
  newSendReq(): SendReq
}

function loadRawUdp(): RawUdp | undefined {
  const binding = nodeBindings()
  if (!binding) return undefined
  try {
    const {UDP, SendWrap} = binding('udp_wrap') as {UDP?: new () => UdpHandle; SendWrap?: new () => SendReq}
    if (typeof UDP !== 'function' || typeof SendWrap !== 'function') return undefined
    const probe = new UDP()
    const methods = ['bind', 'bind6', 'send', 'send6', 'recvStart', 'getsockname', 'close']
    const complete = methods.every((m) => typeof (probe as unknown as Record<string, unknown>)[m] === 'function')
    probe.close()
    if (!complete) return undefined
    return {newHandle: () => new UDP(), newSendReq: () => new SendWrap()}
  } catch {
    return undefined
  }
}

/** libuv's UV_EINVAL: a getsockname that gave no port. */
const UV_EINVAL = -22

/** The bindings, or undefined where this Node does not offer them as expected (dgram.Socket is used then). */
export const rawUdp: RawUdp | undefined = loadRawUdp()

/**
 * Binds UDP on `address`:`port` (0 picks one) and answers every datagram with `answer`. A reply the kernel does not
 * take (the requester's port vanished, a full buffer) is dropped: the requester retries. Errors after the bind go to
 * `onError`. Rejects with the bind's errno error. `bindings` null runs on dgram.Socket (tests).
 */
export async function bindUdpResponder(
  address: string,
  port: number,
  answer: DatagramAnswer,
  onError: (error: Error) => void,
  bindings: RawUdp | null | undefined = rawUdp,
): Promise<UdpResponder> {
  return bindings ? bindOnHandle(bindings, address, port, answer, onError) : bindOnDgram(address, port, answer, onError)
}

function bindOnHandle(
  bindings: RawUdp,
  address: string,
  port: number,
  answer: DatagramAnswer,
  onError: (error: Error) => void,
): UdpResponder {
  const ipv6 = net.isIPv6(address)
  const handle = bindings.newHandle()
  const fail = (status: number, syscall: string): never => {
    handle.close()
    throw uvError(status, syscall, address, port)
  }
  const bound = ipv6 ? handle.bind6(address, port, 0) : handle.bind(address, port, 0)
  if (bound < 0) fail(bound, 'bind')
  const send = ipv6 ? handle.send6 : handle.send
  // A send the kernel takes at once returns its length + 1 and leaves the request and the list as they were (Node's
  // src/udp_wrap.cc UDPWrap::Send makes its request object only for a send it queues), so both are used again: a
  // request is a native object and a property set on it takes V8's slow path. A queued send (0) keeps its request,
  // and the reply stays alive in the request's list until it is sent, as lib/dgram.js keeps it.
  let spare = bindings.newSendReq()
  const chunks: Uint8Array[] = []
  handle.onmessage = (nread, _handle, message, peer) => {
    if (nread < 0) return onError(uvError(nread, 'recvmsg'))
    const reply = answer(message, peer.address)
    if (!reply) return
    chunks[0] = reply
    const sent = send.call(handle, spare, chunks, 1, peer.port, peer.address, false)
    chunks.length = 0
    if (sent >= 1) return
    if (sent === 0) spare.list = [reply]
    spare = bindings.newSendReq()
  }
  handle.onerror = (_nread, _handle, error) => onError(error)
  const started = handle.recvStart()
  if (started < 0) fail(started, 'recvStart')
  const name: {port?: number} = {}
  const named = handle.getsockname(name)
  if (named < 0 || name.port === undefined) fail(named < 0 ? named : UV_EINVAL, 'getsockname')
  let closing: Promise<void> | undefined
  return {
    port: name.port ?? port,
    close: () => (closing ??= new Promise((resolve) => handle.close(resolve))),
  }
}

function bindOnDgram(
  address: string,
  port: number,
  answer: DatagramAnswer,
  onError: (error: Error) => void,
): Promise<UdpResponder> {
  return new Promise((resolve, reject) => {
    // Replies go to the address a query came from, always an IP literal: dgram's default lookup would still pass it
    // through dns.lookup and a process.nextTick before each send (lib/internal/dgram.js lookup4).
    const socket = dgram.createSocket({type: net.isIPv6(address) ? 'udp6' : 'udp4', lookup: literalLookup})
    const onBindError = (error: Error) => {
      socket.close()
      reject(error)
    }
    socket.once('error', onBindError)
    socket.on('message', (message, remote) => {
      const reply = answer(message, remote.address)
      // Without a callback, dgram.send skips a process.nextTick per reply and drops a failure silently
      // (lib/dgram.js doSend).
      if (reply) socket.send(reply, remote.port, remote.address)
    })
    socket.bind({address, port, exclusive: true}, () => {
      socket.off('error', onBindError)
      socket.on('error', onError)
      let closing: Promise<void> | undefined
      resolve({
        port: socket.address().port,
        close: () => (closing ??= new Promise((done) => socket.close(() => done()))),
      })
    })
  })
}

/**
 * A lookup for dgram.send that takes its address as given (an IP literal) and answers at once. Node passes the
 * socket's family as a number (lookup4/lookup6 in lib/internal/dgram.js); @types/node declares lookup options.
 */
function literalLookup(
  address: string,
  family: unknown,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, address, typeof family === 'number' ? family : address.includes(':') ? 6 : 4)
}
