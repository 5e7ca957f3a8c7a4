import {readFileSync} from 'node:fs'
import net from 'node:net'

import {describe, expect, it, onTestFinished} from 'vitest'

import {connectFirstRaw, peerOf, RawRelay, rawTcp, socketFromHandle, type TcpHandle} from '../../src/proxy/raw-tcp.js'
import {listenTcp, type TcpListener} from '../../src/proxy/tcp-listener.js'
import {importLine, snippet} from '../run-snippet.js'
import {waitFor} from './backends.js'

/**
 * Whether the kernel runs a keep-alive timer for the IPv4 connection from `local` to `remotePort`: /proc/net/tcp's
 * "tr" column is 2 when the socket's sk_timer, its keep-alive timer, is pending (Linux
 * Documentation/networking/proc_net_tcp.rst; net/ipv4/tcp_ipv4.c get_tcp4_sock).
 */
function keepAliveTimer(local: {address: string; port: number}, remotePort: number): boolean {
  const hex = (n: number, width: number): string => n.toString(16).toUpperCase().padStart(width, '0')
  const address = local.address.split('.').map(Number).reverse()
  const localField = `${address.map((byte) => hex(byte, 2)).join('')}:${hex(local.port, 4)}`
  const row = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[1] === localField && fields[2]?.endsWith(`:${hex(remotePort, 4)}`))
  if (!row) throw new Error(`no /proc/net/tcp row for ${localField} from port ${remotePort}`)
  return row[5]!.startsWith('02:')
}

/** A listening handle (tcp-listener.ts) whose connections go to `onHandle` as TCP handles; closed after the test. */
async function listenOnHandles(address: string, onHandle: (handle: TcpHandle) => void): Promise<TcpListener> {
  const listener = await listenTcp({
    address,
    port: 0,
    handles: true,
    sink: {
      acceptHandle: onHandle,
      accept: () => {
        throw new Error('every connection comes as a handle')
      },
      acceptFailed: (error) => {
        throw error
      },
    },
  })
  onTestFinished(() => listener.close())
  return listener
}

describe('raw-tcp', () => {
  it("finds Node's TCP handles on this Node (20, 22 and 24 all have them: the relays run on them)", () => {
    expect(rawTcp).toBeDefined()
  })

  it('gives an accepted handle its peer, and socketFromHandle makes a working socket of it', async () => {
    const handles: TcpHandle[] = []
    const {port} = (await listenOnHandles('127.0.10.120', (handle) => handles.push(handle))).bound
    const client = net.connect({host: '127.0.10.120', port})
    onTestFinished(() => void client.destroy())
    await waitFor(() => handles.length === 1, 'the accept')
    if (client.connecting) await new Promise((connected) => client.once('connect', connected))
    expect(peerOf(handles[0]!)).toEqual({address: '127.0.0.1', port: client.localPort, family: 'IPv4'})
    const socket = socketFromHandle(handles[0]!)
    onTestFinished(() => void socket.destroy())
    socket.on('data', (chunk: Buffer) => socket.write(`echo:${chunk.toString()}`))
    socket.resume()
    let answer = ''
    client.on('data', (chunk: Buffer) => (answer += chunk.toString()))
    client.write('hi')
    await waitFor(() => answer === 'echo:hi', 'the echo through the socket made of the handle')
  })

  it('gives accepted connections keep-alive from the listening socket (TcpListener.presetAccepted, Linux)', async () => {
    const accepted: TcpHandle[] = []
    const listen = async (preset: boolean): Promise<number> => {
      const listener = await listenOnHandles('127.0.10.121', (handle) => accepted.push(handle))
      if (preset) expect(listener.presetAccepted({keepAliveMs: 60_000})).toBe(true)
      return listener.bound.port
    }
    const timers: boolean[] = []
    for (const preset of [false, true]) {
      const port = await listen(preset)
      const client = net.connect({host: '127.0.10.121', port})
      onTestFinished(() => void client.destroy())
      await waitFor(() => accepted.length === timers.length + 1, 'the accept')
      timers.push(keepAliveTimer({address: '127.0.10.121', port}, client.localPort!))
    }
    for (const handle of accepted) handle.close()
    expect(timers).toEqual([false, true])
  })

  it('relays a connection made by connectFirstRaw, and gives the node its keep-alive once the relay is a second old', async () => {
    const nodeSockets: net.Socket[] = []
    const node = net.createServer((socket) => {
      nodeSockets.push(socket)
      socket.on('data', (chunk: Buffer) => socket.write(`node:${chunk.toString()}`))
    })
    onTestFinished(() => {
      for (const socket of nodeSockets) socket.destroy()
      node.close()
    })
    await new Promise<void>((done) => node.listen(0, '127.0.10.122', done))
    const nodePort = (node.address() as net.AddressInfo).port
    const relays: RawRelay[] = []
    onTestFinished(() => relays.forEach((relay) => relay.cut()))
    const proxy = await listenOnHandles('127.0.10.123', (client) =>
      connectFirstRaw([{node: 'n', address: '127.0.10.122', port: nodePort}], {
        timeoutMs: 5000,
        connected: ({handle}) =>
          void relays.push(new RawRelay(client, handle!, {idleTimeoutMs: 0, keepAliveMs: 60_000, onClose: () => {}})),
      }),
    )
    const client = net.connect({host: '127.0.10.123', port: proxy.bound.port})
    onTestFinished(() => void client.destroy())
    let answer = ''
    client.on('data', (chunk: Buffer) => (answer += chunk.toString()))
    client.write('hi')
    await waitFor(() => answer === 'node:hi', 'the answer through the relay')
    const nodeSide = nodeSockets[0]!
    await waitFor(
      () => keepAliveTimer({address: nodeSide.remoteAddress!, port: nodeSide.remotePort!}, nodePort),
      "the keep-alive timer of the relay's connection to the node",
    )
  })

  it('is not used when the user asked Node to warn about pending deprecations (process.binding is one)', async () => {
    const run = snippet(importLine('rawTcp', 'src/proxy/raw-tcp.ts') + "console.log(rawTcp ? 'handles' : 'sockets')\n")
    const plain = await run()
    expect(plain.stdout.trim()).toBe('handles')
    const flagged = await run(['--pending-deprecation'])
    expect(flagged.stdout.trim()).toBe('sockets')
    expect(flagged.stderr).not.toContain('DEP0111')
    const viaEnv = await run([], {...process.env, NODE_OPTIONS: '--pending-deprecation'})
    expect(viaEnv.stdout.trim()).toBe('sockets')
    expect(viaEnv.stderr).not.toContain('DEP0111')
  })
})
