// The router's fast path (src/proxy/host-splice.ts) seen from keep-alive clients: what it splices, and how it
// hands a connection to the http-proxy-3 path without losing or misrouting a request.
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import net from 'node:net'

import {describe, expect, it, onTestFinished} from 'vitest'

import {HostSplicer} from '../../src/proxy/host-splice.js'
import {HttpRouter} from '../../src/proxy/http.js'
import {FINISH_LIMIT_BYTES} from '../../src/proxy/node-pool.js'
import type {HttpRoute} from '../../src/servemap/types.js'
import {
  FakeHealth,
  freeSharedPort,
  halfClosedExchange,
  makeTargets,
  nodes,
  once,
  startHttpNodes,
  waitFor,
} from './backends.js'

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

  it('sends the next request on a connection to the Service its Host value routes to after a route change', async () => {
    const [a, b] = nodes(2, 105)
    const web = await startHttpNodes([a!])
    const other = await startHttpNodes([b!])
    const {router: r, port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const send = keepAliveClient(port)
    const before = JSON.parse((await send({host: 'web.home.test', path: '/before'})).body) as Echo
    r.setRoutes([{service: 'media/moved', hosts: ['web.home.test'], targets: other.targets}])
    const after = JSON.parse((await send({host: 'web.home.test', path: '/after'})).body) as Echo
    expect([`${before.node} ${before.url}`, `${after.node} ${after.url}`]).toEqual(['node-a /before', 'node-b /after'])
    expect(web.stats.get('node-a')).toMatchObject({requests: 1, connections: 1})
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

describe('HttpRouter fast path: node connections kept between clients', () => {
  /** Resolves once `server` has no open connection (fails after waitFor's limit). */
  async function noConnections(server: http.Server): Promise<void> {
    const count = (): Promise<number> => new Promise((resolve) => server.getConnections((_e, n) => resolve(n)))
    const deadline = Date.now() + 10_000
    while ((await count()) > 0) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the node connections to close')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  /** GET on a fresh connection; resolves with everything read once `until` matches it, then cuts the connection. */
  async function getThenLeave(port: number, path: string, until: RegExp): Promise<string> {
    const {socket, received} = rawClient(port)
    socket.write(`GET ${path} HTTP/1.1\r\nHost: web.home.test\r\n\r\n`)
    await waitFor(() => until.test(received()), `a response to ${path}`).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(received())}`)
    })
    socket.destroy()
    return received()
  }

  it('gives the node connection a client left between exchanges to the next client', async () => {
    const web = await startHttpNodes(nodes(1, 140))
    const {router: r, port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    await getThenLeave(port, '/first', /\r\n0\r\n\r\n$/)
    await waitFor(() => r.keptNodeConnections === 1, 'connection kept')
    const reply = await keepAliveClient(port)({host: 'web.home.test', path: '/second'})
    expect((JSON.parse(reply.body) as Echo).url).toEqual('/second')
    expect(web.stats.get('node-a')).toMatchObject({connections: 1, requests: 2})
  })

  /**
   * A node answering /big with `bytes` of x: 64 KiB first, the rest once `gate` opens; other paths at once.
   * `cut` counts connections that carried /big and were cut (a reset, not a FIN after a whole response).
   */
  async function bigAnswers(host: number, bytes: number, gate: Promise<unknown>) {
    const cut = {count: 0}
    const web = await startHttpNodes(nodes(1, host), (_node, req, res) => {
      if (req.url !== '/big') return void res.end(`answer to ${req.url}`)
      req.socket.once('close', (hadError) => (cut.count += hadError ? 1 : 0))
      res.writeHead(200, {'content-length': bytes})
      res.write(Buffer.alloc(64 * 1024, 'x'))
      void gate.then(() => res.end(Buffer.alloc(bytes - 64 * 1024, 'x')))
    })
    return {...web, cut}
  }

  it('reads to its end a response the client left in the middle of, so the next client gets only its own', async () => {
    let open = (): void => {}
    const web = await bigAnswers(141, 1024 * 1024, new Promise<void>((resolve) => (open = resolve)))
    const {router: r, port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    await getThenLeave(port, '/big', /xxxx/)
    // The client has left with most of the response still to come: the node sends it now.
    await new Promise((resolve) => setTimeout(resolve, 50))
    open()
    await waitFor(() => r.keptNodeConnections === 1, 'connection kept')
    const reply = await keepAliveClient(port)({host: 'web.home.test', path: '/small'})
    expect(reply).toEqual({status: 200, body: 'answer to /small'})
    expect(web.stats.get('node-a')).toMatchObject({connections: 1, requests: 2})
  })

  it('closes instead a node connection with more left to read than FINISH_LIMIT_BYTES', async () => {
    let open = (): void => {}
    const web = await bigAnswers(
      142,
      FINISH_LIMIT_BYTES + 1024 * 1024,
      new Promise<void>((resolve) => (open = resolve)),
    )
    const {router: r, port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    await getThenLeave(port, '/big', /xxxx/)
    await new Promise((resolve) => setTimeout(resolve, 50))
    open()
    await waitFor(() => web.cut.count === 1, 'the node connection closed in the middle of the response')
    expect(r.keptNodeConnections).toEqual(0)
    expect((await keepAliveClient(port)({host: 'web.home.test', path: '/small'})).body).toEqual('answer to /small')
    expect(web.stats.get('node-a')).toMatchObject({connections: 2})
  })

  it('sends a GET again on a new connection when the node closed the kept one, without blaming the node', async () => {
    const served = new WeakSet<net.Socket>()
    const web = await startHttpNodes(nodes(1, 143), (_node, req, res) => {
      // A node that closes connections after one exchange without saying so (as one whose idle timeout hit).
      if (served.has(req.socket)) return void req.socket.destroy()
      served.add(req.socket)
      res.end(`answer to ${req.url}`)
    })
    const {
      router: r,
      port,
      health,
      lines,
    } = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    await getThenLeave(port, '/first', /answer to \/first$/)
    await waitFor(() => r.keptNodeConnections === 1, 'connection kept')
    const reply = await keepAliveClient(port)({host: 'web.home.test', path: '/second'})
    expect(reply).toEqual({status: 200, body: 'answer to /second'})
    expect(web.stats.get('node-a')).toMatchObject({connections: 2, requests: 3})
    expect(health.reported).toEqual([])
    expect(lines).toContain(`http: media/web: node-a (127.0.10.143:${web.port}): kept connection closed; reconnecting`)
  })

  it('sends a first request that may not be sent twice on a new connection, not a kept one', async () => {
    const web = await startHttpNodes(nodes(1, 144))
    const {router: r, port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    await getThenLeave(port, '/first', /\r\n0\r\n\r\n$/)
    await waitFor(() => r.keptNodeConnections === 1, 'connection kept')
    const reply = await keepAliveClient(port)({host: 'web.home.test', method: 'POST', body: 'once'})
    expect((JSON.parse(reply.body) as Echo).body).toEqual('once')
    expect(web.stats.get('node-a')).toMatchObject({connections: 2, requests: 2})
    expect(r.keptNodeConnections).toEqual(1)
  })

  it('answers a client that sent its FIN after a request, then ends it and keeps the node connection', async () => {
    const web = await startHttpNodes(nodes(1, 145), (_node, req, res) => {
      setTimeout(() => res.end(`answer to ${req.url}`), 100)
    })
    const {router: r, port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const {socket, received} = rawClient(port)
    const ended = once(socket, 'end')
    socket.end('GET /late HTTP/1.1\r\nHost: web.home.test\r\n\r\n')
    await ended
    expect(received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nanswer to \/late$/)
    await waitFor(() => r.keptNodeConnections === 1, 'connection kept')
  })

  it('answers a client whose FIN follows a plain request and an HTTP/1.0 one, on both paths', async () => {
    const web = await startHttpNodes(nodes(1, 161), (_node, req, res) => {
      setTimeout(() => res.end(`answer to ${req.url} for ${req.headers['x-forwarded-for']}`), 100)
    })
    const {port, lines} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const received = await halfClosedExchange(
      port,
      'GET /plain HTTP/1.1\r\nHost: web.home.test\r\n\r\nGET /old HTTP/1.0\r\nHost: web.home.test\r\n\r\n',
    )
    // The first is spliced; the second waits for its answer, then goes to the slow path, after the client's FIN.
    expect(received).toMatch(
      /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nanswer to \/plain for 127\.0\.0\.1HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nanswer to \/old for 127\.0\.0\.1$/,
    )
    expect(spliced(lines)).toHaveLength(1)
  })

  it('closes the kept node connections when the router closes', async () => {
    const web = await startHttpNodes(nodes(1, 146))
    const {router: r, port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    await getThenLeave(port, '/first', /\r\n0\r\n\r\n$/)
    await waitFor(() => r.keptNodeConnections === 1, 'connection kept')
    await r.close()
    expect(r.keptNodeConnections).toEqual(0)
    await noConnections(web.servers.get('node-a')!)
  })
})

/** Bytes 0, 1, …, 250, 0, 1, … (a prime period, so a lost or repeated piece shows), `length` of them. */
function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length)
  for (let i = 0; i < length; i++) bytes[i] = i % 251
  return bytes
}

describe('HttpRouter fast path: writes the kernel queues, and idleness', () => {
  const BIG = 8 * 1024 * 1024

  it('carries a large upload to a node that reads late and a large download to a client that reads late', async () => {
    const web = await startHttpNodes(nodes(1, 170), (_node, req, res) => {
      if (req.url === '/down') return void res.end(pattern(BIG))
      if (req.url !== '/up') return void res.end(`answer to ${req.url}`)
      // Reads nothing for a while: the router's writes of the body wait in the kernel's queue, then in libuv's.
      req.pause()
      setTimeout(() => {
        const chunks: Buffer[] = []
        req.on('data', (chunk: Buffer) => chunks.push(chunk))
        req.on('end', () => res.end(Buffer.concat(chunks).equals(pattern(BIG)) ? 'upload intact' : 'upload damaged'))
        req.resume()
      }, 200)
    })
    const {port, lines} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const socket = net.connect(port, '127.0.0.1')
    onTestFinished(() => void socket.destroy())
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    const received = (): Buffer => Buffer.concat(chunks)
    socket.write(`POST /up HTTP/1.1\r\nHost: web.home.test\r\nContent-Length: ${BIG}\r\n\r\n`)
    socket.write(pattern(BIG))
    await waitFor(() => received().toString('latin1').endsWith('upload intact'), 'the upload answered', 20_000)
    chunks.length = 0
    socket.write('GET /down HTTP/1.1\r\nHost: web.home.test\r\n\r\n')
    // The client reads nothing for a while: the router's writes of the response queue up behind the kernel's.
    socket.pause()
    await new Promise((resolve) => setTimeout(resolve, 200))
    socket.resume()
    const headEnd = (): number => received().indexOf('\r\n\r\n')
    await waitFor(() => headEnd() >= 0 && received().length - headEnd() - 4 >= BIG, 'the download', 20_000)
    expect(
      received()
        .subarray(headEnd() + 4)
        .equals(pattern(BIG)),
    ).toBe(true)
    socket.write('GET /again HTTP/1.1\r\nHost: web.home.test\r\nContent-Length: 0\r\n\r\n')
    chunks.length = 0
    await waitFor(() => received().toString('latin1').endsWith('answer to /again'), 'the third answer')
    expect(spliced(lines)).toHaveLength(3)
    expect(web.stats.get('node-a')).toMatchObject({connections: 1, requests: 3})
  })

  it('cuts a spliced client silent both ways for idleTimeoutMs, but not one that keeps asking', async () => {
    const web = await startHttpNodes(nodes(1, 171))
    const handedOff: net.Socket[] = []
    const splicer = new HostSplicer({
      pick: () => ({service: 'media/web', ordered: web.targets}),
      serviceOf: () => 'media/web',
      health: new FakeHealth(),
      connectTimeoutMs: 1000,
      headersTimeoutMs: 5000,
      idleTimeoutMs: 300,
      log: () => {},
      verbose: false,
    })
    const front = net.createServer({allowHalfOpen: true}, (socket) =>
      splicer.accept(socket, (client) => handedOff.push(client)),
    )
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => {
      splicer.cutAll()
      front.close()
    })
    const port = (front.address() as AddressInfo).port
    const ask = (client: ReturnType<typeof rawClient>, path: string): Promise<void> => {
      client.socket.write(`GET ${path} HTTP/1.1\r\nHost: web.home.test\r\n\r\n`)
      return waitFor(() => client.received().includes(`"url":"${path}"`), `an answer to ${path}`)
    }
    const silent = rawClient(port)
    const talking = rawClient(port)
    const closed = {silent: false, talking: false}
    silent.socket.on('close', () => (closed.silent = true))
    talking.socket.on('close', () => (closed.talking = true))
    await ask(silent, '/silent')
    // Three idle timeouts long, the talking client asks every 100 ms (a third of idleTimeoutMs).
    for (let i = 0; i < 9; i++) {
      await ask(talking, `/talk-${i}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await waitFor(() => closed.silent, 'the silent client cut')
    expect(closed.talking).toBe(false)
    expect(splicer.openConnections).toEqual(1)
    expect(handedOff).toEqual([])
  })
})
