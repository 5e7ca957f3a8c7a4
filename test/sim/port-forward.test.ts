// The simulator's pods/portforward against real clients: client-node's PortForward, the project's dialer, and a
// raw WebSocket that checks the channel protocol byte by byte.
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough, type Duplex} from 'node:stream'
import {KubeConfig, PortForward} from '@kubernetes/client-node'
import WebSocket, * as wsModule from 'ws'
import {describe, expect, it, onTestFinished} from 'vitest'
import {ApiClient} from '../../src/kube/client.js'
import {openPortForward, PortForwardError} from '../../src/kube/port-forward.js'
import {startSimServer, type KubeObject, type SimServer, type SimServerOptions} from '../../src/sim/api-server.js'
import {encodeServerFrame} from '../../src/sim/port-forward.js'

/** A TCP server that greets with `hello from <name>` and then echoes. */
async function echoServer(name: string, host = '127.0.0.1'): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => s.destroy())
    s.write(`hello from ${name}\n`)
    s.pipe(s)
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  onTestFinished(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return (server.address() as net.AddressInfo).port
}

function pod(name: string, podIP: string, phase = 'Running'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, namespace: 'default', uid: `uid-${name}`, labels: {app: 'echo'}},
    spec: {nodeName: 'node-a', containers: [{name: 'echo', image: 'echo'}]},
    status: {phase, podIP},
  } as KubeObject
}

async function sim(opts: SimServerOptions): Promise<SimServer> {
  const s = await startSimServer(opts)
  onTestFinished(() => s.close())
  return s
}

function clientFor(s: SimServer, token?: string): {kc: KubeConfig; api: ApiClient} {
  const kc = new KubeConfig()
  kc.loadFromString(s.kubeconfig({token}))
  return {kc, api: new ApiClient(kc, 'sim', s.url)}
}

/** Reads from `stream` until `text` has arrived; resolves with everything read. */
function readUntil(stream: NodeJS.ReadableStream, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = ''
    const onData = (chunk: Buffer) => {
      got += chunk.toString()
      if (got.includes(text)) {
        stream.off('data', onData)
        resolve(got)
      }
    }
    stream.on('data', onData)
    stream.on('error', reject)
  })
}

