// Tunnel gateways over real loopback sockets, with a dialer that hands out in-memory streams (or fails as the API
// server would), so retries, RBAC refusals and endpoint churn are seen from a real client.
import net from 'node:net'
import {Duplex, PassThrough} from 'node:stream'
import {describe, expect, it, onTestFinished} from 'vitest'
import {TcpForwarder} from '../../src/proxy/tcp.js'
import {TunnelGateways, type TunnelDial} from '../../src/proxy/tunnels.js'
import type {TunnelRoute} from '../../src/servemap/types.js'
import {FakeHealth} from './backends.js'

/** A fake Pod stream: greets with the Pod's name, echoes what it gets. */
function podStream(pod: string): Duplex {
  const toPod = new PassThrough()
  const fromPod = new PassThrough()
  fromPod.write(`${pod}\n`)
  toPod.pipe(fromPod)
  return Duplex.from({writable: toPod, readable: fromPod})
}

function failure(reason: string, message: string): Error {
  return Object.assign(new Error(message), {reason})
}

const route = (pods: string[], mode: 'http' | 'tcp' = 'tcp'): TunnelRoute => ({
  key: 'apps/echo:80/TCP',
  service: 'apps/echo',
  namespace: 'apps',
  endpoints: pods.map((pod) => ({pod, port: 8080})),
  mode,
})

/** A route of its own Service `apps/<name>`, to Pods `<name>-1` unless given. */
const named = (name: string, pods = [`${name}-1`]): TunnelRoute => ({
  ...route(pods),
  key: `apps/${name}:80/TCP`,
  service: `apps/${name}`,
})

async function gateways(dial: TunnelDial, onForbidden?: (r: TunnelRoute, e: Error) => void) {
  const log: string[] = []
  const g = new TunnelGateways({dial, log: (line) => log.push(line), onForbidden})
  onTestFinished(() => g.close())
  return {g, log}
}

/** Connects, sends `payload`, and collects what comes back until the gateway closes or `until` arrives. */
function talk(port: number, payload: string, until?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let got = ''
    socket.on('connect', () => socket.write(payload))
    socket.on('data', (d: Buffer) => {
      got += d.toString()
      if (until && got.includes(until)) {
        socket.destroy()
        resolve(got)
      }
    })
    socket.on('close', () => resolve(got))
    socket.on('error', () => {})
  })
}

describe('TunnelGateways', () => {
  it('spreads connections over the Pods and tries the next Pod when a stream does not open', async () => {
    const dialed: string[] = []
    const {g, log} = await gateways(async ({pod}) => {
      dialed.push(pod)
      if (pod === 'echo-a') throw failure('gone', 'port-forward to apps/echo-a:8080: 404 pods "echo-a" not found')
      return podStream(pod)
    })
    const at = (await g.apply([route(['echo-a', 'echo-b'])])).get('apps/echo:80/TCP')!
    expect(await talk(at.port, 'one\n', 'one\n')).toBe('echo-b\none\n')
    expect(await talk(at.port, 'two\n', 'two\n')).toBe('echo-b\ntwo\n')
    expect(dialed).toEqual(['echo-a', 'echo-b', 'echo-b'])
    expect(log).toEqual([
      'tunnel: apps/echo: port-forward to apps/echo-a:8080: 404 pods "echo-a" not found; trying the next Pod',
    ])
  })

  it('stops at an RBAC refusal, reports it, and answers an HTTP port with a 502 saying why', async () => {
    const forbidden: string[] = []
    const {g} = await gateways(
      async () => {
        throw failure('forbidden', 'port-forward to apps/echo-a:8080: 403 cannot create resource "pods/portforward"')
      },
      (r, e) => forbidden.push(`${r.service}: ${e.message}`),
    )
    const at = (await g.apply([route(['echo-a', 'echo-b'], 'http')])).get('apps/echo:80/TCP')!
    const answer = await talk(at.port, 'GET / HTTP/1.1\r\nHost: echo\r\n\r\n')
    expect(answer).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/)
    expect(answer).toContain(
      'bad gateway: apps/echo: not reachable through the API server: port-forward to apps/echo-a',
    )
    expect(forbidden).toEqual([
      'apps/echo: port-forward to apps/echo-a:8080: 403 cannot create resource "pods/portforward"',
    ])
  })

  it('closes the streams of a Pod that leaves the endpoints and keeps the others', async () => {
    const {g} = await gateways(async ({pod}) => podStream(pod))
    const at = (await g.apply([route(['echo-a'])])).get('apps/echo:80/TCP')!
    const socket = net.connect(at.port, '127.0.0.1')
    await new Promise((resolve) => socket.once('data', resolve))
    const closed = new Promise((resolve) => socket.once('close', resolve))
    const same = (await g.apply([route(['echo-b'])])).get('apps/echo:80/TCP')!
    expect(same).toEqual(at) // the gateway stays where it is
    await closed
    expect(await talk(at.port, 'x\n', 'x\n')).toBe('echo-b\nx\n')
  })
})

