import {describe, expect, it} from 'vitest'
import {buildPlan} from '../../src/plan/plan.js'
import type {EndpointSlice} from '../../src/plan/types.js'
import {parseIpRange, type AddressRange} from '../../src/servemap/addresses.js'
import {fallbackChanges} from '../../src/servemap/fallback.js'
import {buildServeMap} from '../../src/servemap/map.js'
import {formatServeTable, rowLines} from '../../src/servemap/table.js'
import {tunnelRoutes} from '../../src/servemap/tunnels.js'
import type {HealthState, ProbedTarget} from '../../src/servemap/types.js'
import {orderTargets} from '../../src/proxy/pick.js'
import {makeNode, makeService, makeSnapshot, nodePortService} from '../builders.js'

const range = parseIpRange('127.77.0.0/16') as AddressRange
const grafana = makeService('grafana', {namespace: 'monitoring', ports: [{name: 'http', port: 3000, protocol: 'TCP'}]})
const radarr = nodePortService('radarr', [{name: 'http', port: 7878, nodePort: 30878}], {namespace: 'media'})
const syslog = makeService('syslog', {ports: [{name: 'syslog', port: 514, protocol: 'UDP'}]})
const slices: EndpointSlice[] = [
  {
    namespace: 'monitoring',
    name: 'g',
    serviceName: 'grafana',
    ports: [{name: 'http', port: 3000, protocol: 'TCP'}],
    endpoints: [{ready: true, addresses: [], pod: 'grafana-1'}],
  },
  {
    namespace: 'media',
    name: 'r',
    serviceName: 'radarr',
    ports: [{name: 'http', port: 7878, protocol: 'TCP'}],
    endpoints: [{ready: true, addresses: [], pod: 'radarr-0'}],
  },
]
const plan = buildPlan(
  makeSnapshot({
    services: [grafana, radarr, syslog],
    nodes: [makeNode('node-a', '127.0.10.1')],
    endpointSlices: slices,
  }),
  {domain: 'kube.internal', addressType: 'InternalIP', paths: 'auto'},
)

describe('tunnelRoutes', () => {
  it('lists every port with endpoint Pods: API-server paths and node paths with a fallback', () => {
    expect(tunnelRoutes(plan)).toEqual([
      {
        key: 'media/radarr:7878/TCP',
        service: 'media/radarr',
        namespace: 'media',
        endpoints: [{pod: 'radarr-0', port: 7878}],
        mode: 'http',
      },
      {
        key: 'monitoring/grafana:3000/TCP',
        service: 'monitoring/grafana',
        namespace: 'monitoring',
        endpoints: [{pod: 'grafana-1', port: 3000}],
        mode: 'http',
      },
    ])
  })
})

