// The pool of node connections the router's fast path keeps between clients (src/proxy/node-pool.ts), on real
// sockets: what ends a kept connection, and which one the next client gets.
import net from 'node:net'

import {describe, expect, it, onTestFinished} from 'vitest'

import {ResponseTracker} from '../../src/proxy/http-head.js'
import {NodePool, type NodeLink} from '../../src/proxy/node-pool.js'
import {connectFirst} from '../../src/proxy/socket.js'
import type {ProbedTarget} from '../../src/servemap/types.js'
import {makeTargets, nodes, waitFor} from './backends.js'

/** A node on 127.0.10.<host> whose accepted sockets the test can talk through. */
async function startNode(host: number): Promise<{target: ProbedTarget; accepted: net.Socket[]}> {
  const [spec] = nodes(1, host)
  const accepted: net.Socket[] = []
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    accepted.push(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, spec!.address, resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of accepted) socket.destroy()
      }),
  )
  const [target] = makeTargets([spec!], (server.address() as net.AddressInfo).port)
  return {target: target!, accepted}
}

/** A connection to `target` read as the fast path reads one: through whatever handler the link has now. */
async function link(target: ProbedTarget): Promise<NodeLink> {
  const made: {link?: NodeLink} = {}
  const {socket} = await connectFirst([target], {timeoutMs: 1000, onData: (c, d, s) => made.link!.handler(c, d, s)})
  made.link = {socket: socket!, target, handler: () => true}
  socket!.on('error', () => {})
  socket!.on('end', () => socket!.end())
  onTestFinished(() => void socket!.destroy())
  return made.link
}

const idle = (): ResponseTracker => new ResponseTracker()

describe('NodePool', () => {
  it('gives the connection kept last to the next taker for the same node, none for another', async () => {
    const a = await startNode(130)
    const b = await startNode(131)
    const pool = new NodePool()
    onTestFinished(() => pool.close())
    const first = await link(a.target)
    const second = await link(a.target)
    pool.release(first, idle())
    pool.release(second, idle())
    expect(pool.size).toEqual(2)
    expect(pool.take(b.target)).toBeUndefined()
    expect(pool.take(a.target)).toBe(second)
    expect(pool.take(a.target)).toBe(first)
    expect(pool.take(a.target)).toBeUndefined()
  })

  it('closes a kept connection after idleMs, when the node sends a byte unasked, and forgets one the node ends', async () => {
    const node = await startNode(132)
    const pool = new NodePool(1500)
    onTestFinished(() => pool.close())
    const [timedOut, chatty, ended] = [await link(node.target), await link(node.target), await link(node.target)]
    for (const kept of [timedOut, chatty, ended]) pool.release(kept, idle())
    await waitFor(() => node.accepted.length === 3, 'three connections at the node')
    node.accepted[1]!.write('HTTP/1.1 408 Request Timeout\r\n\r\n')
    node.accepted[2]!.end()
    await waitFor(() => pool.size === 1, 'the chatty and the ended one gone')
    expect([chatty.socket.destroyed, ended.socket.destroyed, timedOut.socket.destroyed]).toEqual([true, true, false])
    await waitFor(() => pool.size === 0, 'the idle one gone')
    expect(timedOut.socket.destroyed).toBe(true)
  })

  it('keeps at most perTarget connections per node and closes the others', async () => {
    const node = await startNode(133)
    const pool = new NodePool(10_000, 2)
    onTestFinished(() => pool.close())
    const links = [await link(node.target), await link(node.target), await link(node.target)]
    for (const kept of links) pool.release(kept, idle())
    expect(pool.size).toEqual(2)
    expect(links.map((l) => l.socket.destroyed)).toEqual([false, false, true])
  })

  it('closes instead a connection whose responses are no longer framed, and any released after close()', async () => {
    const node = await startNode(134)
    const pool = new NodePool()
    const unframed = new ResponseTracker()
    unframed.request('GET')
    unframed.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')) // no length: the response ends at close
    const [first, second] = [await link(node.target), await link(node.target)]
    pool.release(first, unframed)
    pool.close()
    pool.release(second, idle())
    await waitFor(() => first.socket.closed && second.socket.closed, 'both closed')
    expect(pool.size).toEqual(0)
  })
})
