// The router's fast path (src/proxy/host-splice.ts) seen from keep-alive clients: what it splices, and how it
// hands a connection to the http-proxy-3 path without losing or misrouting a request.
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import net from 'node:net'

import {describe, expect, it, onTestFinished} from 'vitest'

import {HttpRouter} from '../../src/proxy/http.js'
import type {HttpRoute} from '../../src/serve/types.js'
import {FakeHealth, freeSharedPort, makeTargets, nodes, startHttpNodes, waitFor} from './backends.js'

async function router(
  routes: HttpRoute[],
): Promise<{router: HttpRouter; port: number; health: FakeHealth; lines: string[]}> {
  const health = new FakeHealth()
  const lines: string[] = []
  const r = new HttpRouter({health, verbose: true, log: (line) => lines.push(line)})
  r.setRoutes(routes)
  const server = await r.listen('127.0.0.1', 0)
  onTestFinished(() => r.close(0))
  return {router: r, port: (server.address() as AddressInfo).port, health, lines}
}

/** A client on one keep-alive connection (Node's agent, one socket), as a browser or wrk talks to the router. */
function keepAliveClient(
  port: number,
): (options: {host: string; method?: string; path?: string; body?: string}) => Promise<{status: number; body: string}> {
  const agent = new http.Agent({keepAlive: true, maxSockets: 1})
  onTestFinished(() => agent.destroy())
  return ({host, method = 'GET', path = '/', body}) =>
    new Promise((resolve, reject) => {
      const req = http.request({host: '127.0.0.1', port, method, path, agent, headers: {host}}, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve({status: res.statusCode ?? 0, body: text}))
      })
      req.on('error', reject)
      req.end(body)
    })
}

/** A client on a raw socket, for pipelined and malformed requests; `received` is everything read so far. */
function rawClient(port: number): {socket: net.Socket; received: () => string} {
  const socket = net.connect(port, '127.0.0.1')
  onTestFinished(() => void socket.destroy())
  let received = ''
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()))
  return {socket, received: () => received}
}

interface Echo {
  node: string
  method: string
  url: string
  headers: Record<string, string>
  body: string
}

const spliced = (lines: string[]): string[] => lines.filter((line) => line.endsWith('(spliced)'))

