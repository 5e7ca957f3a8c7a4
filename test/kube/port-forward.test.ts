// The port-forward dialer's own WebSocket client on real sockets: bulk bytes both ways through the simulated API
// server, and the protocol's edges (ping, close, fragmented error text, a missing subprotocol) against the `ws`
// package's server as the peer.
import {createHash, randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import type {Duplex} from 'node:stream'
import {KubeConfig} from '@kubernetes/client-node'
import {WebSocketServer, type WebSocket} from 'ws'
import {describe, expect, it, onTestFinished} from 'vitest'
import {ApiClient} from '../../src/kube/client.js'
import {openPortForward, PortForwardError} from '../../src/kube/port-forward.js'
import {encodePortHeader} from '../../src/kube/portforward-channel.js'
import {startSimServer, type KubeObject} from '../../src/sim/api-server.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => void server.close())
  return (server.address() as net.AddressInfo).port
}

function pod(name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, namespace: 'default', uid: `uid-${name}`},
    spec: {containers: [{name, image: name}]},
    status: {phase: 'Running', podIP: '127.0.0.1'},
  } as KubeObject
}

function apiFor(url: string, kubeconfig: string): ApiClient {
  const kc = new KubeConfig()
  kc.loadFromString(kubeconfig)
  return new ApiClient(kc, 'sim', url)
}

/** A Pod whose port sends `payload` and closes, forwarded through a simulated API server (over TLS with `tls`). */
async function forwardDownload(payload: Buffer, tls?: (name: string) => string): Promise<Duplex> {
  const port = await listen(net.createServer((s) => s.end(payload)))
  const sim = await startSimServer({
    objects: [pod('source')],
    ...(tls && {tls: {cert: tls('server.crt'), key: tls('server.key')}}),
  })
  onTestFinished(() => sim.close())
  const api = apiFor(sim.url, sim.kubeconfig(tls && {caPem: tls('ca.crt')}))
  return openPortForward(api, {namespace: 'default', pod: 'source', port})
}

function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })
}

describe('the port-forward dialer through the simulated API server', () => {
  it('brings a 12 MiB download across every frame and read boundary intact', async () => {
    const payload = randomBytes(12 * 1024 * 1024)
    const stream = await forwardDownload(payload)
    const got = await readAll(stream)
    expect(got.length).toBe(payload.length)
    expect(sha(got)).toBe(sha(payload))
  })

  it('relays a 32 MiB download straight to a slow client socket intact, reading into reused buffers', async () => {
    // More than loopback's socket buffers hold, so that writes to the client queue up in serve.
    const payload = randomBytes(32 * 1024 * 1024)
    const stream = await forwardDownload(payload)
    // The relay writes to one end of a loopback connection; the other end reads slowly, so the writes queue up and
    // reading from the API server has to wait for them (a buffer reused too early would show in the hash).
    const accepted = new Promise<net.Socket>((resolve) => {
      const server = net.createServer(resolve)
      void listen(server).then((at) =>
        net.connect(at, '127.0.0.1').on('connect', function (this: net.Socket) {
          slow(this)
        }),
      )
    })
    const received: Buffer[] = []
    let done!: () => void
    const finished = new Promise<void>((resolve) => (done = resolve))
    const slow = (reader: net.Socket): void => {
      reader.pause()
      setTimeout(() => reader.resume(), 300)
      reader.on('data', (c: Buffer) => {
        received.push(c)
        if (received.length % 16 === 0) {
          reader.pause()
          setTimeout(() => reader.resume(), 5)
        }
      })
      reader.on('end', done)
    }
    const to = await accepted
    ;(stream as unknown as {relayTo: (to: net.Socket) => void}).relayTo(to)
    await finished
    const got = Buffer.concat(received)
    expect(got.length).toBe(payload.length)
    expect(sha(got)).toBe(sha(payload))
  })

  it('relays a download that comes in small pieces to a client that stopped reading, and goes on when it reads', async () => {
    // The Pod writes 4 KiB at a time, so the relay's reads are small: once the client's kernel buffers are full, a read
    // queues below the socket's high-water mark, for which Node emits no 'drain' (the relay once waited for one).
    const payload = randomBytes(8 * 1024 * 1024)
    const source = net.createServer((s) => {
      let at = 0
      const next = (): void => {
        if (at >= payload.length) return void s.end()
        s.write(payload.subarray(at, (at += 4096)), () => setImmediate(next))
      }
      next()
    })
    const port = await listen(source)
    const sim = await startSimServer({objects: [pod('trickle')]})
    onTestFinished(() => sim.close())
    const stream = await openPortForward(apiFor(sim.url, sim.kubeconfig()), {
      namespace: 'default',
      pod: 'trickle',
      port,
    })
    const server = net.createServer()
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
    const reader = net.connect(await listen(server), '127.0.0.1')
    reader.pause()
    const got = new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = []
      reader.on('data', (c: Buffer) => chunks.push(c))
      reader.on('end', () => resolve(Buffer.concat(chunks)))
    })
    ;(stream as unknown as {relayTo: (to: net.Socket) => void}).relayTo(await accepted)
    setTimeout(() => reader.resume(), 500)
    const all = await got
    expect(all.length).toBe(payload.length)
    expect(sha(all)).toBe(sha(payload))
  })

  it('relays from a TLS API server too (its reads stay as the TLS socket makes them)', async () => {
    const tls = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url), 'utf8')
    const payload = randomBytes(4 * 1024 * 1024)
    const stream = await forwardDownload(payload, tls)
    const server = net.createServer()
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
    const reader = net.connect(await listen(server), '127.0.0.1')
    const got = new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = []
      reader.on('data', (c: Buffer) => chunks.push(c))
      reader.on('end', () => resolve(Buffer.concat(chunks)))
    })
    ;(stream as unknown as {relayTo: (to: net.Socket) => void}).relayTo(await accepted)
    expect(sha(await got)).toBe(sha(payload))
  })

  it('takes 3 MiB up in writes of every size, masked, and the Pod reads them in order', async () => {
    const payload = randomBytes(3 * 1024 * 1024)
    const received: Buffer[] = []
    let arrived!: () => void
    const done = new Promise<void>((resolve) => (arrived = resolve))
    const sink = net.createServer((s) =>
      s.on('data', (c: Buffer) => {
        received.push(c)
        if (Buffer.concat(received).length >= payload.length) arrived()
      }),
    )
    const port = await listen(sink)
    const sim = await startSimServer({objects: [pod('sink')]})
    onTestFinished(() => sim.close())
    const api = apiFor(sim.url, sim.kubeconfig())
    const stream = await openPortForward(api, {namespace: 'default', pod: 'sink', port})
    onTestFinished(() => void stream.destroy())
    let at = 0
    for (let size = 1; at < payload.length; size = (size * 7 + 3) % 70_000) {
      stream.write(payload.subarray(at, at + size))
      at += size
    }
    await done
    expect(sha(Buffer.concat(received))).toBe(sha(payload))
  })
})

