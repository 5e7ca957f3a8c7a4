// A raw UDP DNS client for polling: one socket, queries told apart by ID, so a query can go out every few ms
// without waiting for the last one (RFC 1035 §4.1 message format).
import dgram from 'node:dgram'
import {performance} from 'node:perf_hooks'

const TYPE_A = 1
const CLASS_IN = 1

/** A query for `name` (no trailing dot) with recursion not desired. */
export function encodeQuery(id: number, name: string, type = TYPE_A): Buffer {
  const labels = name.split('.').filter(Boolean)
  const size = 12 + labels.reduce((n, l) => n + 1 + Buffer.byteLength(l), 0) + 1 + 4
  const buf = Buffer.alloc(size)
  buf.writeUInt16BE(id, 0)
  buf.writeUInt16BE(1, 4) // QDCOUNT
  let at = 12
  for (const label of labels) {
    at = buf.writeUInt8(Buffer.byteLength(label), at)
    at += buf.write(label, at)
  }
  at = buf.writeUInt8(0, at)
  at = buf.writeUInt16BE(type, at)
  buf.writeUInt16BE(CLASS_IN, at)
  return buf
}

/** The parts of a response the bench looks at. */
export interface DnsReply {
  id: number
  rcode: number
  answers: number
}

export function parseReply(msg: Buffer): DnsReply | undefined {
  if (msg.length < 12 || (msg[2]! & 0x80) === 0) return undefined
  return {id: msg.readUInt16BE(0), rcode: msg[3]! & 0x0f, answers: msg.readUInt16BE(6)}
}

/** Whether a reply is a positive answer: NOERROR with at least one record. */
export const answered = (r: DnsReply) => r.rcode === 0 && r.answers > 0

/** A UDP DNS client bound to one server; close() when done. */
export class UdpDnsClient {
  private socket = dgram.createSocket('udp4')
  private nextId = 1
  private pending = new Map<number, (reply: DnsReply, atMs: number) => void>()
  private ready: Promise<void>

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    this.socket.on('message', (msg) => {
      const at = performance.now()
      const reply = parseReply(msg)
      const handler = reply && this.pending.get(reply.id)
      if (reply && handler) handler(reply, at)
    })
    this.socket.on('error', () => {})
    this.ready = new Promise((resolve) => this.socket.bind(0, '127.0.0.1', resolve))
  }

  /** Sends one query; `onReply` gets the reply and the time (performance.now()) it arrived. Returns its ID. */
  async send(name: string, onReply: (reply: DnsReply, atMs: number) => void): Promise<number> {
    await this.ready
    const id = this.nextId
    this.nextId = (this.nextId % 0xffff) + 1
    this.pending.set(id, onReply)
    this.socket.send(encodeQuery(id, name), this.port, this.host)
    return id
  }

  forget(id: number): void {
    this.pending.delete(id)
  }

  /** One query; the reply, or undefined after `timeoutMs`. */
  async query(name: string, timeoutMs = 1000): Promise<DnsReply | undefined> {
    let id = 0
    const reply = await new Promise<DnsReply | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs)
      void this.send(name, (r) => {
        clearTimeout(timer)
        resolve(r)
      }).then((sent) => (id = sent))
    })
    this.forget(id)
    return reply
  }

  /**
   * Sends a query for `name` every `intervalMs` until one is answered positively; resolves with the time that
   * answer arrived (performance.now()), or rejects after `timeoutMs`.
   */
  pollUntilAnswered(name: string, intervalMs: number, timeoutMs: number): Promise<number> {
    const ids: number[] = []
    return new Promise<number>((resolve, reject) => {
      let done = false
      const finish = (error?: Error, at?: number) => {
        if (done) return
        done = true
        clearInterval(timer)
        clearTimeout(deadline)
        for (const id of ids) this.forget(id)
        if (error) reject(error)
        else resolve(at!)
      }
      const onReply = (r: DnsReply, at: number) => {
        if (answered(r)) finish(undefined, at)
      }
      const tick = () => void this.send(name, onReply).then((id) => (done ? this.forget(id) : ids.push(id)))
      const timer = setInterval(tick, intervalMs)
      const deadline = setTimeout(() => finish(new Error(`${name} not answered within ${timeoutMs} ms`)), timeoutMs)
      tick()
    })
  }

  /**
   * Queries every name until each has a positive answer: all pending names in one burst, then again for the ones
   * still pending after `roundMs`. Resolves with the time the last answer arrived; rejects after `timeoutMs`.
   */
  async sweepUntilAllAnswered(names: string[], roundMs: number, timeoutMs: number): Promise<number> {
    const pending = new Set(names)
    let last = 0
    const deadline = performance.now() + timeoutMs
    while (pending.size > 0) {
      if (performance.now() > deadline) {
        throw new Error(`${pending.size} of ${names.length} names not answered within ${timeoutMs} ms`)
      }
      const ids: number[] = []
      let i = 0
      for (const name of [...pending]) {
        ids.push(
          await this.send(name, (r, at) => {
            if (answered(r) && pending.delete(name)) last = at
          }),
        )
        // Let replies in between bursts of 200, so the socket buffers never overflow.
        if (++i % 200 === 0) await new Promise((r) => setImmediate(r))
      }
      await new Promise((r) => setTimeout(r, roundMs))
      for (const id of ids) this.forget(id)
    }
    return last
  }

  close(): void {
    this.socket.close()
  }
}
