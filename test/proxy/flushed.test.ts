// whenFlushed and the relays' writeChunk on real loopback sockets, where a write can queue below the high-water mark:
// the peer stops reading, the kernel's buffers fill, then a small write has to wait in Node.
import net from 'node:net'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {whenFlushed} from '../../src/proxy/flushed.js'
import {writeChunk} from '../../src/proxy/socket.js'

const open: net.Socket[] = []
const servers: net.Server[] = []
afterEach(() => {
  for (const s of open.splice(0)) s.destroy()
  for (const s of servers.splice(0)) s.close()
})

/** A connection whose peer does not read, with the kernel's buffers filled: the next small write queues in Node. */
async function stalledPair(): Promise<{writer: net.Socket; reader: net.Socket}> {
  const server = net.createServer()
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const writer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  await new Promise((resolve) => writer.once('connect', resolve))
  const reader = await accepted
  reader.pause()
  open.push(writer, reader)
  // Writes below the high-water mark until one stays queued (the kernel took none of it).
  const piece = Buffer.alloc(8 * 1024, 1)
  while (writer.writableLength === 0) {
    writer.write(piece)
    await new Promise((resolve) => setImmediate(resolve))
  }
  return {writer, reader}
}

/** Resolves with what `promise` gave, or 'stalled' if it did not settle within `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'stalled'> {
  return Promise.race([promise, new Promise<'stalled'>((resolve) => setTimeout(() => resolve('stalled'), ms))])
}

/** Reads everything the reader gets until `bytes` arrived. */
function readUntil(reader: net.Socket, bytes: number): Promise<number> {
  return new Promise((resolve) => {
    let got = 0
    reader.on('data', (c: Buffer) => {
      got += c.length
      if (got >= bytes) resolve(got)
    })
    reader.resume()
  })
}

describe('whenFlushed', () => {
  it('calls back once bytes queued below the high-water mark went out, and not before', async () => {
    const {writer, reader} = await stalledPair()
    expect(writer.writableNeedDrain).toBe(false) // so no 'drain' will come for these bytes
    let flushed = false
    const done = new Promise<void>((resolve) => whenFlushed(writer, resolve)).then(() => (flushed = true))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(flushed).toBe(false)
    const total = writer.bytesWritten // dispatched and queued alike
    void readUntil(reader, total)
    expect(await within(done, 5000)).toBe(true)
    expect(writer.writableLength).toBe(0)
  })

  it('calls back when the socket is destroyed with bytes still queued', async () => {
    const {writer} = await stalledPair()
    const done = new Promise<string>((resolve) => whenFlushed(writer, () => resolve('called')))
    writer.destroy()
    expect(await within(done, 5000)).toBe('called')
  })
})

describe('writeChunk', () => {
  it('frees a small chunk that had to queue once it is written, and resumes the side it was read from', async () => {
    const {writer, reader} = await stalledPair()
    const from = new net.Socket()
    const resumed = vi.spyOn(from, 'resume').mockImplementation(() => from)
    const freed = new Promise<string>((resolve) => {
      const reading = writeChunk(writer, Buffer.alloc(1024, 2), () => resolve('freed'), from)
      expect(reading).toBe(false) // queued: the caller pauses `from` until done
    })
    const total = writer.bytesWritten // dispatched and queued alike
    const got = readUntil(reader, total)
    expect(await within(freed, 5000)).toBe('freed')
    expect(resumed).toHaveBeenCalledTimes(1)
    expect(await got).toBe(total)
  })

  it('frees a chunk the kernel took whole at once, without touching the other side', async () => {
    const server = net.createServer((s) => s.resume())
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const writer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
    open.push(writer)
    await new Promise((resolve) => writer.once('connect', resolve))
    const from = new net.Socket()
    const resumed = vi.spyOn(from, 'resume')
    const done = vi.fn()
    expect(writeChunk(writer, Buffer.alloc(1024, 3), done, from)).toBe(true)
    expect(done).toHaveBeenCalledTimes(1)
    expect(resumed).not.toHaveBeenCalled()
  })
})