/** An HTTP server whose upgrades a ws server takes; `onSocket` plays the API server on each WebSocket. */
async function peer(
  onSocket: (ws: WebSocket) => void,
  protocols: (offered: Set<string>) => string | false = (o) => [...o][0] ?? false,
): Promise<ApiClient> {
  const server = http.createServer()
  const wss = new WebSocketServer({server, handleProtocols: protocols})
  wss.on('connection', onSocket)
  const port = await listen(server)
  onTestFinished(() => {
    for (const ws of wss.clients) ws.terminate()
    wss.close()
  })
  const url = `http://127.0.0.1:${port}`
  const kubeconfig = [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: p, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]`,
    'users: [{name: u, user: {}}]',
    'contexts: [{name: p, context: {cluster: p, user: u}}]',
    'current-context: p',
  ].join('\n')
  return apiFor(url, kubeconfig)
}

const TARGET = {namespace: 'default', pod: 'pod-a', port: 8080}

/** The port headers a kubelet sends first on both channels. */
function greet(ws: WebSocket): void {
  ws.send(encodePortHeader(0, TARGET.port))
  ws.send(encodePortHeader(1, TARGET.port))
}

describe('the port-forward dialer against a ws server', () => {
  it('answers a ping with a pong carrying the same bytes', async () => {
    let pong: Promise<string> | undefined
    const api = await peer((ws) => {
      greet(ws)
      pong = new Promise((resolve) => ws.on('pong', (data: Buffer) => resolve(data.toString())))
      ws.ping('are you there')
    })
    const stream = await openPortForward(api, TARGET)
    onTestFinished(() => void stream.destroy())
    expect(await pong).toBe('are you there')
  })

  it('ends the stream cleanly on the server’s close, answering with the same code', async () => {
    let closed: Promise<number> | undefined
    const api = await peer((ws) => {
      greet(ws)
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('last words')]))
      closed = new Promise((resolve) => ws.on('close', (code: number) => resolve(code)))
      ws.close(1000)
    })
    const stream = await openPortForward(api, TARGET)
    expect((await readAll(stream)).toString()).toBe('last words')
    expect(await closed).toBe(1000)
  })

  it('reads an error text sent in fragments as one error', async () => {
    const api = await peer((ws) => {
      greet(ws)
      ws.send(Buffer.from([1, ...Buffer.from('dial tcp 10.0.0.1:8080: ')]), {fin: false})
      ws.send(Buffer.from('connection refused'), {fin: true})
    })
    const stream = await openPortForward(api, TARGET)
    const error = await new Promise<Error>((resolve) => stream.on('error', resolve))
    expect(error).toBeInstanceOf(PortForwardError)
    expect(error.message).toBe('port-forward to default/pod-a:8080: dial tcp 10.0.0.1:8080: connection refused')
  })

  it('refuses a server that does not agree to v4.channel.k8s.io', async () => {
    const api = await peer(greet, () => 'v5.channel.k8s.io')
    const error = await openPortForward(api, TARGET).catch((e: unknown) => e)
    expect(error).toMatchObject({reason: 'refused'})
    expect((error as Error).message).toContain('did not agree to v4.channel.k8s.io')
  })

  it('takes a port header split over two messages, with data after it in the second, and skips text messages', async () => {
    const api = await peer((ws) => {
      ws.send(Buffer.from([0, TARGET.port & 0xff]))
      ws.send('a text message is not a channel')
      ws.send(Buffer.from([0, TARGET.port >> 8, ...Buffer.from('after the header')]))
      ws.send(encodePortHeader(1, TARGET.port))
      ws.close(1000)
    })
    const stream = await openPortForward(api, TARGET)
    expect((await readAll(stream)).toString()).toBe('after the header')
  })

  it('refuses a port header that names another port', async () => {
    const api = await peer((ws) => ws.send(encodePortHeader(0, 9999)))
    const error = await openPortForward(api, TARGET).catch((e: unknown) => e)
    expect((error as Error).message).toContain('port header 9999, but 8080 was asked')
  })
})