describe('HttpRouter fast path', () => {
  it('splices keep-alive requests to one node connection, with the X-Forwarded fields of the slow path', async () => {
    const web = await startHttpNodes(nodes(1, 101))
    const {port, lines} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const send = keepAliveClient(port)
    const first = JSON.parse((await send({host: 'web.home.test:8080', path: '/a/../b?x=%2F'})).body) as Echo
    const second = JSON.parse((await send({host: 'web.home.test', method: 'POST', body: 'payload'})).body) as Echo
    expect([first.url, second.method, second.body]).toEqual(['/a/../b?x=%2F', 'POST', 'payload'])
    expect(first.headers).toMatchObject({
      host: 'web.home.test:8080',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'web.home.test:8080',
      'x-forwarded-port': '8080',
    })
    expect(web.stats.get('node-a')).toMatchObject({requests: 2, connections: 1})
    expect(spliced(lines)).toHaveLength(2)
  })

  it('answers pipelined requests in order', async () => {
    const web = await startHttpNodes(nodes(1, 102))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const {socket, received} = rawClient(port)
    socket.write(
      'GET /one HTTP/1.1\r\nHost: web.home.test\r\n\r\n' +
        'POST /two HTTP/1.1\r\nHost: web.home.test\r\nContent-Length: 3\r\n\r\nabc' +
        'GET /three HTTP/1.1\r\nHost: web.home.test\r\n\r\n',
    )
    await waitFor(() => (received().match(/HTTP\/1\.1 200/g) ?? []).length === 3, 'three responses')
    const urls = [...received().matchAll(/"url":"([^"]+)"/g)].map((m) => m[1])
    expect(urls).toEqual(['/one', '/two', '/three'])
    expect(received()).toContain('"body":"abc"')
  })

  it('sends a request for another Service on the same connection to that Service, not to the first node', async () => {
    const [a, b] = nodes(2, 103)
    const web = await startHttpNodes([a!])
    const other = await startHttpNodes([b!])
    const {port} = await router([
      {service: 'media/web', hosts: ['web.home.test'], targets: web.targets},
      {service: 'media/other', hosts: ['other.home.test'], targets: other.targets},
    ])
    const send = keepAliveClient(port)
    const replies = [
      await send({host: 'web.home.test'}),
      await send({host: 'other.home.test', path: '/moved'}),
      await send({host: 'other.home.test', path: '/again'}),
    ].map((r) => JSON.parse(r.body) as Echo)
    expect(replies.map((r) => `${r.node} ${r.url}`)).toEqual(['node-a /', 'node-b /moved', 'node-b /again'])
    expect(web.stats.get('node-a')!.requests).toEqual(1)
  })

  it('hands a chunked upload after plain requests to the slow path, which forwards it whole', async () => {
    const web = await startHttpNodes(nodes(1, 105))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const {socket, received} = rawClient(port)
    socket.write('GET /plain HTTP/1.1\r\nHost: web.home.test\r\n\r\n')
    await waitFor(() => received().includes('"url":"/plain"'), 'plain response')
    socket.write(
      'POST /chunked HTTP/1.1\r\nHost: web.home.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    )
    await waitFor(() => received().includes('"url":"/chunked"'), 'chunked response')
    expect(received()).toContain('"body":"hello"')
  })

  it('refuses a smuggling attempt that follows a plain request, and forwards nothing smuggled', async () => {
    const web = await startHttpNodes(nodes(1, 106))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const {socket, received} = rawClient(port)
    socket.write(
      'GET / HTTP/1.1\r\nHost: web.home.test\r\n\r\n' +
        'POST / HTTP/1.1\r\nHost: web.home.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '0\r\n\r\nGET /admin HTTP/1.1\r\nHost: web.home.test\r\n\r\n',
    )
    await waitFor(() => received().includes('HTTP/1.1 400'), 'the smuggling attempt refused')
    expect(received()).not.toContain('"url":"/admin"')
    expect(web.stats.get('node-a')!.requests).toEqual(1)
  })

  it('tries the next node when the first refuses, and reports it', async () => {
    const [dead, alive] = nodes(2, 107)
    const web = await startHttpNodes([alive!])
    const targets = makeTargets([dead!, alive!], web.port)
    const {port, health} = await router([{service: 'media/web', hosts: ['web.home.test'], targets}])
    const reply = await keepAliveClient(port)({host: 'web.home.test'})
    expect((JSON.parse(reply.body) as Echo).node).toEqual('node-b')
    expect(health.reported).toEqual([targets[0]])
  })

  it('sends a GET again to the next node when the first closes without answering, but not a POST', async () => {
    const web = await startHttpNodes(nodes(2, 109), (node, req, res) => {
      if (node === 'node-a') req.socket.destroy()
      else res.end(node)
    })
    const {port} = await router([
      // Two routes over the same nodes, so each first request starts its round-robin at node-a.
      {service: 'media/get', hosts: ['get.home.test'], targets: web.targets},
      {service: 'media/post', hosts: ['post.home.test'], targets: web.targets},
    ])
    const get = await keepAliveClient(port)({host: 'get.home.test'})
    expect([get.status, get.body]).toEqual([200, 'node-b'])
    await expect(keepAliveClient(port)({host: 'post.home.test', method: 'POST', body: 'once'})).rejects.toThrow(
      /socket hang up|ECONNRESET/,
    )
    expect(web.stats.get('node-b')!.requests).toEqual(1)
  })

  it('answers 502 naming every node tried when all refuse', async () => {
    const specs = nodes(2, 111)
    const deadPort = await freeSharedPort(specs.map((s) => s.address))
    const {port} = await router([
      {service: 'media/web', hosts: ['web.home.test'], targets: makeTargets(specs, deadPort)},
    ])
    const reply = await keepAliveClient(port)({host: 'web.home.test'})
    expect(reply.status).toEqual(502)
    expect(reply.body).toEqual(
      `bad gateway: no node answered for media/web: tried node-a (127.0.10.111:${deadPort}): connection refused, ` +
        `node-b (127.0.10.112:${deadPort}): connection refused\n`,
    )
  })

  it('leaves unknown names and clients that ask to close to the slow path', async () => {
    const web = await startHttpNodes(nodes(1, 113))
    const {port, lines} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    expect((await keepAliveClient(port)({host: 'nobody.home.test'})).status).toEqual(404)
    const {socket, received} = rawClient(port)
    socket.write('GET / HTTP/1.1\r\nHost: web.home.test\r\nConnection: close\r\n\r\n')
    await new Promise((resolve) => socket.once('close', resolve))
    expect(received()).toMatch(/^HTTP\/1\.1 200 /)
    expect(spliced(lines)).toEqual([])
  })

  it('ends idle spliced connections at once when the router closes, and busy ones after their response', async () => {
    const web = await startHttpNodes(nodes(1, 117), (_node, req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow done'), 300)
      else res.end('fast')
    })
    const {router: r, port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const idle = rawClient(port)
    idle.socket.write('GET / HTTP/1.1\r\nHost: web.home.test\r\n\r\n')
    await waitFor(() => idle.received().endsWith('fast'), 'first exchange')
    const busy = rawClient(port)
    busy.socket.write('GET /slow HTTP/1.1\r\nHost: web.home.test\r\n\r\n')
    await waitFor(() => web.stats.get('node-a')!.requests === 2, 'slow request under way')
    let idleEnded = false
    idle.socket.on('end', () => (idleEnded = true))
    const closing = r.close()
    await waitFor(() => idleEnded, 'idle connection ended')
    expect(busy.received()).toEqual('')
    await closing // resolves once the busy connection has its response and is ended too
    expect(busy.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nslow done$/)
  })
})
