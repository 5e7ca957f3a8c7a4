// Ports for tunnel gateways: Linux's local port range taken in order from a random start, reserved ports skipped,
// a port in use skipped by the gateway; elsewhere the system's choice.
import net from 'node:net'
import {Duplex, PassThrough} from 'node:stream'
import {describe, expect, it, onTestFinished} from 'vitest'
import {gatewayPorts, parsePortRange, parseReservedPorts, portsInOrder} from '../../src/proxy/gateway-ports.js'
import {TunnelGateways} from '../../src/proxy/tunnels.js'

describe('gateway ports', () => {
  it('reads ip_local_port_range, and falls back to the default range for anything else', () => {
    expect(parsePortRange('32768\t60999\n')).toEqual([32768, 60999])
    expect(parsePortRange('1024 65535')).toEqual([1024, 65535])
    expect(parsePortRange(undefined)).toEqual([32768, 60999])
    expect(parsePortRange('60999 32768')).toEqual([32768, 60999])
    expect(parsePortRange('nonsense')).toEqual([32768, 60999])
  })

  it('reads ip_local_reserved_ports: single ports and ranges', () => {
    expect([...parseReservedPorts('8080,9000-9002\n')]).toEqual([8080, 9000, 9001, 9002])
    expect(parseReservedPorts('\n').size).toBe(0)
    expect(parseReservedPorts(undefined).size).toBe(0)
  })

  it('gives the range in order from the start, wrapping round, without reserved ports', () => {
    const next = portsInOrder([100, 104], new Set([101, 104]), 103)
    expect(Array.from({length: 6}, next)).toEqual([103, 100, 102, 103, 100, 102])
    expect(portsInOrder([100, 101], new Set([100, 101]), 100)()).toBe(0)
  })

  it('lets the system pick outside Linux', () => {
    expect(gatewayPorts('darwin')()).toBe(0)
    expect(gatewayPorts('win32')()).toBe(0)
  })

  it('a gateway skips a port in use and listens on the next one', async () => {
    const holder = net.createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => void holder.close())
    const taken = (holder.address() as net.AddressInfo).port
    const free = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const {port} = probe.address() as net.AddressInfo
        probe.close(() => resolve(port))
      })
    })
    const offered = [taken, free]
    const dial = async (): Promise<Duplex> => {
      const stream = new PassThrough()
      return Duplex.from({writable: stream, readable: stream})
    }
    const g = new TunnelGateways({dial, log: () => {}, nextPort: () => offered.shift() ?? 0})
    onTestFinished(() => g.close())
    const route = {key: 'apps/echo:80/TCP', service: 'apps/echo', namespace: 'apps', endpoints: [], mode: 'tcp'}
    const at = (await g.apply([route as never])).get('apps/echo:80/TCP')!
    expect(at).toEqual({address: '127.0.0.1', port: free})
    expect(offered).toEqual([])
  })
})
