import {describe, expect, it} from 'vitest'
import {buildPlan} from '../../src/plan/plan.js'
import {assignAddresses, parseIpRange, type AddressRange} from '../../src/servemap/addresses.js'
import {probeOf, type ForwardListener} from '../../src/servemap/types.js'
import type {Service} from '../../src/plan/types.js'
import {buildServeMap} from '../../src/servemap/map.js'
import {makeNode, makeService, makeSnapshot, nodePortService} from '../builders.js'

const range = parseIpRange('127.77.0.0/16') as AddressRange
const nodes = [makeNode('node-a', '127.0.10.1'), makeNode('node-b', '127.0.10.2')]
const radarr = nodePortService('radarr', [{name: 'http', port: 7878, nodePort: 30878}], {namespace: 'media'})
const mosquitto = nodePortService('mosquitto', [{name: 'mqtt', port: 1883, nodePort: 31883}], {namespace: 'iot'})
const pihole = makeService('pihole-dns', {
  namespace: 'dns',
  type: 'LoadBalancer',
  externalTrafficPolicy: 'Local',
  healthCheckNodePort: 32053,
  ports: [
    {name: 'dns-udp', port: 53, protocol: 'UDP', nodePort: 30053},
    {name: 'dns-tcp', port: 53, protocol: 'TCP', nodePort: 30053},
  ],
})
const traefik = makeService('traefik', {
  namespace: 'kube-system',
  type: 'LoadBalancer',
  loadBalancerIngress: [{ip: '192.168.1.240'}],
  ports: [{name: 'web', port: 80, protocol: 'TCP', nodePort: 31718}],
})
const grafana = makeService('grafana', {namespace: 'monitoring', ports: [{port: 3000, protocol: 'TCP'}]})

function build(ipRange: AddressRange | undefined, unheld?: Map<string, string>) {
  const slices = [
    {
      namespace: 'dns',
      name: 'p',
      serviceName: 'pihole-dns',
      endpoints: [{nodeName: 'node-b', ready: true, addresses: ['10.42.0.9']}],
    },
  ]
  const plan = buildPlan(
    makeSnapshot({services: [radarr, mosquitto, pihole, traefik, grafana], nodes, endpointSlices: slices}),
    {domain: 'kube.internal', addressType: 'InternalIP'},
  )
  return buildServeMap(plan, {listen: '127.0.0.1', httpPort: 8080, range: ipRange, unheld})
}

const addr = assignAddresses(['media/radarr', 'iot/mosquitto', 'dns/pihole-dns'], range)
const tcp = (address: string, port: number) => ({kind: 'tcp', address, port})

