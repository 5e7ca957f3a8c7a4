import {createHash, randomBytes} from 'node:crypto'
import net from 'node:net'

import {describe, expect, it, onTestFinished} from 'vitest'

import {MAX_HELD_TURNS, noteAccept} from '../../src/proxy/accept-turns.js'
import {connectFirst} from '../../src/proxy/socket.js'
import {TcpForwarder} from '../../src/proxy/tcp.js'
import {FakeHealth, makeTargets, nodes, waitFor} from './backends.js'

/** One event-loop turn: resolves in the check phase after the next poll. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A node on 127.0.10.<host> that sends `chunk` to each client, forever or once. */
async function startSender(host: number, forever: boolean): Promise<{address: string; port: number}> {
  const [spec] = nodes(1, host)
  const chunk = Buffer.alloc(64 * 1024, 7)
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    if (!forever) return void socket.write(chunk)
    const send = (): void => {
      while (!socket.destroyed && socket.write(chunk));
    }
    socket.on('drain', send)
    send()
  })
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      }),
  )
  await new Promise<void>((resolve) => server.listen(0, spec!.address, resolve))
  return {address: spec!.address, port: (server.address() as net.AddressInfo).port}
}

/** A socket reading the node through pooled buffers, as relays do; `pauseAfter` reads its reader pauses it. */
async function relayFrom(
  node: {address: string; port: number},
  pauseAfter = Infinity,
): Promise<{socket: net.Socket; reads: () => number}> {
  let reads = 0
  const {socket} = await connectFirst(makeTargets([{node: 'node-a', address: node.address}], node.port), {
    timeoutMs: 2000,
    onData: (_chunk, done) => {
      reads++
      done()
      return reads < pauseAfter
    },
  })
  onTestFinished(() => void socket!.destroy())
  socket!.on('error', () => {})
  return {socket: socket!, reads: () => reads}
}

describe('accept turns: relays step aside while connections arrive', () => {
  it('holds a socket that has been reading, and resumes it in the first turn without an accept', async () => {
    const relay = await relayFrom(await startSender(121, true))
    await waitFor(() => relay.reads() > 2, 'reads')
    noteAccept()
    expect(relay.socket.isPaused()).toBe(true)
    const held = relay.reads()
    await turn()
    expect(relay.reads()).toBe(held)
    for (let i = 0; i < 3; i++) await turn()
    expect(relay.socket.isPaused()).toBe(false)
    await waitFor(() => relay.reads() > held, 'reads again')
  })

  it(`holds while accepts go on every turn, but never more than ${MAX_HELD_TURNS} turns in a row`, async () => {
    const relay = await relayFrom(await startSender(121, true))
    await waitFor(() => relay.reads() > 2, 'reads')
    const paused: boolean[] = []
    for (let i = 0; i < MAX_HELD_TURNS * 3; i++) {
      noteAccept()
      await turn()
      paused.push(relay.socket.isPaused())
    }
    let run = 0
    let longest = 0
    for (const p of paused) longest = Math.max(longest, (run = p ? run + 1 : 0))
    expect(paused.slice(0, 5)).toEqual([true, true, true, true, true])
    expect(paused).toContain(false)
    expect(longest).toBeLessThanOrEqual(MAX_HELD_TURNS + 1)
  })

  it('leaves alone a socket its reader paused, one paused by someone else, and one that went idle', async () => {
    const stream = await startSender(122, true)
    const backpressured = await relayFrom(stream, 3)
    const pausedElsewhere = await relayFrom(stream)
    const idle = await relayFrom(await startSender(123, false))
    await waitFor(() => backpressured.reads() === 3 && pausedElsewhere.reads() > 0 && idle.reads() > 0, 'reads')
    pausedElsewhere.socket.pause()
    const before = pausedElsewhere.reads()
    noteAccept() // holds `idle`, which read since the last accept
    for (let i = 0; i < 4; i++) await turn()
    expect(idle.socket.isPaused()).toBe(false)
    noteAccept() // `idle` read nothing since: left alone
    expect(idle.socket.isPaused()).toBe(false)
    for (let i = 0; i < 4; i++) await turn()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(backpressured.reads()).toBe(3) // its reader resumes it, nobody else
    expect(pausedElsewhere.socket.isPaused()).toBe(true)
    expect(pausedElsewhere.reads()).toBeLessThanOrEqual(before + 1)
    backpressured.socket.resume()
    await waitFor(() => backpressured.reads() > 3, 'resumed by its reader')
  })

  it('serves a burst of new clients through TcpForwarder while large downloads run, every byte intact', async () => {
    const [spec] = nodes(1, 124)
    const bodies: Buffer[] = []
    const node = net.createServer((socket) => {
      socket.on('error', () => {})
      socket.once('data', (first: Buffer) => {
        if (first.toString() !== 'download') return void socket.end(`echo:${first.toString()}`)
        const body = randomBytes(16 * 1024 * 1024)
        bodies.push(body)
        socket.end(body)
      })
    })
    onTestFinished(() => new Promise<void>((resolve) => node.close(() => resolve())))
    await new Promise<void>((resolve) => node.listen(0, spec!.address, resolve))
    const nodePort = (node.address() as net.AddressInfo).port
    const f = new TcpForwarder({
      address: '127.0.0.1',
      port: 0,
      targets: makeTargets([spec!], nodePort),
      health: new FakeHealth(),
    })
    onTestFinished(() => f.close(0))
    const {port} = await f.listen()
    const exchange = (text: string): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        const socket = net.connect({host: '127.0.0.1', port}, () => socket.write(text))
        onTestFinished(() => void socket.destroy())
        const chunks: Buffer[] = []
        socket.on('data', (chunk: Buffer) => chunks.push(chunk))
        socket.on('error', reject)
        socket.on('end', () => resolve(Buffer.concat(chunks)))
      })
    const downloads = [exchange('download'), exchange('download')]
    await waitFor(() => bodies.length === 2, 'downloads started')
    const echoes = await Promise.all(Array.from({length: 40}, (_, i) => exchange(`c${i}`)))
    expect(echoes.map((b) => b.toString())).toEqual(Array.from({length: 40}, (_, i) => `echo:c${i}`))
    const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
    expect((await Promise.all(downloads)).map(hash).sort()).toEqual(bodies.map(hash).sort())
  })
})
