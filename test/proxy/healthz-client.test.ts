import net from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import {HealthzClient} from '../../src/proxy/healthz-client.js'

/** A node health server that answers each request head with `answer(n)` (n: the request's number, from 1). */
interface FakeNode {
  port: number
  /** Connections accepted so far. */
  connections: number
  requests: number
  sockets: Set<net.Socket>
  close: () => Promise<void>
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"healthy":true}'
const DOWN = 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 17\r\n\r\n{"healthy":false}'

async function fakeNode(answer: (n: number, socket: net.Socket) => void): Promise<FakeNode> {
  const node: FakeNode = {port: 0, connections: 0, requests: 0, sockets: new Set(), close: async () => {}}
  const server = net.createServer((socket) => {
    node.connections++
    node.sockets.add(socket)
    socket.on('close', () => node.sockets.delete(socket))
    socket.on('error', () => {})
    let pending = ''
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1')
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        pending = pending.slice(end + 4)
        answer(++node.requests, socket)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  node.port = (server.address() as net.AddressInfo).port
  node.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of node.sockets) socket.destroy()
      server.close(() => resolve())
    })
  return node
}

describe('HealthzClient', () => {
  const open: Array<{close: () => unknown}> = []
  afterEach(async () => {
    for (const item of open.splice(0)) await item.close()
  })
  const client = (node: FakeNode): HealthzClient => {
    const made = new HealthzClient('127.0.0.1', node.port, '/healthz')
    open.push(made)
    return made
  }
  const start = async (answer: (n: number, socket: net.Socket) => void): Promise<FakeNode> => {
    const node = await fakeNode(answer)
    open.push(node)
    return node
  }

  it('asks every round over one kept connection, reading each answer to its end', async () => {
    const node = await start((n, socket) => socket.write(n === 2 ? DOWN : OK))
    const healthz = client(node)
    const statuses: Array<number | undefined> = []
    for (let i = 0; i < 4; i++) statuses.push(await healthz.request(2000).promise)
    expect(statuses).toEqual([200, 503, 200, 200])
    expect([node.connections, node.requests]).toEqual([1, 4])
  })

  it('follows a chunked answer, split across writes, to its end', async () => {
    const node = await start((_n, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel')
      setTimeout(() => socket.write('lo\r\n0\r\n\r\n'), 20)
    })
    const healthz = client(node)
    expect(await healthz.request(2000).promise).toBe(200)
    expect(await healthz.request(2000).promise).toBe(200)
    expect([node.connections, node.requests]).toEqual([1, 2])
  })

  it('asks again on a new connection when the node closed the kept one, without reporting a failure', async () => {
    // The node drops the kept connection as the second request comes in (an idle timeout racing the request).
    const node = await start((n, socket) => (n === 2 ? socket.destroy() : socket.write(OK)))
    const healthz = client(node)
    expect(await healthz.request(2000).promise).toBe(200)
    expect(await healthz.request(2000).promise).toBe(200)
    expect([node.connections, node.requests]).toEqual([2, 3])
  })

  it('connects again after the node closed the kept connection between rounds', async () => {
    const node = await start((_n, socket) => socket.end(OK))
    const healthz = client(node)
    expect(await healthz.request(2000).promise).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await healthz.request(2000).promise).toBe(200)
    expect(node.connections).toBe(2)
  })

  it('keeps the status of an answer whose end cannot be told, and does not keep its connection', async () => {
    const node = await start((_n, socket) => socket.write('HTTP/1.1 200 OK\r\n\r\nok, and more until the close'))
    const healthz = client(node)
    expect(await healthz.request(2000).promise).toBe(200)
    expect(await healthz.request(2000).promise).toBe(200)
    expect(node.connections).toBe(2)
  })

  it('gives no status for a refused connection, a silent node, or an answer that is not HTTP', async () => {
    const refusing = await fakeNode(() => {})
    await refusing.close()
    expect(await new HealthzClient('127.0.0.1', refusing.port, '/healthz').request(2000).promise).toBeUndefined()

    const silent = await start(() => {})
    const waited = client(silent)
    expect(await waited.request(100).promise).toBeUndefined()
    // The timed-out connection is not reused: the next round connects again.
    await waited.request(100).promise
    expect(silent.connections).toBe(2)

    const other = await start((_n, socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\n'))
    expect(await client(other).request(2000).promise).toBeUndefined()
  })

  it('without keep, asks on a connection of its own each time and takes the status line alone', async () => {
    // A node that sends its status line and never the rest: a one-off probe does not wait for it.
    const node = await start((_n, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart'))
    const once = new HealthzClient('127.0.0.1', node.port, '/healthz', false)
    expect(await once.request(2000).promise).toBe(200)
    expect(await once.request(2000).promise).toBe(200)
    expect([node.connections, node.requests]).toEqual([2, 2])
  })

  it('cancel and close end a request in flight with no status, and close the connection', async () => {
    const silent = await start(() => {})
    const healthz = client(silent)
    const first = healthz.request(10_000)
    await new Promise((resolve) => setTimeout(resolve, 30))
    first.cancel()
    expect(await first.promise).toBeUndefined()
    const second = healthz.request(10_000)
    await new Promise((resolve) => setTimeout(resolve, 30))
    healthz.close()
    expect(await second.promise).toBeUndefined()
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(silent.sockets.size).toBe(0)
    expect(await healthz.request(10_000).promise).toBeUndefined()
  })
})
