// Ingress and route hosts in the serve map: DNS to the receiving Service's address, its HTTP and SNI routes and the
// Host allow-list of its per-service HTTP listeners; a host that is also a generated name loses.
import {describe, expect, it} from 'vitest'
import type {IngressObjects} from '../../src/plan/ingress-types.js'
import {buildPlan} from '../../src/plan/plan.js'
import {parseIpRange, type AddressRange} from '../../src/servemap/addresses.js'
import {buildServeMap} from '../../src/servemap/map.js'
import {rowLines} from '../../src/servemap/table.js'
import {dashboardState} from '../../src/dashboard/state.js'
import {makeNode, makeSnapshot, nodePortService} from '../builders.js'

const range = parseIpRange('127.77.0.0/16') as AddressRange
const traefik = nodePortService(
  'traefik',
  [
    {name: 'web', port: 80, nodePort: 32080},
    {name: 'websecure', port: 443, nodePort: 32443},
  ],
  {namespace: 'kube-system', labels: {'app.kubernetes.io/name': 'traefik'}},
)
const radarr = nodePortService('radarr', [{name: 'http', port: 7878, nodePort: 30878}], {namespace: 'media'})

function build(hosts: string[], ipRange: AddressRange | undefined) {
  const ingress: IngressObjects = {
    ingresses: [{namespace: 'media', name: 'web', className: 'traefik', ruleHosts: hosts, tlsHosts: []}],
    ingressClasses: [
      {name: 'traefik', controller: 'traefik.io/ingress-controller', isDefault: true, labels: {}, annotations: {}},
    ],
    gateways: [],
    gatewayClasses: [],
    routes: [],
  }
  const snapshot = {...makeSnapshot({services: [traefik, radarr], nodes: [makeNode('node-a', '127.0.10.1')]}), ingress}
  const plan = buildPlan(snapshot, {domain: 'kube.internal', addressType: 'InternalIP'})
  return buildServeMap(plan, {listen: '127.0.0.1', httpPort: 80, httpsPort: 443, range: ipRange})
}

const build2 = () => build(['radarr.home.example.com', 'grafana.home.example.com'], range)

describe('buildServeMap with Ingress hosts', () => {
  it('answers a host with the controller address and adds it to its HTTP route, SNI route and Host allow-list', () => {
    const {map, warnings} = build(['radarr.home.example.com', '*.apps.example.com'], range)
    const address = map.dns.hosts.get('traefik.kube-system.kube.internal')![0]!
    expect(address).toMatch(/^127\.77\./)
    expect(map.dns.hosts.get('radarr.home.example.com')).toEqual([address])
    expect(map.dns.hosts.get('*.apps.example.com')).toEqual([address])
    const route = map.http.find((r) => r.service === 'kube-system/traefik')!
    expect(route.hosts).toContain('radarr.home.example.com')
    expect(route.targets).toEqual([{node: 'node-a', address: '127.0.10.1', port: 32080}])
    expect(map.tls).toEqual([
      {
        service: 'kube-system/traefik',
        hosts: [
          'traefik.kube-system.kube.internal',
          'traefik.kube.internal',
          'traefik.kube-system.localhost',
          'traefik.localhost',
          'radarr.home.example.com',
          '*.apps.example.com',
        ],
        targets: [{node: 'node-a', address: '127.0.10.1', port: 32443}],
      },
    ])
    const web = map.listeners.find((l) => l.service === 'kube-system/traefik' && l.port === 80)!
    expect(web.hosts).toContain('radarr.home.example.com')
    expect(warnings).toEqual([])
  })

  it('gives each host rows under its Service (table, change log) and dashboard links, https first', () => {
    const build = build2()
    const hostRows = build.rows.filter((r) => r.source)
    expect(hostRows.map((r) => [r.service, r.name, r.endpoint, r.mode])).toEqual([
      ['kube-system/traefik', 'radarr.home.example.com', '127.0.0.1:80', 'http'],
      ['kube-system/traefik', 'radarr.home.example.com', '127.0.0.1:443', 'tls'],
      ['kube-system/traefik', 'grafana.home.example.com', '127.0.0.1:80', 'http'],
      ['kube-system/traefik', 'grafana.home.example.com', '127.0.0.1:443', 'tls'],
    ])
    expect([...rowLines(build.rows).values()].filter((l) => l.includes('home.example.com'))).toHaveLength(4)
    const doc = dashboardState(build, () => 'up', {domain: 'kube.internal', httpPort: 80})
    const links = doc.services.find((s) => s.service === 'kube-system/traefik')!.links
    expect(links.slice(0, 2)).toEqual(['https://radarr.home.example.com/', 'https://grafana.home.example.com/'])
    expect(links).toContain('http://radarr.home.example.com/')
  })

  it('without per-service addresses, a host answers the router address', () => {
    const {map} = build(['radarr.home.example.com'], undefined)
    expect(map.dns.hosts.get('radarr.home.example.com')).toEqual(['127.0.0.1'])
  })

  it('a host that is also a generated name loses, with a warning', () => {
    const {map, warnings} = build(['radarr.kube.internal'], range)
    expect(map.dns.hosts.get('radarr.kube.internal')).toEqual(map.dns.hosts.get('radarr.media.kube.internal'))
    expect(map.http.find((r) => r.service === 'kube-system/traefik')!.hosts).not.toContain('radarr.kube.internal')
    expect(warnings).toEqual([
      'host radarr.kube.internal (Ingress media/web) is also a name serve generates; the generated name keeps it',
    ])
  })
})