describe('the simulated pods/portforward', () => {
  it('carries a stream for client-node PortForward to the Pod and back', async () => {
    const port = await echoServer('pod-a')
    const s = await sim({objects: [pod('pod-a', '127.0.0.1')]})
    const {kc} = clientFor(s)
    const output = new PassThrough()
    const input = new PassThrough()
    const ws = (await new PortForward(kc).portForward('default', 'pod-a', [port], output, null, input)) as WebSocket
    onTestFinished(() => ws.close())
    expect(await readUntil(output, 'hello from pod-a\n')).toBe('hello from pod-a\n')
    input.write('ping\n')
    expect(await readUntil(output, 'ping\n')).toContain('ping\n')
    expect(s.portForwards()).toBe(1)
  })

  it('sends each channel its port header first, little endian, under v4.channel.k8s.io', async () => {
    const port = await echoServer('pod-a')
    const s = await sim({objects: [pod('pod-a', '127.0.0.1')]})
    const ws = new WebSocket(
      `${s.url.replace('http', 'ws')}/api/v1/namespaces/default/pods/pod-a/portforward?ports=${port}`,
      ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
    )
    onTestFinished(() => ws.terminate())
    const messages: Buffer[] = []
    await new Promise<void>((resolve) =>
      ws.on('message', (m: Buffer) => {
        messages.push(m)
        if (messages.length === 3) resolve()
      }),
    )
    expect(ws.protocol).toBe('v4.channel.k8s.io')
    const header = Buffer.alloc(2)
    header.writeUInt16LE(port)
    expect(messages.map((m) => m.toString('hex'))).toEqual([
      `00${header.toString('hex')}`,
      `01${header.toString('hex')}`,
      `00${Buffer.from('hello from pod-a\n').toString('hex')}`,
    ])
  })

  it('gives the project dialer a Duplex to the Pod', async () => {
    const port = await echoServer('pod-a')
    const s = await sim({objects: [pod('pod-a', '127.0.0.1')]})
    const stream = await openPortForward(clientFor(s).api, {namespace: 'default', pod: 'pod-a', port})
    onTestFinished(() => void stream.destroy())
    expect(await readUntil(stream, 'hello from pod-a\n')).toBe('hello from pod-a\n')
    stream.write('x'.repeat(300_000))
    const echoed = await readUntil(stream, 'x'.repeat(300_000))
    expect(echoed.length).toBe(300_000)
  })

  it.each([
    ['a Pod that does not exist', [] as KubeObject[], 'gone', 404, 'pods "pod-a" not found'],
    ['a Pod that is not running', [pod('pod-a', '127.0.0.1', 'Pending')], 'gone', 400, 'pod pod-a is not running'],
  ])('refuses %s before the stream opens', async (_case, objects, reason, status, words) => {
    const s = await sim({objects})
    const error = await openPortForward(clientFor(s).api, {namespace: 'default', pod: 'pod-a', port: 80}).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(PortForwardError)
    expect(error).toMatchObject({reason, status})
    expect((error as Error).message).toContain(words)
  })

  it('answers 403 naming create pods/portforward to a user without it', async () => {
    const s = await sim({
      objects: [pod('pod-a', '127.0.0.1')],
      tokens: {t: 'alice'},
      rbac: {alice: [{apiGroups: [''], resources: ['pods'], verbs: ['get', 'list']}]},
    })
    const error = await openPortForward(clientFor(s, 't').api, {namespace: 'default', pod: 'pod-a', port: 80}).catch(
      (e: unknown) => e,
    )
    expect(error).toMatchObject({reason: 'forbidden', status: 403})
    expect((error as Error).message).toContain(
      'pods "pod-a" is forbidden: User "alice" cannot create resource "pods/portforward" in API group "" in the namespace "default"',
    )
  })

  it('reports a refused Pod port on the error channel, then closes', async () => {
    const s = await sim({objects: [pod('pod-a', '127.0.0.1')]})
    // A port nothing listens on any more.
    const free = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const {port} = probe.address() as net.AddressInfo
        probe.close(() => resolve(port))
      })
    })
    const stream = await openPortForward(clientFor(s).api, {namespace: 'default', pod: 'pod-a', port: free})
    const error = await new Promise<Error>((resolve) => stream.on('error', resolve))
    expect(error.message).toContain(`error forwarding port ${free} to pod pod-a, uid uid-pod-a`)
    expect(error.message).toContain('ECONNREFUSED')
  })

  it('ends open streams cleanly when the API server drops them', async () => {
    const port = await echoServer('pod-a')
    const s = await sim({objects: [pod('pod-a', '127.0.0.1')]})
    const stream: Duplex = await openPortForward(clientFor(s).api, {namespace: 'default', pod: 'pod-a', port})
    await readUntil(stream, 'hello')
    const ended = new Promise<string>((resolve) => {
      stream.on('end', () => resolve('end'))
      stream.on('error', (e) => resolve(`error ${e.message}`))
    })
    s.dropPortForwards()
    expect(await ended).toBe('end')
  })
})

describe('an API server restarting under a port-forward stream', () => {
  it('ends the stream cleanly, and the next stream opens on the restarted server', async () => {
    const port = await echoServer('pod-a')
    const first = await startSimServer({objects: [pod('pod-a', '127.0.0.1')]})
    const {api} = clientFor(first)
    const stream = await openPortForward(api, {namespace: 'default', pod: 'pod-a', port})
    await readUntil(stream, 'hello')
    const ended = new Promise<string>((resolve) => {
      stream.on('end', () => resolve('end'))
      stream.on('error', (e) => resolve(`error ${e.message}`))
    })
    await first.close()
    expect(await ended).toBe('end')
    // The same address again, as a restarted API server; the client keeps its kubeconfig.
    const again = await sim({objects: [pod('pod-a', '127.0.0.1')], port: Number(new URL(first.url).port)})
    expect(again.url).toBe(first.url)
    const next = await openPortForward(api, {namespace: 'default', pod: 'pod-a', port})
    onTestFinished(() => void next.destroy())
    expect(await readUntil(next, 'hello from pod-a\n')).toBe('hello from pod-a\n')
  })
})

describe('the dialer against a TLS API server with a bearer token', () => {
  it('verifies the server against the kubeconfig CA and sends the token', async () => {
    const tls = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url), 'utf8')
    const port = await echoServer('pod-a')
    const s = await sim({
      objects: [pod('pod-a', '127.0.0.1')],
      tls: {cert: tls('server.crt'), key: tls('server.key')},
      tokens: {'secret-token': 'alice'},
      rbac: {alice: [{apiGroups: [''], resources: ['pods/portforward'], verbs: ['create']}]},
    })
    const kc = new KubeConfig()
    kc.loadFromString(s.kubeconfig({token: 'secret-token', caPem: tls('ca.crt')}))
    const stream = await openPortForward(new ApiClient(kc, 'sim', s.url), {namespace: 'default', pod: 'pod-a', port})
    onTestFinished(() => void stream.destroy())
    expect(await readUntil(stream, 'hello from pod-a\n')).toBe('hello from pod-a\n')
    expect(s.requests.filter((r) => r.path.endsWith('/portforward'))).toEqual([
      {method: 'GET', path: '/api/v1/namespaces/default/pods/pod-a/portforward', user: 'alice', status: 101},
    ])
  })
})

