import {createHash} from 'node:crypto'
import dgram from 'node:dgram'
import net from 'node:net'

import {describe, expect, it, onTestFinished} from 'vitest'

import {BINDS_AT_ONCE, ListenerSet} from '../../src/proxy/listeners.js'
import type {ForwardListener} from '../../src/servemap/types.js'
import {
  FakeHealth,
  freeSharedPort,
  halfClosedExchange,
  nodes,
  once,
  rawExchange,
  startHttpNodes,
  startTcpNodes,
  startUdpNodes,
  waitFor,
  websocketAccept,
} from './backends.js'

function listenerSet(): ListenerSet {
  const set = new ListenerSet({health: new FakeHealth()})
  onTestFinished(() => set.close(0))
  return set
}

function tcp(service: string, address: string, port: number, targets: ForwardListener['targets']): ForwardListener {
  return {service, address, port, protocol: 'TCP', mode: 'tcp', targets}
}

/** An interactive client: `say` writes and waits for the whole expected transcript. */
function talk(address: string, port: number): {say: (text: string, transcript: string) => Promise<void>} {
  const socket = net.connect({host: address, port})
  onTestFinished(() => {
    socket.destroy()
  })
  socket.on('error', () => {})
  let received = ''
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()))
  return {
    say: async (text, transcript) => {
      socket.write(text)
      await waitFor(() => received === transcript, `transcript ${transcript}`)
    },
  }
}

function connectResult(address: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({host: address, port})
    socket.on('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
  })
}

describe('ListenerSet', () => {
  it('adds, removes and keeps listeners without disturbing open connections', async () => {
    const nodeA = await startTcpNodes(nodes(1, 91))
    const nodeB = await startTcpNodes([{node: 'node-b', address: '127.0.10.92'}])
    const udpNode = await startUdpNodes([{node: 'node-u', address: '127.0.10.93'}])
    const port = await freeSharedPort(['127.0.11.1', '127.0.11.2'])
    const one = tcp('ns/one', '127.0.11.1', port, nodeA.targets)
    const two = tcp('ns/two', '127.0.11.2', port, nodeA.targets)
    const dns: ForwardListener = {...one, service: 'ns/dns', protocol: 'UDP', mode: 'udp', targets: udpNode.targets}
    const set = listenerSet()

    expect(await set.apply([one, two, dns])).toEqual({added: [one, two, dns], removed: [], failed: []})
    const kept = talk('127.0.11.1', port)
    await kept.say('x', 'node-a:x')
    const draining = talk('127.0.11.2', port)
    await draining.say('d', 'node-a:d')

    const oneMoved = {...one, targets: nodeB.targets}
    expect(await set.apply([oneMoved, dns])).toEqual({added: [], removed: [two], failed: []})
    // The kept listener's open connection stays on its node; new connections go to the new target.
    await kept.say('y', 'node-a:xnode-a:y')
    await talk('127.0.11.1', port).say('z', 'node-b:z')
    // The removed listener no longer accepts, but its open connection carries on.
    expect(await connectResult('127.0.11.2', port)).toEqual('ECONNREFUSED')
    await draining.say('e', 'node-a:dnode-a:e')
    expect(set.list()).toEqual([oneMoved, dns])

    // The UDP listener kept working throughout.
    const client = dgram.createSocket('udp4')
    onTestFinished(() => new Promise<void>((resolve) => client.close(() => resolve())))
    const replies: string[] = []
    client.on('message', (message) => replies.push(message.toString()))
    client.send('q', port, '127.0.11.1')
    await waitFor(() => replies.length === 1, 'udp reply')
    expect(replies).toEqual(['node-u:q'])
  })

  it('reports a listener whose port is taken and opens the others; the next apply retries it', async () => {
    const node = await startTcpNodes(nodes(1, 94))
    const port = await freeSharedPort(['127.0.11.3', '127.0.11.4'])
    const squatter = net.createServer()
    await new Promise<void>((resolve) => squatter.listen({host: '127.0.11.3', port}, () => resolve()))
    onTestFinished(() => new Promise<void>((resolve) => squatter.close(() => resolve())))

    const busy = tcp('ns/busy', '127.0.11.3', port, node.targets)
    const free = tcp('ns/free', '127.0.11.4', port, node.targets)
    const set = listenerSet()
    const result = await set.apply([busy, free])
    expect(result.added).toEqual([free])
    expect(result.failed.map(({listener, error}) => [listener, error.code])).toEqual([[busy, 'EADDRINUSE']])
    await talk('127.0.11.4', port).say('hi', 'node-a:hi')

    await new Promise<void>((resolve) => squatter.close(() => resolve()))
    expect(await set.apply([busy, free])).toEqual({added: [busy], removed: [], failed: []})
    await talk('127.0.11.3', port).say('hi', 'node-a:hi')
  })

  it('opens more listeners than bind at once, reporting added and failed ones in the order given', async () => {
    const node = await startTcpNodes(nodes(1, 95))
    const count = BINDS_AT_ONCE + 3
    const address = (i: number) => `127.78.${(i >> 8) + 1}.${i & 255}`
    const port = await freeSharedPort([address(0), address(count - 2)])
    // The second-to-last listener's port is taken: it is in the last batch.
    const squatter = net.createServer()
    await new Promise<void>((resolve) => squatter.listen({host: address(count - 2), port}, () => resolve()))
    onTestFinished(() => new Promise<void>((resolve) => squatter.close(() => resolve())))
    const listeners = Array.from({length: count}, (_, i) => tcp(`ns/s${i}`, address(i), port, node.targets))

    const result = await listenerSet().apply(listeners)
    expect(result.added).toEqual(listeners.filter((_, i) => i !== count - 2))
    expect(result.failed.map(({listener, error}) => [listener, error.code])).toEqual([
      [listeners[count - 2], 'EADDRINUSE'],
    ])
    expect(await connectResult(address(count - 1), port)).toBe('connected')
    await talk(address(BINDS_AT_ONCE + 2), port).say('hi', 'node-a:hi')
  })
})

