import net from 'node:net'

import {describe, expect, it, onTestFinished} from 'vitest'

import {rawTcp, socketFromHandle, type TcpHandle} from '../../src/proxy/raw-tcp.js'
import {canBind} from '../../src/proxy/socket.js'
import {listenTcp, type ConnectionSink, type TcpListener} from '../../src/proxy/tcp-listener.js'
import {halfClosedExchange} from './backends.js'

/** An echo that upper-cases, on a paused, half-open socket as the listener hands them over. */
function echo(socket: net.Socket): void {
  expect(socket.isPaused()).toBe(true)
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => socket.write(chunk.toUpperCase()))
  socket.once('end', () => socket.end())
  socket.resume()
}

/** A listener on port 0 whose connections go to `sink` (by default: each echoed as a socket); closed after the test. */
async function listening(
  options: {address?: string; handles?: boolean; sink?: Partial<ConnectionSink>},
  bindings: typeof rawTcp | null = rawTcp,
): Promise<TcpListener> {
  const sink: ConnectionSink = {accept: echo, acceptFailed: (error) => expect.fail(error.message), ...options.sink}
  const {address = '127.0.0.1', handles} = options
  const listener = await listenTcp({address, port: 0, handles, sink}, bindings)
  onTestFinished(() => listener.close())
  return listener
}

// Both kinds: on Node's handles (what serve runs on here) and on a net.Server (where the bindings are missing).
for (const [kind, bindings] of [
  ['a TCP handle', rawTcp],
  ['a net.Server', null],
] as const) {
  describe(`a TCP listener on ${kind}`, () => {
    it('binds port 0 to a port of its own and hands each connection over as a paused, half-open socket', async () => {
      const listener = await listening({}, bindings)
      expect(listener.bound.address).toBe('127.0.0.1')
      expect(listener.bound.port).toBeGreaterThan(0)
      expect(await halfClosedExchange(listener.bound.port, 'hello')).toBe('HELLO')
      expect(await halfClosedExchange(listener.bound.port, 'again')).toBe('AGAIN')
    })

    it('rejects a port in use with EADDRINUSE and keeps nothing bound', async () => {
      const holder = await listening({}, bindings)
      const {port} = holder.bound
      await expect(
        listenTcp({address: '127.0.0.1', port, sink: {accept: echo, acceptFailed: () => {}}}, bindings),
      ).rejects.toMatchObject({code: 'EADDRINUSE', syscall: 'listen', port})
      await holder.close()
      expect(await canBind('127.0.0.1', port, 'TCP')).toBe(true)
    })

    it('frees its port on close and leaves the connections it accepted open', async () => {
      let accepted: net.Socket | undefined
      const listener = await listening({sink: {accept: (s) => void (accepted = s)}}, bindings)
      const {port} = listener.bound
      const client = net.connect(port, '127.0.0.1')
      await new Promise((resolve) => client.once('connect', resolve))
      await expect.poll(() => accepted).toBeDefined()
      await listener.close()
      expect(await canBind('127.0.0.1', port, 'TCP')).toBe(true)
      const echoed = new Promise<string>((resolve) => client.once('data', (chunk) => resolve(String(chunk))))
      accepted!.resume()
      accepted!.write('still here')
      expect(await echoed).toBe('still here')
      client.destroy()
      accepted!.destroy()
    })

    it('listens on IPv6 loopback too', async () => {
      const listener = await listening({address: '::1'}, bindings)
      expect(listener.bound.address).toBe('::1')
      expect(await halfClosedExchange(listener.bound.port, 'six', '::1')).toBe('SIX')
    })
  })
}

describe('a TCP listener asked for handles', () => {
  it('gives each connection as a TCP handle where the bindings exist, as sockets where they do not', async () => {
    const handles: TcpHandle[] = []
    const acceptHandle = (handle: TcpHandle): void => {
      handles.push(handle)
      echo(socketFromHandle(handle))
    }
    const sink = {acceptHandle, accept: () => expect.fail('a socket, not a handle')}
    const onHandles = await listening({handles: true, sink})
    expect(await halfClosedExchange(onHandles.bound.port, 'raw')).toBe('RAW')
    expect(handles).toHaveLength(1)

    const sockets: net.Socket[] = []
    const accept = (s: net.Socket) => (sockets.push(s), echo(s))
    const fallback = await listening({handles: true, sink: {acceptHandle, accept}}, null)
    expect(await halfClosedExchange(fallback.bound.port, 'plain')).toBe('PLAIN')
    expect(sockets).toHaveLength(1)
    expect(handles).toHaveLength(1)
  })

  it('gives sockets to a sink that takes no handles', async () => {
    const listener = await listening({handles: true})
    expect(await halfClosedExchange(listener.bound.port, 'sockets')).toBe('SOCKETS')
  })

  it('presets TCP_NODELAY on the listening handle for accepted connections (Linux), not on a net.Server', async () => {
    const onHandles = await listening({handles: true, sink: {acceptHandle: (handle) => echo(socketFromHandle(handle))}})
    expect(onHandles.presetAccepted({keepAliveMs: 60_000})).toBe(process.platform === 'linux')
    const fallback = await listening({}, null)
    expect(fallback.presetAccepted({keepAliveMs: 60_000})).toBe(false)
  })
})
