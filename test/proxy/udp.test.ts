import dgram from 'node:dgram'

import {describe, expect, it, onTestFinished} from 'vitest'

import {UdpForwarder} from '../../src/proxy/udp.js'
import type {UdpForwarderOptions} from '../../src/proxy/udp.js'
import {FakeHealth, freeSharedPort, makeTargets, nodes, startUdpNodes, waitFor} from './backends.js'

async function forwarder(options: Omit<UdpForwarderOptions, 'address' | 'port'>): Promise<{
  forwarder: UdpForwarder
  port: number
}> {
  const f = new UdpForwarder({address: '127.0.0.1', port: 0, ...options})
  onTestFinished(() => f.close())
  const {port} = await f.listen()
  return {forwarder: f, port}
}

/** A client socket on its own ephemeral port that collects replies. */
async function client(port: number): Promise<{send: (text: string) => void; replies: string[]}> {
  const socket = dgram.createSocket('udp4')
  onTestFinished(() => new Promise<void>((resolve) => socket.close(() => resolve())))
  const replies: string[] = []
  socket.on('message', (message) => replies.push(message.toString()))
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()))
  return {send: (text) => socket.send(text, port, '127.0.0.1'), replies}
}

describe('UdpForwarder', () => {
  it('forwards datagrams and their replies', async () => {
    const backend = await startUdpNodes(nodes(1, 51))
    const {port} = await forwarder({targets: backend.targets, health: new FakeHealth()})
    const c = await client(port)
    c.send('one')
    c.send('two')
    await waitFor(() => c.replies.length === 2, 'two replies')
    expect(c.replies.sort()).toEqual(['node-a:one', 'node-a:two'])
  })

  it('keeps a session per client, each getting its own replies', async () => {
    const backend = await startUdpNodes(nodes(2, 52))
    const {forwarder: f, port} = await forwarder({targets: backend.targets, health: new FakeHealth()})
    const first = await client(port)
    const second = await client(port)
    first.send('from first')
    await waitFor(() => first.replies.length === 1, 'first reply')
    second.send('from second')
    await waitFor(() => second.replies.length === 1, 'second reply')
    first.send('again')
    await waitFor(() => first.replies.length === 2, 'first again')
    // Round-robin gave each session its own node; a session sticks to its node.
    expect(first.replies).toEqual(['node-a:from first', 'node-a:again'])
    expect(second.replies).toEqual(['node-b:from second'])
    expect(f.sessionCount).toEqual(2)
  })

  it('closes a session after its idle timeout', async () => {
    const backend = await startUdpNodes(nodes(1, 54))
    const {forwarder: f, port} = await forwarder({
      targets: backend.targets,
      health: new FakeHealth(),
      idleTimeoutMs: 50,
    })
    const c = await client(port)
    c.send('hello')
    await waitFor(() => c.replies.length === 1, 'reply')
    await waitFor(() => f.sessionCount === 0, 'session expired')
    c.send('hello again')
    await waitFor(() => c.replies.length === 2, 'a new session answers')
  })

  it('drops new clients while the session table is full', async () => {
    const backend = await startUdpNodes(nodes(1, 55))
    const lines: string[] = []
    const {forwarder: f, port} = await forwarder({
      targets: backend.targets,
      health: new FakeHealth(),
      maxSessions: 1,
      // Long enough that the first session is surely still there when the second client arrives.
      idleTimeoutMs: 1000,
      log: (line) => lines.push(line),
    })
    const first = await client(port)
    const second = await client(port)
    first.send('in')
    await waitFor(() => first.replies.length === 1, 'first served')
    second.send('dropped')
    await waitFor(() => lines.some((line) => line.includes('session table full')), 'drop logged')
    expect(second.replies).toEqual([])
    expect(f.sessionCount).toEqual(1)

    // Once the first session idles out there is room again.
    await waitFor(() => f.sessionCount === 0, 'first session expired')
    second.send('now')
    await waitFor(() => second.replies.length === 1, 'second served')
    expect(second.replies).toEqual(['node-a:now'])
  })

  it('drops datagrams when no target is healthy', async () => {
    const backend = await startUdpNodes(nodes(1, 56))
    const health = new FakeHealth()
    health.down.add(backend.targets[0]!.address)
    const lines: string[] = []
    const {forwarder: f, port} = await forwarder({
      targets: backend.targets,
      health,
      verbose: true,
      log: (line) => lines.push(line),
    })
    const c = await client(port)
    c.send('nobody home')
    await waitFor(() => lines.some((line) => line.includes('no healthy target')), 'drop logged')
    expect(f.sessionCount).toEqual(0)
    expect(c.replies).toEqual([])
  })

  it('reports a node that refuses datagrams and ends the session', async () => {
    const specs = nodes(1, 57)
    const deadPort = await freeSharedPort(specs.map((s) => s.address))
    const health = new FakeHealth()
    const targets = makeTargets(specs, deadPort)
    const {port} = await forwarder({targets, health})
    const c = await client(port)
    // ICMP port-unreachable comes back for a datagram; keep sending until the session notices.
    await waitFor(() => {
      c.send('anyone?')
      return health.reported.length > 0
    }, 'refusal reported')
    expect(health.reported[0]).toEqual(targets[0])
  })
})