describe('buildServeMap with per-service addresses', () => {
  const {map, rows} = build(range)

  it('answers each mapped name with its Service address, lb-ready names with the load balancer, the dashboard with --listen', () => {
    expect(Object.fromEntries(map.dns.hosts)).toEqual({
      'kube.internal': ['127.0.0.1'],
      'expose-lb.kube.internal': ['127.0.0.1'],
      'radarr.media.kube.internal': [addr.get('media/radarr')],
      'radarr.kube.internal': [addr.get('media/radarr')],
      'mosquitto.iot.kube.internal': [addr.get('iot/mosquitto')],
      'mosquitto.kube.internal': [addr.get('iot/mosquitto')],
      'pihole-dns.dns.kube.internal': [addr.get('dns/pihole-dns')],
      'pihole-dns.kube.internal': [addr.get('dns/pihole-dns')],
      'traefik.kube-system.kube.internal': ['192.168.1.240'],
      'traefik.kube.internal': ['192.168.1.240'],
    })
  })

  it('has SRV records for named ports, on their own port numbers', () => {
    expect(map.dns.srv.get('_mqtt._tcp.mosquitto.iot.kube.internal')).toEqual([
      {priority: 0, weight: 0, port: 1883, target: 'mosquitto.iot.kube.internal'},
    ])
    expect(map.dns.srv.get('_dns-udp._udp.pihole-dns.dns.kube.internal')).toEqual([
      {priority: 0, weight: 0, port: 53, target: 'pihole-dns.dns.kube.internal'},
    ])
    expect(map.dns.srv.get('_web._tcp.traefik.kube-system.kube.internal')?.[0]?.port).toBe(80)
  })

  it('routes HTTP by friendly and .localhost names', () => {
    expect(map.http).toEqual([
      {
        service: 'media/radarr',
        hosts: ['radarr.media.kube.internal', 'radarr.kube.internal', 'radarr.media.localhost', 'radarr.localhost'],
        targets: [
          {node: 'node-a', address: '127.0.10.1', port: 30878},
          {node: 'node-b', address: '127.0.10.2', port: 30878},
        ],
      },
    ])
    // No probe object of their own: their health is a connect to themselves.
    expect(map.http[0]?.targets.map(probeOf)).toEqual([tcp('127.0.10.1', 30878), tcp('127.0.10.2', 30878)])
  })

  it('listens on every port at the Service address, the HTTP port also on --http-port; ETP Local probes healthCheckNodePort', () => {
    expect(
      map.listeners.map((l) => [
        l.service,
        l.address,
        l.port,
        l.protocol,
        l.targets.map((t) => `${t.address}:${t.port}`),
      ]),
    ).toEqual([
      ['dns/pihole-dns', addr.get('dns/pihole-dns'), 53, 'UDP', ['127.0.10.2:30053']],
      ['dns/pihole-dns', addr.get('dns/pihole-dns'), 53, 'TCP', ['127.0.10.2:30053']],
      ['iot/mosquitto', addr.get('iot/mosquitto'), 1883, 'TCP', ['127.0.10.1:31883', '127.0.10.2:31883']],
      ['media/radarr', addr.get('media/radarr'), 7878, 'TCP', ['127.0.10.1:30878', '127.0.10.2:30878']],
      ['media/radarr', addr.get('media/radarr'), 8080, 'TCP', ['127.0.10.1:30878', '127.0.10.2:30878']],
    ])
    expect(map.listeners[0]?.targets[0]?.probe).toEqual({kind: 'http', address: '127.0.10.2', port: 32053})
  })

  it('probes UDP targets of an externalTrafficPolicy Cluster Service on kube-proxy /healthz (10256)', () => {
    const syslog = nodePortService('syslog', [{name: 'syslog', port: 5514, protocol: 'UDP', nodePort: 31514}])
    const plan = buildPlan(makeSnapshot({services: [syslog], nodes}), {
      domain: 'kube.internal',
      addressType: 'InternalIP',
    })
    const {map: udp} = buildServeMap(plan, {listen: '127.0.0.1', httpPort: 80, range})
    expect(udp.listeners[0]?.targets.map((t) => t.probe)).toEqual([
      {kind: 'http', address: '127.0.10.1', port: 10256},
      {kind: 'http', address: '127.0.10.2', port: 10256},
    ])
  })

  it('lists cluster-only Services as not reachable', () => {
    expect(rows.find((r) => r.service === 'monitoring/grafana')).toEqual({
      service: 'monitoring/grafana',
      name: 'grafana.monitoring',
      mode: '-',
      targets: [],
      note: 'cluster-only: not reachable from outside the cluster',
    })
  })
})

describe('buildServeMap with --ip-range none', () => {
  const {map, rows} = build(undefined)

  it('answers --listen for every proxied name, routes HTTP by Host alone and reports other ports as not mapped', () => {
    expect(map.dns.hosts.get('mosquitto.kube.internal')).toEqual(['127.0.0.1'])
    expect(map.listeners).toEqual([])
    expect(map.http.map((r) => r.service)).toEqual(['media/radarr'])
    expect(rows.find((r) => r.service === 'media/radarr')?.endpoint).toBe('127.0.0.1:8080')
    expect(rows.find((r) => r.service === 'iot/mosquitto')?.note).toBe(
      '1883/TCP: not mapped without --ip-range (only HTTP is routed by Host)',
    )
    expect(map.dns.srv.has('_mqtt._tcp.mosquitto.iot.kube.internal')).toBe(false)
    expect(map.dns.srv.get('_http._tcp.radarr.media.kube.internal')?.[0]?.port).toBe(8080)
  })
})

