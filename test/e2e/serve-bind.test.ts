// A per-service address where another program holds a port: serve names the holder, never hands the address out
// (its Service is reached through the router), and takes it back once the port is free.
import {readFileSync} from 'node:fs'
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {assignAddresses, parseIpRange, type AddressRange} from '../../src/servemap/addresses.js'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {startServe, tcpExchange, waitFor} from './serve-helpers.js'

const RANGE = '127.89.0.0/16'
let demo: Demo
let holder_: net.Server
beforeAll(async () => {
  demo = await startDemo({nodePrefix: '127.0.29.'})
  // Hold mosquitto's own address and port before serve starts, as another program would.
  const address = assignAddresses(
    ['dns/pihole-dns', 'iot/mosquitto', 'default/homer', 'media/radarr'],
    parseIpRange(RANGE) as AddressRange,
  ).get('iot/mosquitto')!
  holder_ = net.createServer((s) => s.end('not serve\n'))
  await new Promise<void>((resolve) => holder_.listen(1883, address, resolve))
})
afterAll(async () => {
  holder_?.close()
  await demo?.close()
})

describe('serve with a per-service port already taken', () => {
  it('names the holder, never hands out that address, maps the Service through the router, and takes it back once free', async () => {
    const serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', RANGE])
    try {
      const held = assignAddresses(
        ['dns/pihole-dns', 'iot/mosquitto', 'default/homer', 'media/radarr'],
        parseIpRange(RANGE) as AddressRange,
      ).get('iot/mosquitto')!
      const at = `${held.replaceAll('.', '\\.')}:1883/tcp`
      // The holder is this test's own process, named as /proc has it (a vitest worker's title, on Node 24 too).
      const name = readFileSync('/proc/self/comm', 'latin1').trim()
      const holder = `${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(pid ${process.pid}\\)`
      await waitFor(
        () =>
          new RegExp(
            `warning: iot/mosquitto: cannot listen on ${at}: address already in use by ${holder}; its names answer the router's address instead: HTTP by name on port ${serve.httpPort}, its other ports are not mapped until ${held.replaceAll('.', '\\.')} is free`,
          ).test(serve.stderr()),
        10_000,
        'warning',
      )
      expect(serve.stdout()).toMatch(new RegExp(`1883/TCP: not mapped: ${at} is held by ${holder}`))
      expect(await serve.resolver.resolve4('mosquitto.kube.internal')).toEqual(['127.0.0.1'])
      // Everything else keeps its own address.
      const [radarr] = await serve.resolver.resolve4('radarr.kube.internal')
      expect(radarr).not.toEqual('127.0.0.1')
      expect(await tcpExchange(radarr!, 7878, 'GET / HTTP/1.0\r\nHost: radarr.kube.internal\r\n\r\n')).toMatch(
        /"service":"media\/radarr"/,
      )
      expect(serve.stderr().match(/cannot listen on/g)).toHaveLength(1)

      await new Promise<void>((resolve) => holder_.close(() => resolve()))
      await waitFor(
        () => serve.stderr().includes(`iot/mosquitto: ${held}:1883 is free again: its own address is back`),
        15_000,
        'the address taken back',
      )
      await waitFor(
        async () => (await serve.resolver.resolve4('mosquitto.kube.internal'))[0] === held,
        5_000,
        'DNS answering the own address again',
      )
      expect(await tcpExchange(held, 1883, 'hello\n')).not.toEqual('not serve\n')
    } finally {
      expect(await serve.stop()).toBe(0)
    }
  })
})