describe('buildServeMap with tunnel gateways', () => {
  const tunnels = new Map([
    ['monitoring/grafana:3000/TCP', {address: '127.0.0.1', port: 40001}],
    ['media/radarr:7878/TCP', {address: '127.0.0.1', port: 40002}],
  ])
  const build = buildServeMap(plan, {listen: '127.0.0.1', httpPort: 80, range, tunnels})
  const rows = (service: string) => build.rows.filter((r) => r.service === service)

  it('routes an API-server path to its gateway alone, marked in its row', () => {
    expect(rows('monitoring/grafana')).toEqual([
      {
        service: 'monitoring/grafana',
        name: 'grafana.kube.internal',
        endpoint: expect.stringMatching(/^127\.77\.\d+\.\d+:3000$/),
        mode: 'http',
        targets: [{node: 'api-server', address: '127.0.0.1', port: 40001, via: 'api-server'}],
        note: 'via API server: traffic and its cost go through the control plane',
        path: 'api-server',
      },
    ])
    expect(build.map.http.find((r) => r.service === 'monitoring/grafana')?.hosts).toContain('grafana.kube.internal')
  })

  it('puts the gateway behind a node path as its fallback', () => {
    expect(rows('media/radarr')[0]!.targets).toEqual([
      {node: 'node-a', address: '127.0.10.1', port: 30878},
      {node: 'api-server', address: '127.0.0.1', port: 40002, via: 'api-server', fallback: true},
    ])
  })

  it('says why a UDP port is not mapped', () => {
    expect(rows('default/syslog')).toEqual([
      {
        service: 'default/syslog',
        name: 'syslog.default',
        mode: '-',
        targets: [],
        note: 'UDP cannot go through the API server (pods/portforward carries TCP streams only)',
        path: 'none',
      },
    ])
  })

  it('gives a route the API server refused the RBAC note instead of a target', () => {
    const denied = new Map([['monitoring/grafana:3000/TCP', 'not reachable: forbidden to create pods/portforward']])
    const refused = buildServeMap(plan, {
      listen: '127.0.0.1',
      httpPort: 80,
      range,
      tunnels: new Map(),
      tunnelDenied: denied,
    })
    expect(refused.rows.find((r) => r.service === 'monitoring/grafana')).toMatchObject({
      targets: [],
      note: '3000/TCP: not reachable: forbidden to create pods/portforward',
      path: 'api-server',
    })
  })

  it('shows gateways by path in the start table and the change log, not by their loopback port', () => {
    const table = formatServeTable(build.rows, () => 'up')
    expect(table).toMatch(/^grafana\.kube\.internal +127\.77\.\d+\.\d+:3000 +http +api-server via API server: traffic/m)
    expect(table).toMatch(
      /^radarr\.kube\.internal +127\.77\.\d+\.\d+:7878 +http +node-a\(up\),api-server\(fallback\)$/m,
    )
    expect([...rowLines(build.rows).values()].filter((l) => l.includes('api-server'))).toEqual([
      expect.stringMatching(
        /^radarr\.kube\.internal → 127\.77\.\d+\.\d+:7878 \(http\) → 127\.0\.10\.1:30878,api-server fallback$/,
      ),
      expect.stringMatching(
        /^grafana\.kube\.internal → 127\.77\.\d+\.\d+:3000 \(http\) → api-server \(via API server: traffic and its cost go through the control plane\)$/,
      ),
    ])
  })
})

describe('orderTargets with a fallback', () => {
  const a: ProbedTarget = {node: 'node-a', address: '127.0.10.1', port: 30878}
  const b: ProbedTarget = {node: 'node-b', address: '127.0.10.2', port: 30878}
  const gw: ProbedTarget = {node: 'api-server', address: '127.0.0.1', port: 40002, via: 'api-server', fallback: true}
  const up =
    (...down: ProbedTarget[]) =>
    (t: ProbedTarget) =>
      !down.includes(t)
  it.each([
    ['healthy nodes first, rotated; the fallback before down nodes', [a, b, gw], up(), 1, [b, a, gw]],
    ['one node down: it goes last', [a, b, gw], up(a), 0, [b, gw, a]],
    ['every node down: the fallback leads', [a, b, gw], up(a, b), 0, [gw, a, b]],
  ])('%s', (_case, targets, healthy, start, expected) => {
    expect(orderTargets(targets, healthy, start)).toEqual(expected)
  })
})

describe('fallbackChanges', () => {
  const build = buildServeMap(plan, {
    listen: '127.0.0.1',
    httpPort: 80,
    range,
    tunnels: new Map([['media/radarr:7878/TCP', {address: '127.0.0.1', port: 40002}]]),
  })
  const health = (state: HealthState) => (t: ProbedTarget) => (t.via ? 'unknown' : state)

  it('reports a Service whose nodes all went down, once', () => {
    const first = fallbackChanges(build.rows, health('down'), new Set())
    expect(first).toEqual({
      changes: [
        {
          service: 'media/radarr',
          toApiServer: true,
          line: 'media/radarr: every node target is down; via API server: traffic and its cost go through the control plane',
        },
      ],
      onFallback: new Set(['media/radarr']),
    })
    expect(fallbackChanges(build.rows, health('down'), first.onFallback).changes).toEqual([])
  })

  it('reports it back on the node path when a node answers', () => {
    expect(fallbackChanges(build.rows, health('up'), new Set(['media/radarr']))).toEqual({
      changes: [
        {
          service: 'media/radarr',
          toApiServer: false,
          line: 'media/radarr: node-a answers again; back on the node path',
        },
      ],
      onFallback: new Set(),
    })
  })
})
