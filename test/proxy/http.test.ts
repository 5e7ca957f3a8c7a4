import http from 'node:http'
import type {AddressInfo} from 'node:net'
import net from 'node:net'

import {describe, expect, it, onTestFinished} from 'vitest'

import {HttpRouter} from '../../src/proxy/http.js'
import {normalizeHost} from '../../src/proxy/request-target.js'
import type {HttpRouterOptions} from '../../src/proxy/http.js'
import type {HttpRoute} from '../../src/servemap/types.js'
import {
  FakeHealth,
  decodeFrame,
  encodeFrame,
  freeSharedPort,
  halfClosedExchange,
  makeTargets,
  nodes,
  rawExchange,
  request,
  startHttpNodes,
  waitFor,
  websocketAccept,
} from './backends.js'

async function router(
  routes: HttpRoute[],
  options: Partial<HttpRouterOptions> = {},
): Promise<{router: HttpRouter; port: number; health: FakeHealth}> {
  const health = new FakeHealth()
  const r = new HttpRouter({health, ...options})
  r.setRoutes(routes)
  const server = await r.listen('127.0.0.1', 0)
  onTestFinished(() => r.close(0))
  return {router: r, port: (server.address() as AddressInfo).port, health}
}

interface Echo {
  node: string
  method: string
  url: string
  headers: Record<string, string>
  body: string
}

function echoed(reply: {body: string}): Echo {
  return JSON.parse(reply.body) as Echo
}

describe('normalizeHost', () => {
  const cases: Array<[string, string | undefined]> = [
    ['web.home.test', 'web.home.test'],
    ['WEB.Home.Test', 'web.home.test'],
    ['web.home.test:8080', 'web.home.test'],
    ['web.home.test.', 'web.home.test'],
    ['web.home.test.:80', 'web.home.test'],
    ['[::1]:8080', undefined],
    ['[::1]', undefined],
    ['::1', undefined],
    ['', undefined],
    [':80', undefined],
  ]
  for (const [host, want] of cases) {
    it(`maps ${JSON.stringify(host)} to ${JSON.stringify(want)}`, () => {
      expect(normalizeHost(host)).toEqual(want)
    })
  }
})