/** A raw client of `address:port`; `received` is everything read so far. */
function raw(address: string, port: number): {socket: net.Socket; received: () => string} {
  const socket = net.connect({host: address, port})
  onTestFinished(() => void socket.destroy())
  socket.on('error', () => {})
  let received = ''
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
  return {socket, received: () => received}
}

describe('ListenerSet: a port that speaks HTTP', () => {
  async function httpListener(host: number, targets: ForwardListener['targets']): Promise<ForwardListener> {
    const address = `127.0.11.${host}`
    const port = await freeSharedPort([address])
    const listener: ForwardListener = {service: 'media/web', address, port, protocol: 'TCP', mode: 'http', targets}
    await listenerSet().apply([listener])
    return listener
  }

  it('sends heads byte for byte and gives a client’s node connection to the next client', async () => {
    const web = await startHttpNodes(nodes(1, 150), (_node, req, res) => {
      res.end(`${req.url} ${JSON.stringify(req.rawHeaders)}`)
    })
    const {address, port} = await httpListener(50, web.targets)
    const first = raw(address, port)
    first.socket.end('GET /one HTTP/1.1\r\nHost: anything\r\nX-Mine:  as sent\r\n\r\n')
    await once(first.socket, 'close') // ended once answered; its node connection is kept by then
    expect(first.received()).toMatch(/\r\n\r\n\/one \["Host","anything","X-Mine","as sent"\]$/)
    const second = raw(address, port)
    second.socket.end('GET /two HTTP/1.1\r\nHost: anything\r\n\r\n')
    await once(second.socket, 'close')
    expect(second.received()).toMatch(/\r\n\r\n\/two \["Host","anything"\]$/)
    expect(web.stats.get('node-a')).toMatchObject({connections: 1, requests: 2})
  })

  it('closes: stops accepting at once, and resolves once a request under way is answered and its client gone', async () => {
    let answer: (() => void) | undefined
    const web = await startHttpNodes(nodes(1, 151), (_node, _req, res) => {
      answer = () => res.end('late answer')
    })
    const address = '127.0.11.51'
    const port = await freeSharedPort([address])
    const set = new ListenerSet({health: new FakeHealth()})
    onTestFinished(() => set.close(0))
    await set.apply([{service: 'media/web', address, port, protocol: 'TCP', mode: 'http', targets: web.targets}])
    const client = raw(address, port)
    client.socket.write('GET /slow HTTP/1.1\r\nHost: anything\r\n\r\n')
    await waitFor(() => answer !== undefined, 'the request at the node')
    const clientGone = once(client.socket, 'close')
    let closed = false
    const closing = set.close().then(() => (closed = true))
    await expect.poll(() => connectResult(address, port)).toBe('ECONNREFUSED')
    await new Promise((resolve) => setTimeout(resolve, 200)) // time for close() to resolve if it did not wait
    expect(closed).toBe(false)
    answer!()
    await waitFor(() => client.received().endsWith('late answer'), 'the answer')
    await closing
    await clientGone
  })

  it('answers a client that sends its FIN right after an HTTP/1.0 or Connection: close request', async () => {
    // The node answers late, so the FIN has reached the listener by then (a TCP splice would pass it on at once,
    // and Node's server drops the answer when it sees it).
    const web = await startHttpNodes(nodes(1, 162), (_node, req, res) => {
      setTimeout(() => res.end(`answer to ${req.url}`), 100)
    })
    const {address, port} = await httpListener(60, web.targets)
    const old = await halfClosedExchange(port, 'GET /old HTTP/1.0\r\nHost: web\r\n\r\n', address)
    expect(old).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nanswer to \/old$/)
    const close = await halfClosedExchange(
      port,
      'GET /close HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n',
      address,
    )
    expect(close).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nanswer to \/close$/)
  })

  it('splices as TCP a client whose first bytes are not HTTP/1.1, and one that sends nothing', async () => {
    const node = await startTcpNodes(nodes(1, 151))
    const {address, port} = await httpListener(51, node.targets)
    await talk(address, port).say('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'node-a:PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
    // A server that speaks first (here: answers the FIN) is heard once the client has been quiet for a moment.
    const quiet = raw(address, port)
    await waitFor(() => node.accepted.get('node-a') === 2, 'the quiet client spliced to the node')
    quiet.socket.end()
    await waitFor(() => quiet.received() === 'node-a:bye', 'the node’s answer')
  })

  it('passes a WebSocket upgrade after a plain request on the same connection through as TCP', async () => {
    const web = await startHttpNodes(nodes(1, 152))
    const {address, port} = await httpListener(52, web.targets)
    const client = raw(address, port)
    client.socket.write('GET /plain HTTP/1.1\r\nHost: web\r\n\r\n')
    await waitFor(() => client.received().endsWith('\r\n0\r\n\r\n'), 'the plain response')
    client.socket.write(
      'GET /ws HTTP/1.1\r\nHost: web\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    )
    await waitFor(() => client.received().includes('HTTP/1.1 101 Switching Protocols'), 'the upgrade')
    expect(client.received()).toContain(`Sec-WebSocket-Accept: ${websocketAccept('dGhlIHNhbXBsZSBub25jZQ==')}`)
  })

  it('forwards heads split over many reads, a large body to a node that reads late, and pipelined heads intact', async () => {
    const web = await startHttpNodes(nodes(1, 155), (_node, req, res) => {
      const hash = createHash('sha256')
      let length = 0
      req.pause()
      setTimeout(() => {
        req.on('data', (chunk: Buffer) => {
          hash.update(chunk)
          length += chunk.length
        })
        req.on('end', () => res.end(`${req.url} ${req.headers['x-tag']} ${length} ${hash.digest('hex')}|`))
        req.resume()
      }, 100)
    })
    const {address, port} = await httpListener(55, web.targets)
    const client = raw(address, port)
    const body = Buffer.alloc(4 * 1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 251
    const heads = Buffer.from(
      'GET /first HTTP/1.1\r\nHost: web\r\nX-Tag: one\r\n\r\n' +
        `POST /upload HTTP/1.1\r\nHost: web\r\nX-Tag: two\r\nContent-Length: ${body.length}\r\n\r\n`,
      'latin1',
    )
    // Five bytes at a time: every head comes in pieces, each read landing where the one before it did.
    for (let at = 0; at < heads.length; at += 5) {
      client.socket.write(heads.subarray(at, at + 5))
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    client.socket.write(Buffer.concat([body, Buffer.from('GET /last HTTP/1.1\r\nHost: web\r\nX-Tag: three\r\n\r\n')]))
    const empty = createHash('sha256').digest('hex')
    const expected = [
      `/first one 0 ${empty}|`,
      `/upload two ${body.length} ${createHash('sha256').update(body).digest('hex')}|`,
      `/last three 0 ${empty}|`,
    ]
    await waitFor(() => client.received().endsWith(expected[2]!), 'three answers', 20_000)
    const answers = client
      .received()
      .split('HTTP/1.1 200 OK')
      .slice(1)
      .map((reply) => reply.split('\r\n\r\n')[1])
    expect(answers).toEqual(expected)
  })

  it('closes a spliced HTTP client that stays silent for idleTimeoutMs', async () => {
    const web = await startHttpNodes(nodes(1, 154))
    web.servers.get('node-a')!.keepAliveTimeout = 60_000 // the node does not end the connection first
    const port = await freeSharedPort(['127.0.11.54'])
    const set = new ListenerSet({health: new FakeHealth(), idleTimeoutMs: 200})
    onTestFinished(() => set.close(0))
    await set.apply([
      {service: 'media/web', address: '127.0.11.54', port, protocol: 'TCP', mode: 'http', targets: web.targets},
    ])
    const client = raw('127.0.11.54', port)
    const closed = once(client.socket, 'close')
    client.socket.write('GET / HTTP/1.1\r\nHost: web\r\n\r\n')
    await closed
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n0\r\n\r\n$/)
  })

  it('opens a port again when its mode changes between tcp and http', async () => {
    const node = await startTcpNodes(nodes(1, 153))
    const port = await freeSharedPort(['127.0.11.53'])
    const asTcp = tcp('ns/app', '127.0.11.53', port, node.targets)
    const asHttp: ForwardListener = {...asTcp, mode: 'http'}
    const set = listenerSet()
    await set.apply([asTcp])
    expect(await set.apply([asHttp])).toEqual({added: [asHttp], removed: [asTcp], failed: []})
    await talk('127.0.11.53', port).say('hello', 'node-a:hello')
  })
})

describe('ListenerSet: the Host check of a port that speaks HTTP (DNS rebinding)', () => {
  /** A port in http mode at 127.0.11.<host> answering `web.media.kube.internal`, `web.localhost` and its address. */
  async function checkedListener(
    host: number,
    targets: ForwardListener['targets'],
    options: {hostCheck?: boolean} = {},
  ): Promise<{address: string; port: number; set: ListenerSet; listener: ForwardListener}> {
    const address = `127.0.11.${host}`
    const port = await freeSharedPort([address])
    const hosts = ['web.media.kube.internal', 'web.localhost', address]
    const listener: ForwardListener = {
      service: 'media/web',
      address,
      port,
      protocol: 'TCP',
      mode: 'http',
      targets,
      hosts,
    }
    const set = new ListenerSet({health: new FakeHealth(), ...options})
    onTestFinished(() => set.close(0))
    await set.apply([listener])
    return {address, port, set, listener}
  }

  const status = (reply: string): string => reply.split('\r\n')[0] ?? ''
  const refusal = (host: string): RegExp =>
    new RegExp(
      `^HTTP/1\\.1 421 Misdirected Request\\r\\n[\\s\\S]*\\r\\n\\r\\nmisdirected request: "${host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" is not a name of media/web \\(serve --no-host-check allows any\\)\\n$`,
    )

  it('answers requests for its names, .localhost forms and address, in any case, with a port or a trailing dot', async () => {
    const web = await startHttpNodes(nodes(1, 163))
    const {address, port} = await checkedListener(61, web.targets)
    for (const host of [
      'web.media.kube.internal',
      'WEB.Media.Kube.Internal.:8080',
      'web.localhost',
      `${address}:${port}`,
    ]) {
      const reply = await rawExchange(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, address)
      expect([host, status(reply)]).toEqual([host, 'HTTP/1.1 200 OK'])
    }
    // HTTP/1.0 without Host: no browser sends it, so it is no other site's request.
    expect(status(await halfClosedExchange(port, 'GET / HTTP/1.0\r\n\r\n', address))).toEqual('HTTP/1.1 200 OK')
  })

  it('answers 421 to a request for another host, whatever its form, and the node never sees it', async () => {
    const web = await startHttpNodes(nodes(1, 164))
    const {address, port} = await checkedListener(62, web.targets)
    const refused: Array<[string, string, string]> = [
      ['a plain keep-alive GET', 'GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n', 'evil.example'],
      ['the same with a port', 'GET / HTTP/1.1\r\nHost: evil.example:' + port + '\r\n\r\n', `evil.example:${port}`],
      ['an HTTP/1.0 request', 'GET / HTTP/1.0\r\nHost: evil.example\r\n\r\n', 'evil.example'],
      ['a method the fast path leaves alone', 'PROPFIND / HTTP/1.1\r\nHost: evil.example\r\n\r\n', 'evil.example'],
      [
        'a chunked upload',
        'POST / HTTP/1.1\r\nHost: evil.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
        'evil.example',
      ],
      [
        'a WebSocket upgrade',
        'GET /ws HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        'evil.example',
      ],
      ['an absolute-form target', 'GET http://evil.example/ HTTP/1.1\r\nHost: web.localhost\r\n\r\n', 'evil.example'],
      ['a second Host field', 'GET / HTTP/1.1\r\nHost: web.localhost\r\nHost: evil.example\r\n\r\n', 'evil.example'],
      ['an IPv6 literal', 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n', '[::1]:8080'],
      [
        'a folded Host field',
        'GET / HTTP/1.1\r\nHost: web.localhost\r\n evil.example\r\n\r\n',
        'web.localhost evil.example',
      ],
    ]
    for (const [name, request, host] of refused) {
      expect([name, await rawExchange(port, request, address)]).toEqual([name, expect.stringMatching(refusal(host))])
    }
    expect(web.stats.get('node-a')!.requests).toEqual(0)
  })

  it('answers 421 to a request for another host after allowed ones on the same connection', async () => {
    const web = await startHttpNodes(nodes(1, 165))
    const {address, port} = await checkedListener(63, web.targets)
    const reply = await rawExchange(
      port,
      'GET /mine HTTP/1.1\r\nHost: web.localhost\r\n\r\nGET /theirs HTTP/1.1\r\nHost: evil.example\r\n\r\n',
      address,
    )
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*"url":"\/mine"[\s\S]*HTTP\/1\.1 421 Misdirected Request\r\n/)
    expect(web.stats.get('node-a')!.requests).toEqual(1)
  })

  it('checks a request that comes in pieces, or after the client stayed silent (a preconnected socket)', async () => {
    const web = await startHttpNodes(nodes(1, 166))
    const {address, port} = await checkedListener(64, web.targets)
    const pieces = raw(address, port)
    pieces.socket.write('PROPFIND / HTTP/1.1\r\nHo')
    await new Promise((resolve) => setTimeout(resolve, 50))
    pieces.socket.write('st: evil.example\r\n\r\n')
    await waitFor(() => /\n$/.test(pieces.received()), 'the refusal')
    expect(pieces.received()).toMatch(refusal('evil.example'))

    const silent = raw(address, port)
    const before = web.stats.get('node-a')!.connections
    // Spliced as TCP once it has been quiet for a moment (a server may speak first): the node is connected.
    await waitFor(() => web.stats.get('node-a')!.connections === before + 1, 'the silent client handed on')
    silent.socket.write('GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n')
    await waitFor(() => /\n$/.test(silent.received()), 'the refusal')
    expect(silent.received()).toMatch(refusal('evil.example'))
    const allowed = raw(address, port)
    await waitFor(() => web.stats.get('node-a')!.connections === before + 2, 'the second silent client handed on')
    allowed.socket.write('GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n')
    await waitFor(() => allowed.received().endsWith('\r\n0\r\n\r\n'), 'the answer')
    expect(status(allowed.received())).toEqual('HTTP/1.1 200 OK')
    expect(web.stats.get('node-a')!.requests).toEqual(1)
  })

  it('still splices other protocols, and a server that speaks first', async () => {
    const node = await startTcpNodes(nodes(1, 167))
    const {address, port} = await checkedListener(65, node.targets)
    await talk(address, port).say('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'node-a:PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
    await talk(address, port).say('\x10\x1a\x00\x04MQTT', 'node-a:\x10\x1a\x00\x04MQTT')
    const quiet = raw(address, port)
    await waitFor(() => node.accepted.get('node-a') === 3, 'the quiet client spliced to the node')
    quiet.socket.end()
    await waitFor(() => quiet.received() === 'node-a:bye', 'the node’s answer')
  })

  it('answers any host with hostCheck off (serve --no-host-check), and new names after a change', async () => {
    const web = await startHttpNodes(nodes(1, 168))
    const open = await checkedListener(66, web.targets, {hostCheck: false})
    const evil = 'GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'
    expect(status(await rawExchange(open.port, evil, open.address))).toEqual('HTTP/1.1 200 OK')

    const checked = await checkedListener(67, web.targets)
    const renamed = {...checked.listener, hosts: ['evil.example']}
    expect(await checked.set.apply([renamed])).toEqual({added: [], removed: [], failed: []})
    expect(status(await rawExchange(checked.port, evil, checked.address))).toEqual('HTTP/1.1 200 OK')
    const mine = 'GET / HTTP/1.1\r\nHost: web.localhost\r\nConnection: close\r\n\r\n'
    expect(status(await rawExchange(checked.port, mine, checked.address))).toEqual('HTTP/1.1 421 Misdirected Request')
  })
})
