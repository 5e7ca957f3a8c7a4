import dgram from 'node:dgram'
import net from 'node:net'

import {describe, expect, it, onTestFinished} from 'vitest'

import {ListenerSet} from '../../src/proxy/listeners.js'
import type {ForwardListener} from '../../src/serve/types.js'
import {FakeHealth, freeSharedPort, nodes, startTcpNodes, startUdpNodes, waitFor} from './backends.js'

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
})