describe('the simulated pods/portforward under the real kubectl (SPDY)', () => {
  it("stops reading the Pod while kubectl's client does not read, and brings everything once it does", async () => {
    // A real API server's writes block when kubectl stops reading; the simulator once read the Pod on regardless and
    // queued it all in memory. The Pod offers more than the sockets between it and the client can hold, so a Pod
    // that handed over everything was read on regardless: a fixed 32 MiB was taken in whole by a fresh clone's run
    // on a host whose receive buffers grow to 32 MiB.
    const total = socketRoom() + 32 * 1024 * 1024
    const piece = Buffer.alloc(1024 * 1024, 7)
    let handedOver = 0 // bytes of the Pod's writes the kernel took, whole writes only
    const source = net.createServer((s) => {
      s.on('error', () => s.destroy())
      for (let at = 0; at < total; at += piece.length) s.write(piece, () => (handedOver += piece.length))
      s.end()
    })
    await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => void source.close())
    const s = await sim({objects: [pod('source', '127.0.0.1')]})
    const dir = mkdtempSync(join(tmpdir(), 'expose-lb-spdy-'))
    onTestFinished(() => rmSync(dir, {recursive: true, force: true}))
    writeFileSync(join(dir, 'kubeconfig'), s.kubeconfig())
    const port = (source.address() as net.AddressInfo).port
    const kubectl = spawn('kubectl', [
      '--kubeconfig',
      join(dir, 'kubeconfig'),
      'port-forward',
      'pod/source',
      `:${port}`,
    ])
    onTestFinished(() => void kubectl.kill())
    const local = Number(/127\.0\.0\.1:(\d+)/.exec(await readUntil(kubectl.stdout, ' -> '))![1])
    const client = net.connect(local, '127.0.0.1')
    onTestFinished(() => void client.destroy())
    client.pause()
    // Until the Pod's writes stop moving: only what the buffers on the way hold has left it.
    let seen = -1
    while (seen !== handedOver) {
      seen = handedOver
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
    expect(handedOver).toBeLessThan(total)
    let received = 0
    const all = new Promise<void>((resolve) =>
      client.on('data', (c: Buffer) => {
        received += c.length
        if (received >= total) resolve()
      }),
    )
    client.resume()
    await all
    expect(received).toBe(total)
  })
})

/**
 * What the three connections from a Pod through the simulator and kubectl to a client that does not read can hold at
 * most: a send and a receive buffer each, at the sizes Linux lets them grow to (net.ipv4.tcp_wmem, tcp_rmem), plus
 * 16 MiB for what the processes on the way keep; 32 MiB for a buffer where those are not readable.
 */
function socketRoom(): number {
  const largest = (name: string) => {
    try {
      return Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[2])
    } catch {
      return 32 * 1024 * 1024
    }
  }
  return 3 * (largest('tcp_rmem') + largest('tcp_wmem')) + 16 * 1024 * 1024
}

describe('encodeServerFrame', () => {
  // ws exports its Receiver (node_modules/ws/wrapper.mjs), but @types/ws does not declare it.
  const {Receiver} = wsModule as unknown as {
    Receiver: new (options: {isServer: boolean; binaryType: string}) => NodeJS.WritableStream & NodeJS.EventEmitter
  }

  it.each([0, 124, 125, 65_534, 65_535, 70_000])('writes a %i-byte chunk as ws reads one binary message', (n) => {
    const data = Buffer.alloc(n, 0xab)
    const receiver = new Receiver({isServer: false, binaryType: 'nodebuffer'})
    const got: Array<{data: Buffer; binary: boolean}> = []
    receiver.on('message', (m: Buffer, binary: boolean) => got.push({data: Buffer.from(m), binary}))
    receiver.on('error', (e: Error) => got.push({data: Buffer.from(e.message), binary: false}))
    receiver.write(encodeServerFrame(2, data))
    expect(got).toHaveLength(1)
    expect(got[0]!.binary).toBe(true)
    expect(got[0]!.data.equals(Buffer.concat([Buffer.from([2]), data]))).toBe(true)
  })
})
