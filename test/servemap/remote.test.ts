import {describe, expect, it} from 'vitest'
import {remoteRecords, routerAddressFor} from '../../src/servemap/remote.js'
import type {DnsRecords} from '../../src/servemap/types.js'

const local: DnsRecords = {
  domain: 'kube.internal',
  hosts: new Map([
    ['expose-lb.kube.internal', ['0.0.0.0']],
    ['radarr.kube.internal', ['127.77.222.213']],
    ['homer.kube.internal', ['127.0.0.1']],
    ['web.kube.internal', ['192.168.1.240', 'fd00::240']],
    ['six.kube.internal', ['::1']],
  ]),
  srv: new Map([
    ['_mqtt._tcp.mosquitto.iot.kube.internal', [{priority: 0, weight: 0, port: 1883, target: 'radarr.kube.internal'}]],
    ['_http._tcp.web.default.kube.internal', [{priority: 0, weight: 0, port: 80, target: 'web.kube.internal'}]],
  ]),
}

describe('remoteRecords', () => {
  it('gives other machines the advertised address for every loopback or unspecified one, and keeps LB addresses', () => {
    expect(remoteRecords(local, '192.168.1.20')).toEqual({
      domain: 'kube.internal',
      hosts: new Map([
        ['expose-lb.kube.internal', ['192.168.1.20']],
        ['radarr.kube.internal', ['192.168.1.20']],
        ['homer.kube.internal', ['192.168.1.20']],
        ['web.kube.internal', ['192.168.1.240', 'fd00::240']],
        ['six.kube.internal', ['192.168.1.20']],
      ]),
      // A per-service port listens on loopback only: no SRV record sends another machine there.
      srv: new Map([
        ['_http._tcp.web.default.kube.internal', [{priority: 0, weight: 0, port: 80, target: 'web.kube.internal'}]],
      ]),
    })
  })
})

describe('routerAddressFor', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['192.168.1.20', '192.168.1.20'],
    ['0.0.0.0', '127.0.0.1'],
    ['::', '::1'],
  ])('--listen %s → this machine reaches the router at %s', (listen, address) => {
    expect(routerAddressFor(listen)).toBe(address)
  })
})