describe('a per-service listener whose target is a gateway of the same process', () => {
  it('hands its clients to the gateway in-process: no loopback connection to the gateway, bytes both ways', async () => {
    const {g} = await gateways(async ({pod}) => podStream(pod))
    const at = (await g.apply([route(['echo-a'])])).get('apps/echo:80/TCP')!
    const target = {node: 'api-server', address: at.address, port: at.port, via: 'api-server' as const}
    const listener = new TcpForwarder({address: '127.0.0.1', port: 0, targets: [target], health: new FakeHealth()})
    onTestFinished(() => listener.close(0))
    const {port} = await listener.listen()
    // A loopback connection to the gateway would come to it on the gateway's own port: count them.
    let accepted = 0
    const gateway = (g as unknown as {gateways: Map<string, {take(client: net.Socket): void}>}).gateways.get(
      route([]).key,
    )!
    const take = gateway.take.bind(gateway)
    let taken = 0
    gateway.take = (client) => {
      taken++
      if (client.localPort === at.port) accepted++
      take(client)
    }
    const big = 'x'.repeat(200_000)
    expect(await talk(port, `${big}\n`, `${big}\n`)).toBe(`echo-a\n${big}\n`)
    expect(await talk(port, 'two\n', 'two\n')).toBe('echo-a\ntwo\n')
    expect(taken).toBe(2)
    expect(accepted).toBe(0)
    expect(listener.connectionCount).toBeLessThanOrEqual(2)
  })

  it('follows routes that came and went between applies, and a new route object for a kept key updates its gateway', async () => {
    const {g} = await gateways(async ({pod}) => podStream(pod))
    const [a, b, c] = [named('a'), named('b'), named('c')]
    const first = new Map(await g.apply([a, b, c]))
    // Sorted: gateways opened in one apply join the map in the order their binds finish (a fresh clone's run once
    // had b, c, a).
    expect([...first.keys()].sort()).toEqual(['apps/a:80/TCP', 'apps/b:80/TCP', 'apps/c:80/TCP'])
    // b goes, d comes, c's Pods change (a new route object, the same key); a and the old c object are kept as they were.
    const d = named('d')
    const c2 = named('c', ['c-2'])
    const second = await g.apply([a, c2, d])
    expect([...second.keys()].sort()).toEqual(['apps/a:80/TCP', 'apps/c:80/TCP', 'apps/d:80/TCP'])
    expect(second.get('apps/a:80/TCP')).toEqual(first.get('apps/a:80/TCP'))
    expect(second.get('apps/c:80/TCP')).toEqual(first.get('apps/c:80/TCP'))
    expect(await talk(second.get('apps/c:80/TCP')!.port, 'hi\n', 'hi\n')).toBe('c-2\nhi\n')
    expect(await talk(second.get('apps/d:80/TCP')!.port, 'hi\n', 'hi\n')).toBe('d-1\nhi\n')
    expect(await talk(first.get('apps/b:80/TCP')!.port, 'hi\n')).toBe('') // closed: refused
    // Past listChanges' limit (256 routes that came or went) the lists are compared whole.
    const many = Array.from({length: 300}, (_, i) => named(`m${i}`))
    expect((await g.apply([a, ...many])).size).toBe(301)
    const last = await g.apply([many[7]!])
    expect([...last.keys()]).toEqual(['apps/m7:80/TCP'])
    expect(await talk(first.get('apps/a:80/TCP')!.port, 'hi\n')).toBe('')
    expect(await talk(last.get('apps/m7:80/TCP')!.port, 'hi\n', 'hi\n')).toBe('m7-1\nhi\n')
  })

  it('after an apply that failed, compares every route again: a gateway it opened for a route gone since closes', async () => {
    // The second port asked for fails (a gateway whose open fails rejects apply); every other lets the system pick.
    let asked = 0
    const g = new TunnelGateways({
      dial: async ({pod}) => podStream(pod),
      log: () => {},
      nextPort: () => {
        if (++asked === 2) throw new Error('no port for this gateway')
        return 0
      },
    })
    onTestFinished(() => g.close())
    const [a, b, c] = [named('a'), named('b'), named('c')]
    await g.apply([a])
    await expect(g.apply([a, b, c])).rejects.toThrow('no port for this gateway') // b failed, c opened
    const cAt = [...(await g.apply([a, c])).entries()]
    expect(cAt.map(([key]) => key)).toEqual(['apps/a:80/TCP', 'apps/c:80/TCP'])
    const cPort = cAt[1]![1].port
    expect(await talk(cPort, 'hi\n', 'hi\n')).toBe('c-1\nhi\n')
    asked = 1 // the next port asked for fails again
    await expect(g.apply([a, c, named('d')])).rejects.toThrow('no port for this gateway')
    const after = await g.apply([a])
    expect([...after.keys()]).toEqual(['apps/a:80/TCP'])
    expect(await talk(cPort, 'hi\n')).toBe('') // c's gateway closed, though the failed apply still listed c
  })

  it('connects over loopback as before once the gateway is gone (a target of another process)', async () => {
    const {g} = await gateways(async ({pod}) => podStream(pod))
    const at = (await g.apply([route(['echo-a'])])).get('apps/echo:80/TCP')!
    await g.apply([]) // the gateway closes; something else listens at its address now
    const other = net.createServer((s) => s.end('someone else\n'))
    await new Promise<void>((resolve) => other.listen(at.port, at.address, resolve))
    onTestFinished(() => void other.close())
    const target = {node: 'api-server', address: at.address, port: at.port, via: 'api-server' as const}
    const listener = new TcpForwarder({address: '127.0.0.1', port: 0, targets: [target], health: new FakeHealth()})
    onTestFinished(() => listener.close(0))
    const {port} = await listener.listen()
    expect(await talk(port, 'hi\n')).toBe('someone else\n')
  })
})
