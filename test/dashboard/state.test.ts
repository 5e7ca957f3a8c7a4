import {describe, expect, it} from 'vitest'
import {dashboardState, httpLink} from '../../src/dashboard/state.js'
import {buildPlan} from '../../src/plan/plan.js'
import {assignAddresses, parseIpRange, type AddressRange} from '../../src/servemap/addresses.js'
import {buildServeMap} from '../../src/servemap/map.js'
import type {HealthState, ProbedTarget} from '../../src/servemap/types.js'
import {makeNode, makeService, makeSnapshot, nodePortService} from '../builders.js'

const DOMAIN = 'kube.internal'
const range = parseIpRange('127.77.0.0/16') as AddressRange
const nodes = [makeNode('node-a', '127.0.10.1'), makeNode('node-b', '127.0.10.2')]
const radarr = nodePortService('radarr', [{name: 'http', port: 7878, nodePort: 30878}], {
  namespace: 'media',
  annotations: {'expose-lb/hostname': 'movies'},
})
const mosquitto = nodePortService('mosquitto', [{name: 'mqtt', port: 1883, nodePort: 31883}], {namespace: 'iot'})
const traefik = makeService('traefik', {
  namespace: 'kube-system',
  type: 'LoadBalancer',
  loadBalancerIngress: [{ip: '192.168.1.240'}],
  ports: [
    {name: 'web', port: 80, protocol: 'TCP', nodePort: 31718},
    {name: 'websecure', port: 443, protocol: 'TCP', nodePort: 31443},
  ],
})
const grafana = makeService('grafana', {namespace: 'monitoring', ports: [{port: 3000, protocol: 'TCP'}]})

function build(ipRange: AddressRange | undefined, httpPort = 8080) {
  const plan = buildPlan(makeSnapshot({services: [radarr, mosquitto, traefik, grafana], nodes}), {
    domain: DOMAIN,
    addressType: 'InternalIP',
  })
  return buildServeMap(plan, {listen: '127.0.0.1', httpPort, range: ipRange})
}

/** node-b is down, everything else up. */
const health = (target: ProbedTarget): HealthState => (target.address === '127.0.10.2' ? 'down' : 'up')
const addr = assignAddresses(['iot/mosquitto', 'media/radarr'], range)

describe('dashboardState', () => {
  it('lists mapped Services with names, links, ports and target health, and unmapped ones with their note', () => {
    const doc = dashboardState(build(range), health, {domain: DOMAIN, httpPort: 8080})
    expect(doc).toEqual({
      domain: DOMAIN,
      httpPort: 8080,
      services: [
        {
          service: 'iot/mosquitto',
          names: ['mosquitto.kube.internal', 'mosquitto.iot.kube.internal'],
          links: [],
          ports: [
            {
              endpoint: `${addr.get('iot/mosquitto')}:1883`,
              mode: 'tcp',
              targets: [
                {node: 'node-a', endpoint: '127.0.10.1:31883', health: 'up'},
                {node: 'node-b', endpoint: '127.0.10.2:31883', health: 'down'},
              ],
            },
          ],
        },
        {
          service: 'kube-system/traefik',
          names: ['traefik.kube.internal', 'traefik.kube-system.kube.internal'],
          links: ['http://traefik.kube.internal/', 'http://traefik.kube-system.kube.internal/'],
          ports: [
            {endpoint: '192.168.1.240:80', mode: 'http', note: 'load balancer', targets: []},
            {endpoint: '192.168.1.240:443', mode: 'tcp', note: 'load balancer', targets: []},
          ],
        },
        {
          service: 'media/radarr',
          names: ['movies.kube.internal', 'radarr.kube.internal', 'radarr.media.kube.internal'],
          links: [
            'http://movies.kube.internal:8080/',
            'http://radarr.kube.internal:8080/',
            'http://radarr.media.kube.internal:8080/',
            'http://radarr.localhost:8080/',
            'http://radarr.media.localhost:8080/',
          ],
          ports: [
            {
              endpoint: `${addr.get('media/radarr')}:7878`,
              mode: 'http',
              targets: [
                {node: 'node-a', endpoint: '127.0.10.1:30878', health: 'up'},
                {node: 'node-b', endpoint: '127.0.10.2:30878', health: 'down'},
              ],
            },
          ],
        },
      ],
      unmapped: [
        {
          service: 'monitoring/grafana',
          name: 'grafana.monitoring',
          note: 'cluster-only: not reachable from outside the cluster',
        },
      ],
      warnings: [],
    })
  })

  it('without --ip-range, keeps non-HTTP ports with their note and names the Service by its own names only', () => {
    const doc = dashboardState(build(undefined), health, {domain: DOMAIN, httpPort: 8080})
    expect(doc.services.find((s) => s.service === 'iot/mosquitto')).toEqual({
      service: 'iot/mosquitto',
      names: ['mosquitto.kube.internal', 'mosquitto.iot.kube.internal'],
      links: [],
      ports: [
        {
          mode: 'tcp',
          note: '1883/TCP: not mapped without --ip-range (only HTTP is routed by Host)',
          targets: [
            {node: 'node-a', endpoint: '127.0.10.1:31883', health: 'up'},
            {node: 'node-b', endpoint: '127.0.10.2:31883', health: 'down'},
          ],
        },
      ],
    })
    expect(doc.services.find((s) => s.service === 'media/radarr')?.ports[0]?.endpoint).toBe('127.0.0.1:8080')
  })

  it('leaves :80 out of links when the router listens on port 80', () => {
    const doc = dashboardState(build(range, 80), health, {domain: DOMAIN, httpPort: 80})
    expect(doc.services.find((s) => s.service === 'media/radarr')?.links[0]).toBe('http://movies.kube.internal/')
  })

  it('is empty, not an error, before the first map is applied', () => {
    expect(dashboardState(undefined, health, {domain: DOMAIN, httpPort: 8080})).toEqual({
      domain: DOMAIN,
      httpPort: 8080,
      services: [],
      unmapped: [],
      warnings: [],
    })
  })
})

describe('httpLink', () => {
  it.each([
    ['radarr.localhost', 8080, 'http://radarr.localhost:8080/'],
    ['radarr.localhost', 80, 'http://radarr.localhost/'],
    ['radarr.kube.internal', 443, 'http://radarr.kube.internal:443/'],
  ])('links %s on port %d as %s', (host, port, url) => {
    expect(httpLink(host, port)).toBe(url)
  })
})
