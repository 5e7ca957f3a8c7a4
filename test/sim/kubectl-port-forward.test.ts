// The real `kubectl port-forward` (1.32) against the simulator: it asks for SPDY tunnelled through a WebSocket,
// falls back to the plain SPDY/3.1 upgrade, and carries TCP to the Pod the Service selects.
import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it, onTestFinished} from 'vitest'
import {startSimServer, type KubeObject, type SimServer} from '../../src/sim/api-server.js'

/** A TCP server that greets with `hello from <name>` and then echoes, ending when the client does. */
async function echoServer(name: string): Promise<number> {
  const server = net.createServer({allowHalfOpen: true}, (s) => {
    s.on('error', () => s.destroy())
    s.write(`hello from ${name}\n`)
    s.pipe(s)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => void server.close())
  return (server.address() as net.AddressInfo).port
}

function objects(port: number): KubeObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {name: 'echo-0', namespace: 'apps', uid: 'uid-echo-0', labels: {app: 'echo'}},
      spec: {containers: [{name: 'echo', image: 'echo', ports: [{name: 'echo', containerPort: port}]}]},
      status: {phase: 'Running', podIP: '127.0.0.1'},
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {name: 'echo', namespace: 'apps'},
      spec: {
        type: 'ClusterIP',
        clusterIP: '10.43.0.9',
        selector: {app: 'echo'},
        ports: [{port: 7000, targetPort: 'echo'}],
      },
    },
  ] as KubeObject[]
}

/** Starts `kubectl port-forward` and resolves with the local port it prints. */
async function portForward(sim: SimServer, target: string, remote: string): Promise<{port: number; log: () => string}> {
  const dir = mkdtempSync(join(tmpdir(), 'expose-lb-pf-'))
  onTestFinished(() => rmSync(dir, {recursive: true, force: true}))
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, sim.kubeconfig())
  const child = spawn(
    'kubectl',
    ['--kubeconfig', kubeconfig, '-n', 'apps', 'port-forward', target, `:${remote}`, '-v=6'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  onTestFinished(() => void child.kill())
  let log = ''
  child.stderr.on('data', (d: Buffer) => (log += d.toString()))
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const m = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(d.toString())
      if (m) resolve(Number(m[1]))
    })
    child.on('exit', (code) => reject(new Error(`kubectl exited with ${code}: ${log}`)))
  })
  return {port, log: () => log}
}

/** Sends `payload`, half-closes, and returns everything received until the other side ends. */
function exchange(port: number, payload: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({port, host: '127.0.0.1', allowHalfOpen: true})
    const chunks: Buffer[] = []
    socket.on('connect', () => socket.end(payload))
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('end', () => resolve(Buffer.concat(chunks)))
    socket.on('error', reject)
  })
}

describe('kubectl port-forward against the simulator', () => {
  it('reaches the Pod behind svc/NAME through SPDY, half-close and 4 MiB included', async () => {
    const podPort = await echoServer('echo-0')
    const sim = await startSimServer({objects: objects(podPort)})
    onTestFinished(() => sim.close())
    const pf = await portForward(sim, 'svc/echo', '7000')
    expect((await exchange(pf.port, 'ping\n')).toString()).toBe('hello from echo-0\nping\n')
    const big = Buffer.alloc(4 * 1024 * 1024, 'x')
    const reply = await exchange(pf.port, big)
    expect(reply.length).toBe('hello from echo-0\n'.length + big.length)
    // What kubectl did: the WebSocket-tunnelled SPDY was refused, the plain upgrade taken.
    expect(pf.log()).toContain('fallback to secondary dialer')
    expect(sim.requests.filter((r) => r.path.endsWith('/portforward')).map((r) => [r.method, r.status])).toEqual([
      ['GET', 400],
      ['POST', 101],
    ])
  })

  it('reports a Pod port nothing listens on through the error stream', async () => {
    const podPort = await echoServer('gone')
    const free = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const {port} = probe.address() as net.AddressInfo
        probe.close(() => resolve(port))
      })
    })
    const sim = await startSimServer({objects: objects(podPort)})
    onTestFinished(() => sim.close())
    const pf = await portForward(sim, 'pod/echo-0', String(free))
    expect((await exchange(pf.port, 'x')).length).toBe(0)
    await expect.poll(pf.log, {timeout: 5000}).toContain(`error forwarding port ${free} to pod echo-0, uid uid-echo-0`)
  })
})
