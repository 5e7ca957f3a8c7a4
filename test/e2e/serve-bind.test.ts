// A per-service port that cannot be bound is a warning, not a failure: serve runs on without it.
import net from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {assignAddresses, parseIpRange, type AddressRange} from '../../src/servemap/addresses.js'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {startServe, tcpExchange, waitFor} from './serve-helpers.js'

const RANGE = '127.89.0.0/16'
let demo: Demo
let holder: net.Server
beforeAll(async () => {
  demo = await startDemo({nodePrefix: '127.0.29.'})
  // Hold mosquitto's own address and port before serve starts, as another program would.
  const address = assignAddresses(
    ['dns/pihole-dns', 'iot/mosquitto', 'default/homer', 'media/radarr'],
    parseIpRange(RANGE) as AddressRange,
  ).get('iot/mosquitto')!
  holder = net.createServer((s) => s.end('not serve\n'))
  await new Promise<void>((resolve) => holder.listen(1883, address, resolve))
})
afterAll(async () => {
  holder?.close()
  await demo?.close()
})

describe('serve with a per-service port already taken', () => {
  it('warns, naming the Service, address and port, and keeps serving everything else', async () => {
    const serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', RANGE])
    try {
      await waitFor(
        () =>
          /warning: iot\/mosquitto: cannot listen on 127\.89\.\d+\.\d+:1883\/tcp: address already in use by another program; the other ports still work/.test(
            serve.stderr(),
          ),
        10_000,
        'warning',
      )
      const [radarr] = await serve.resolver.resolve4('radarr.kube.internal')
      expect(await tcpExchange(radarr!, 7878, 'GET / HTTP/1.0\r\nHost: radarr.kube.internal\r\n\r\n')).toMatch(
        /"service":"media\/radarr"/,
      )
      expect(serve.stderr().match(/cannot listen on/g)).toHaveLength(1)
    } finally {
      expect(await serve.stop()).toBe(0)
    }
  })
})