describe('buildServeMap with a per-service address another program holds', () => {
  const held = addr.get('iot/mosquitto')!
  const radarrHeld = addr.get('media/radarr')!
  const why = (a: string) => `${a}:1883/tcp is held by nginx (pid 42)`
  const {map, rows} = build(
    range,
    new Map([
      [held, why(held)],
      [radarrHeld, 'held'],
    ]),
  )

  it('never hands it out: the names answer --listen, no listener or SRV uses it, other ports say why', () => {
    expect(map.dns.hosts.get('mosquitto.kube.internal')).toEqual(['127.0.0.1'])
    expect(map.dns.hosts.get('radarr.kube.internal')).toEqual(['127.0.0.1'])
    expect(map.listeners.filter((l) => l.address === held || l.address === radarrHeld)).toEqual([])
    expect(rows.find((r) => r.service === 'iot/mosquitto')?.note).toBe(`1883/TCP: not mapped: ${why(held)}`)
    expect(map.dns.srv.has('_mqtt._tcp.mosquitto.iot.kube.internal')).toBe(false)
  })

  it('routes its HTTP port through the router by name; other Services keep their addresses', () => {
    expect(rows.find((r) => r.service === 'media/radarr')?.endpoint).toBe('127.0.0.1:8080')
    expect(map.http.map((r) => r.service)).toContain('media/radarr')
    expect(map.dns.hosts.get('pihole-dns.kube.internal')).toEqual([addr.get('dns/pihole-dns')])
  })
})

describe('buildServeMap: the Host values a port in http mode answers on its Service address', () => {
  const ADDRESS = '<the Service address>'
  const web = (namespace: string) => nodePortService('web', [{name: 'http', port: 8000, nodePort: 30800}], {namespace})
  const sonarr = nodePortService('sonarr', [{name: 'http', port: 8989, nodePort: 30989}], {
    namespace: 'media',
    annotations: {'expose-lb/hostname': 'tv'},
  })
  const rows: Array<{case: string; services: Service[]; service: string; want: Array<Partial<ForwardListener>>}> = [
    {
      case: 'its names, both .localhost forms and its address, on its own port and on --http-port',
      services: [radarr],
      service: 'media/radarr',
      want: [7878, 8080].map((port) => ({
        port,
        mode: 'http',
        hosts: [
          'radarr.media.kube.internal',
          'radarr.kube.internal',
          'radarr.media.localhost',
          'radarr.localhost',
          ADDRESS,
        ],
      })),
    },
    {
      case: 'the names its hostname annotation adds',
      services: [sonarr],
      service: 'media/sonarr',
      want: [8989, 8080].map((port) => ({
        port,
        hosts: [
          'sonarr.media.kube.internal',
          'sonarr.kube.internal',
          'tv.kube.internal',
          'sonarr.media.localhost',
          'sonarr.localhost',
          ADDRESS,
        ],
      })),
    },
    {
      case: 'both .localhost forms when another Service has the same name (no short DNS name, no <svc>.localhost route)',
      services: [web('blue'), web('green')],
      service: 'blue/web',
      want: [8000, 8080].map((port) => ({
        port,
        hosts: ['web.blue.kube.internal', 'web.blue.localhost', 'web.localhost', ADDRESS],
      })),
    },
    {
      case: 'no list on a port that is not http',
      services: [mosquitto],
      service: 'iot/mosquitto',
      want: [{port: 1883, mode: 'tcp', hosts: undefined}],
    },
  ]
  it.each(rows)('$case', ({services, service, want}) => {
    const plan = buildPlan(makeSnapshot({services, nodes}), {domain: 'kube.internal', addressType: 'InternalIP'})
    const {map} = buildServeMap(plan, {listen: '127.0.0.1', httpPort: 8080, range})
    const address = assignAddresses(
      services.map((s) => `${s.namespace}/${s.name}`),
      range,
    ).get(service)
    expect(map.listeners.filter((l) => l.service === service)).toEqual(
      want.map((w) => ({
        service,
        address,
        protocol: 'TCP',
        mode: 'http',
        targets: expect.any(Array),
        ...w,
        hosts: w.hosts?.map((h) => (h === ADDRESS ? address : h)),
      })),
    )
  })
})