describe('HttpRouter', () => {
  it('routes by Host whatever its case, port or trailing dot', async () => {
    const web = await startHttpNodes(nodes(1, 61))
    const api = await startHttpNodes([{node: 'node-api', address: '127.0.10.62'}])
    const {port} = await router([
      {service: 'media/web', hosts: ['web.home.test', 'web.localhost'], targets: web.targets},
      {service: 'media/api', hosts: ['api.home.test'], targets: api.targets},
    ])
    for (const host of ['web.home.test', 'WEB.Home.Test:8080', 'web.home.test.', 'web.localhost']) {
      const reply = await request(port, {headers: {host}})
      expect([host, reply.status, echoed(reply).node]).toEqual([host, 200, 'node-a'])
    }
    expect(echoed(await request(port, {headers: {host: 'api.home.test'}})).node).toEqual('node-api')
  })

  it('passes the request through: method, raw path, body, Host, and X-Forwarded-* added', async () => {
    const web = await startHttpNodes(nodes(1, 63))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const reply = await request(port, {
      method: 'PUT',
      path: '/a/../b?x=1&y=%2F',
      headers: {host: 'web.home.test:8080', 'x-forwarded-for': '10.1.1.1', 'content-type': 'text/plain'},
      body: 'payload',
    })
    const seen = echoed(reply)
    expect({method: seen.method, url: seen.url, body: seen.body}).toEqual({
      method: 'PUT',
      url: '/a/../b?x=1&y=%2F',
      body: 'payload',
    })
    expect(seen.headers).toMatchObject({
      host: 'web.home.test:8080',
      'x-forwarded-for': '10.1.1.1,127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'web.home.test:8080',
      'x-forwarded-port': '8080',
    })
  })

  it('keeps connections to the node alive across requests from different clients', async () => {
    const web = await startHttpNodes(nodes(1, 64))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    for (let i = 0; i < 5; i++) {
      // Each client request comes on its own connection with "Connection: close".
      const reply = await request(port, {headers: {host: 'web.home.test'}})
      expect(reply.status).toEqual(200)
    }
    const stats = web.stats.get('node-a')!
    expect(stats.requests).toEqual(5)
    expect(stats.connections).toBeLessThan(5)
  })

  it('retries a request on the next node when the first refuses, body included', async () => {
    const [dead, alive] = nodes(2, 65)
    const web = await startHttpNodes([alive!])
    const targets = makeTargets([dead!, alive!], web.port)
    const {port, health} = await router([{service: 'media/web', hosts: ['web.home.test'], targets}])
    const reply = await request(port, {method: 'POST', headers: {host: 'web.home.test'}, body: 'keep me'})
    expect(reply.status).toEqual(200)
    expect({node: echoed(reply).node, body: echoed(reply).body}).toEqual({node: 'node-b', body: 'keep me'})
    expect(health.reported).toEqual([targets[0]])
  })

  it('retries a reset before the response only when repeating the request is safe', async () => {
    const web = await startHttpNodes(nodes(2, 85), (node, req, res) => {
      if (node === 'node-a') req.socket.destroy()
      else res.end(node)
    })
    const {port} = await router([
      // Two routes over the same nodes, so each request below starts its round-robin at node-a.
      {service: 'media/get', hosts: ['get.home.test'], targets: web.targets},
      {service: 'media/post', hosts: ['post.home.test'], targets: web.targets},
    ])
    const get = await request(port, {headers: {host: 'get.home.test'}})
    expect([get.status, get.body]).toEqual([200, 'node-b'])
    // A POST whose body reached node-a may have had an effect there: it is not sent again.
    const post = await request(port, {method: 'POST', headers: {host: 'post.home.test'}, body: 'once'})
    expect(post.status).toEqual(502)
    expect(post.body).toContain('media/post')
    expect(post.body).toContain('failed after the request was sent: connection reset')
    expect(web.stats.get('node-b')!.requests).toEqual(1)
  })

  it('answers 502 naming the service and every node tried when all refuse', async () => {
    const specs = nodes(2, 67)
    const deadPort = await freeSharedPort(specs.map((s) => s.address))
    const targets = makeTargets(specs, deadPort)
    const {port, health} = await router([{service: 'media/web', hosts: ['web.home.test'], targets}])
    const reply = await request(port, {headers: {host: 'web.home.test'}})
    expect(reply.status).toEqual(502)
    expect(reply.body).toContain('media/web')
    expect(reply.body).toContain(`node-a (127.0.10.67:${deadPort}): connection refused`)
    expect(reply.body).toContain(`node-b (127.0.10.68:${deadPort}): connection refused`)
    expect(health.reported.length).toEqual(2)
  })

  it('answers 503 naming the service and its nodes, without connecting, when all are down', async () => {
    const web = await startHttpNodes(nodes(2, 69))
    const {port, health} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    for (const target of web.targets) health.down.add(target.address)
    const reply = await request(port, {headers: {host: 'web.home.test'}})
    expect(reply.status).toEqual(503)
    expect(reply.body).toEqual(
      `no healthy target for media/web: tried node-a (127.0.10.69:${web.port}), node-b (127.0.10.70:${web.port})\n`,
    )
    expect([...web.stats.values()].map((s) => s.connections)).toEqual([0, 0])
  })

  it('answers an unknown Host with 404 listing the known names, as HTML or JSON', async () => {
    const web = await startHttpNodes(nodes(1, 71))
    const {port} = await router(
      [{service: 'media/web', hosts: ['web.home.test', 'web.localhost'], targets: web.targets}],
      {zone: 'home.test'},
    )
    const html = await request(port, {headers: {host: 'nope.home.test:8080', accept: 'text/html,*/*'}})
    expect(html.status).toEqual(404)
    expect(html.headers['content-type']).toMatch(/^text\/html/)
    expect(html.body).toContain('<a href="http://web.home.test:8080/">web.home.test</a>')
    expect(html.body).toContain('<a href="http://web.localhost:8080/">web.localhost</a>')

    const json = await request(port, {headers: {host: 'nope.home.test', accept: 'application/json'}})
    expect(json.status).toEqual(404)
    expect(JSON.parse(json.body)).toEqual({
      error: 'no service is named "nope.home.test"',
      names: ['web.home.test', 'web.localhost'],
    })

    const ipv6 = await request(port, {headers: {host: '[::1]:8080', accept: 'application/json'}})
    expect(ipv6.status).toEqual(404)
    expect(web.stats.get('node-a')!.requests).toEqual(0)
  })

  it('answers a client that sends its FIN right after an HTTP/1.0 or Connection: close request', async () => {
    // The node answers late, so the FIN has reached the router by then.
    const web = await startHttpNodes(nodes(1, 160), (_node, req, res) => {
      setTimeout(() => res.end(`answer to ${req.url} for ${req.headers['x-forwarded-for']}`), 100)
    })
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const old = await halfClosedExchange(port, 'GET /old HTTP/1.0\r\nHost: web.home.test\r\n\r\n')
    expect(old).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nanswer to \/old for 127\.0\.0\.1$/)
    const close = await halfClosedExchange(
      port,
      'GET /close HTTP/1.1\r\nHost: web.home.test\r\nConnection: close\r\n\r\n',
    )
    expect(close).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nanswer to \/close for 127\.0\.0\.1$/)
  })

  it('lists the known names on its 404 page only to loopback and zone names, not to a rebound site', async () => {
    const web = await startHttpNodes(nodes(1, 169))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}], {
      zone: 'home.test',
    })
    const json = {accept: 'application/json'}
    const shown = [
      'localhost:8080',
      'nope.localhost',
      'nope.web.localhost',
      '127.0.0.1:8080',
      '[::1]:8080',
      'nope.home.test',
    ]
    for (const host of shown) {
      const reply = await request(port, {headers: {host, ...json}})
      expect([host, reply.status, JSON.parse(reply.body).names]).toEqual([host, 404, ['web.home.test']])
    }
    for (const host of ['rebind.evil.example', 'home.test.evil.example', 'localhost.evil.example', '192.168.1.10']) {
      const reply = await request(port, {headers: {host, ...json}})
      expect([host, reply.status, JSON.parse(reply.body)]).toEqual([
        host,
        404,
        {error: `no service is named "${host}"`},
      ])
      const html = await request(port, {headers: {host}})
      expect([host, html.body.includes('web.home.test')]).toEqual([host, false])
    }
  })

  it('refuses an absolute-form request for a foreign host and never forwards it', async () => {
    const web = await startHttpNodes(nodes(1, 72))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const reply = await rawExchange(
      port,
      'GET http://example.com/ HTTP/1.1\r\nHost: web.home.test\r\nConnection: close\r\n\r\n',
    )
    expect(reply).toMatch(/^HTTP\/1\.1 421 /)
    expect(web.stats.get('node-a')!.requests).toEqual(0)
  })

  it('routes an absolute-form request for one of its own names', async () => {
    const web = await startHttpNodes(nodes(1, 73))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const reply = await rawExchange(
      port,
      'GET http://Web.Home.Test:8080/path?q=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n',
    )
    expect(reply).toMatch(/^HTTP\/1\.1 200 /)
    // The backend saw the origin-form path and the target's authority as Host (RFC 9112 §3.2.2).
    expect(reply).toContain('"url":"/path?q=1"')
    expect(reply).toContain('"host":"web.home.test:8080"')
  })

  it('refuses CONNECT with 405 and closes the connection', async () => {
    const web = await startHttpNodes(nodes(1, 74))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const reply = await rawExchange(port, 'CONNECT web.home.test:443 HTTP/1.1\r\nHost: web.home.test:443\r\n\r\n')
    expect(reply).toMatch(/^HTTP\/1\.1 405 /)
    expect(web.stats.get('node-a')!.connections).toEqual(0)
  })

  it('answers 400 to a request with two Host headers', async () => {
    const web = await startHttpNodes(nodes(1, 75))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const reply = await rawExchange(
      port,
      'GET / HTTP/1.1\r\nHost: web.home.test\r\nHost: evil.test\r\nConnection: close\r\n\r\n',
    )
    expect(reply).toMatch(/^HTTP\/1\.1 400 /)
    expect(web.stats.get('node-a')!.requests).toEqual(0)
  })

  it('answers 431 to oversized headers', async () => {
    const web = await startHttpNodes(nodes(1, 76))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const big = 'x'.repeat(20 * 1024)
    const reply = await rawExchange(port, `GET / HTTP/1.1\r\nHost: web.home.test\r\nX-Big: ${big}\r\n\r\n`)
    expect(reply).toMatch(/^HTTP\/1\.1 431 /)
    expect(web.stats.get('node-a')!.requests).toEqual(0)
  })

  it('streams large bodies both ways', async () => {
    const web = await startHttpNodes(nodes(1, 86), (_node, req, res) => {
      res.writeHead(200, {'content-type': 'application/octet-stream'})
      req.pipe(res)
    })
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const body = 'x'.repeat(4 * 1024 * 1024)
    const reply = await request(port, {
      method: 'POST',
      headers: {host: 'web.home.test', expect: '100-continue'},
      body,
    })
    expect([reply.status, reply.body.length]).toEqual([200, body.length])
  })

  it('drops a client that is too slow to send its request head', async () => {
    const web = await startHttpNodes(nodes(1, 87))
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}], {
      headersTimeoutMs: 100,
    })
    // The head never ends: no blank line.
    const reply = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: web.home.test\r\n')
    expect(reply).toMatch(/^HTTP\/1\.1 408 /)
    expect(web.stats.get('node-a')!.requests).toEqual(0)
  })

  it('cuts the upstream request when the client goes away', async () => {
    const web = await startHttpNodes(nodes(1, 77), (_node, _req, res) => {
      res.writeHead(200, {'content-type': 'text/plain'})
      res.write('first chunk\n') // and never ends
    })
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    const req = http.request({host: '127.0.0.1', port, headers: {host: 'web.home.test'}, agent: false})
    onTestFinished(() => {
      req.destroy()
    })
    req.on('error', () => {})
    req.on('response', (res) => res.once('data', () => req.destroy()))
    req.end()
    await waitFor(() => web.stats.get('node-a')!.closedRequests === 1, 'upstream response closed')
  })

  it('proxies a WebSocket conversation', async () => {
    const [dead, alive] = nodes(2, 78)
    const web = await startHttpNodes([alive!])
    const targets = makeTargets([dead!, alive!], web.port)
    const {port, health} = await router([{service: 'media/web', hosts: ['web.home.test'], targets}])
    const socket = net.connect({host: '127.0.0.1', port})
    onTestFinished(() => {
      socket.destroy()
    })
    let received = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])))
    const key = 'dGhlIHNhbXBsZSBub25jZQ=='
    socket.write(
      'GET /chat HTTP/1.1\r\nHost: web.home.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    )
    await waitFor(() => received.includes('\r\n\r\n'), 'handshake reply')
    const headEnd = received.indexOf('\r\n\r\n') + 4
    const head = received.subarray(0, headEnd).toString()
    expect(head).toMatch(/^HTTP\/1\.1 101 /)
    expect(head.toLowerCase()).toContain(`sec-websocket-accept: ${websocketAccept(key).toLowerCase()}`)
    received = received.subarray(headEnd)

    socket.write(encodeFrame('hello', true))
    await waitFor(() => decodeFrame(received) !== undefined, 'echo frame')
    expect(decodeFrame(received)?.text).toEqual('node-b:hello')
    // The first node refused; the upgrade went to the second before the client saw anything.
    expect(health.reported).toEqual([targets[0]])
  })

  it('answers a WebSocket upgrade with 502 when every node refuses, and 404 for an unknown host', async () => {
    const specs = nodes(2, 81)
    const deadPort = await freeSharedPort(specs.map((s) => s.address))
    const {port} = await router([
      {service: 'media/web', hosts: ['web.home.test'], targets: makeTargets(specs, deadPort)},
    ])
    const upgrade = (host: string): string =>
      `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
    const refused = await rawExchange(port, upgrade('web.home.test'))
    expect(refused).toMatch(/^HTTP\/1\.1 502 /)
    expect(refused).toContain(`node-a (127.0.10.81:${deadPort}): connection refused`)
    expect(await rawExchange(port, upgrade('nope.home.test'))).toMatch(/^HTTP\/1\.1 404 /)
  })

  it('applies a new routing table from the next request on', async () => {
    const web = await startHttpNodes(nodes(1, 80))
    const {router: r, port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}])
    expect((await request(port, {headers: {host: 'web.home.test'}})).status).toEqual(200)
    r.setRoutes([{service: 'media/new', hosts: ['new.home.test'], targets: web.targets}])
    expect((await request(port, {headers: {host: 'web.home.test'}})).status).toEqual(404)
    expect(echoed(await request(port, {headers: {host: 'new.home.test'}})).node).toEqual('node-a')
  })
})

describe('HttpRouter bounds', () => {
  it('refuses client connections beyond maxConnections and keeps serving the open ones', async () => {
    const {port} = await router([], {maxConnections: 1})
    const first = net.connect(port, '127.0.0.1')
    onTestFinished(() => void first.destroy())
    let firstData = ''
    first.on('data', (d: Buffer) => (firstData += d.toString()))
    await new Promise((resolve) => first.once('connect', resolve))
    const second = net.connect(port, '127.0.0.1')
    onTestFinished(() => void second.destroy())
    let secondClosed = false
    second.on('close', () => (secondClosed = true))
    second.on('error', () => {})
    await waitFor(() => secondClosed, 'second connection refused')
    first.write('GET / HTTP/1.1\r\nHost: nobody.test\r\nAccept: application/json\r\n\r\n')
    await waitFor(() => firstData.startsWith('HTTP/1.1 404'), 'first still served')
  })
})

describe('HttpRouter against request smuggling', () => {
  it.each([
    [
      'Content-Length with Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: web.home.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: web.home.test\r\n\r\n',
    ],
    [
      'two differing Content-Lengths',
      'POST / HTTP/1.1\r\nHost: web.home.test\r\nContent-Length: 5\r\nContent-Length: 60\r\n\r\nhelloGET /admin HTTP/1.1\r\nHost: web.home.test\r\n\r\n',
    ],
    [
      'an obfuscated Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: web.home.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: web.home.test\r\n\r\n',
    ],
    [
      'a bare LF line ending in the head',
      'GET / HTTP/1.1\nHost: web.home.test\nX-A: b\n\nGET /admin HTTP/1.1\r\nHost: web.home.test\r\n\r\n',
    ],
  ])('refuses %s with 400 and forwards nothing smuggled', async (_name, raw) => {
    const web = await startHttpNodes(nodes(1, 93))
    const seen: string[] = []
    const {port} = await router([{service: 'media/web', hosts: ['web.home.test'], targets: web.targets}], {
      log: (line) => seen.push(line),
    })
    const reply = await rawExchange(port, raw)
    expect(reply).toMatch(/^HTTP\/1\.1 400 /)
    expect(reply).not.toContain('"url":"/admin"')
    expect(web.stats.get('node-a')!.requests).toEqual(0)
  })
})
