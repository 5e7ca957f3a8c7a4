import {describe, expect, it} from 'vitest'
import {buildPlan} from '../../src/plan/plan.js'
import {choosePath, podEndpoints} from '../../src/plan/paths.js'
import type {EndpointSlice, Exposure, PathsMode, Service} from '../../src/plan/types.js'
import {exposureOf} from '../../src/plan/plan.js'
import {makeNode, makeService, makeSnapshot, nodePortService} from '../builders.js'

const clusterIP = makeService('grafana', {
  namespace: 'monitoring',
  ports: [{name: 'http', port: 3000, protocol: 'TCP'}],
})
const nodePort = nodePortService('radarr', [{name: 'http', port: 7878, nodePort: 30878}], {namespace: 'media'})
const udp = makeService('syslog', {ports: [{port: 514, protocol: 'UDP'}]})
const noSelector = makeService('kubernetes', {selector: undefined})
const emptySelector = makeService('manual', {selector: {}})
const headless = makeService('db', {clusterIP: 'None'})
const external = makeService('ext', {type: 'ExternalName', externalName: 'example.com', clusterIP: undefined})
const lbReady = makeService('traefik', {type: 'LoadBalancer', loadBalancerIngress: [{ip: '192.168.1.240'}]})

describe('choosePath', () => {
  const rows: Array<{case: string; svc: Service; mode: PathsMode; expected: ReturnType<typeof choosePath>}> = [
    {
      case: 'auto: a ClusterIP Service with a selector goes through the API server',
      svc: clusterIP,
      mode: 'auto',
      expected: {path: 'api-server'},
    },
    {case: 'auto: a NodePort Service keeps its nodes', svc: nodePort, mode: 'auto', expected: {path: 'node'}},
    {
      case: 'auto: a load balancer with an address is reached there',
      svc: lbReady,
      mode: 'auto',
      expected: {path: 'lb'},
    },
    {
      case: 'auto: UDP cannot go through port-forward',
      svc: udp,
      mode: 'auto',
      expected: {
        path: 'none',
        note: 'UDP cannot go through the API server (pods/portforward carries TCP streams only)',
      },
    },
    {
      case: 'auto: a selector-less Service says why',
      svc: noSelector,
      mode: 'auto',
      expected: {
        path: 'none',
        note: 'no selector: its endpoints are not Pods, and the API server forwards only to Pods',
      },
    },
    {
      case: 'auto: an empty selector counts as none',
      svc: emptySelector,
      mode: 'auto',
      expected: {
        path: 'none',
        note: 'no selector: its endpoints are not Pods, and the API server forwards only to Pods',
      },
    },
    {
      case: 'auto: a headless Service says why',
      svc: headless,
      mode: 'auto',
      expected: {
        path: 'none',
        note: 'headless (clusterIP None): no Service address to map; reach one Pod with kubectl port-forward pod/NAME',
      },
    },
    {
      case: 'auto: an ExternalName Service says why',
      svc: external,
      mode: 'auto',
      expected: {path: 'none', note: 'ExternalName: a DNS alias outside the cluster, nothing to forward'},
    },
    {
      case: 'node: a ClusterIP Service is not reachable, as before',
      svc: clusterIP,
      mode: 'node',
      expected: {path: 'none', note: 'cluster-only: not reachable from outside the cluster'},
    },
    {
      case: 'api-server: a NodePort Service is forced through the API server',
      svc: nodePort,
      mode: 'api-server',
      expected: {path: 'api-server'},
    },
    {
      case: 'api-server: a load balancer with an address stays there',
      svc: lbReady,
      mode: 'api-server',
      expected: {path: 'lb'},
    },
  ]
  it.each(rows)('$case', ({svc, mode, expected}) => {
    const exposure: Exposure = exposureOf(svc)
    expect(choosePath(svc, exposure, svc.ports[0]!, mode)).toEqual(expected)
  })
})

function slice(name: string, overrides: Partial<EndpointSlice>): EndpointSlice {
  return {namespace: 'monitoring', name, serviceName: 'grafana', endpoints: [], ...overrides}
}

describe('podEndpoints', () => {
  it('takes ready, not terminating Pod endpoints, with the port each slice gives the Service port name', () => {
    const slices: EndpointSlice[] = [
      slice('a', {
        ports: [{name: 'http', port: 3000, protocol: 'TCP'}],
        endpoints: [
          {ready: true, addresses: ['10.0.0.1'], pod: 'grafana-1', nodeName: 'node-a'},
          {ready: false, addresses: ['10.0.0.2'], pod: 'grafana-2'},
          {ready: true, terminating: true, addresses: ['10.0.0.3'], pod: 'grafana-3'},
          {ready: true, addresses: ['10.0.0.4']},
        ],
      }),
      // A second slice from a rollout whose Pods name the port on another number.
      slice('b', {
        ports: [{name: 'http', port: 3001, protocol: 'TCP'}],
        endpoints: [{ready: true, addresses: ['10.0.0.5'], pod: 'grafana-5'}],
      }),
      slice('c', {
        ports: [{name: 'metrics', port: 9100, protocol: 'TCP'}],
        endpoints: [{ready: true, addresses: [], pod: 'x'}],
      }),
      slice('d', {
        serviceName: 'other',
        ports: [{name: 'http', port: 3000, protocol: 'TCP'}],
        endpoints: [{ready: true, addresses: [], pod: 'y'}],
      }),
    ]
    expect(podEndpoints(clusterIP, clusterIP.ports[0]!, slices)).toEqual([
      {pod: 'grafana-1', port: 3000, node: 'node-a'},
      {pod: 'grafana-5', port: 3001},
    ])
  })

  it('matches an unnamed Service port to the unnamed slice port', () => {
    const svc = makeService('grafana', {namespace: 'monitoring', ports: [{port: 80, protocol: 'TCP'}]})
    const slices = [
      slice('a', {ports: [{port: 3000, protocol: 'TCP'}], endpoints: [{ready: true, addresses: [], pod: 'g'}]}),
    ]
    expect(podEndpoints(svc, svc.ports[0]!, slices)).toEqual([{pod: 'g', port: 3000}])
  })
})

describe('buildPlan with paths', () => {
  const slices: EndpointSlice[] = [
    slice('g', {
      ports: [{name: 'http', port: 3000, protocol: 'TCP'}],
      endpoints: [{ready: true, addresses: [], pod: 'grafana-1'}],
    }),
    {
      namespace: 'media',
      name: 'r',
      serviceName: 'radarr',
      ports: [{name: 'http', port: 7878, protocol: 'TCP'}],
      endpoints: [{ready: true, addresses: [], pod: 'radarr-0'}],
    },
  ]
  const snapshot = makeSnapshot({
    services: [clusterIP, nodePort, noSelector],
    nodes: [makeNode('node-a', '127.0.10.1')],
    endpointSlices: slices,
  })

  it('auto: names the ClusterIP Service, gives it its Pods, and gives the NodePort one a fallback', () => {
    const plan = buildPlan(snapshot, {domain: 'kube.internal', addressType: 'InternalIP', paths: 'auto'})
    const byName = (name: string) => plan.services.find((s) => s.name === name)!
    expect(byName('grafana').names).toEqual(['grafana.monitoring.kube.internal', 'grafana.kube.internal'])
    expect(byName('grafana').ports[0]).toMatchObject({
      path: 'api-server',
      endpoints: [{pod: 'grafana-1', port: 3000}],
      targets: [],
    })
    expect(byName('radarr').ports[0]).toMatchObject({path: 'node', endpoints: [{pod: 'radarr-0', port: 7878}]})
    expect(byName('kubernetes').names).toEqual([])
    expect(byName('kubernetes').ports[0]).toMatchObject({path: 'none'})
  })

  it('node: no API-server paths, no fallbacks, no names for the ClusterIP Service', () => {
    const plan = buildPlan(snapshot, {domain: 'kube.internal', addressType: 'InternalIP', paths: 'node'})
    expect(plan.services.find((s) => s.name === 'grafana')!.names).toEqual([])
    expect(plan.services.flatMap((s) => s.ports).some((p) => p.endpoints)).toBe(false)
  })

  it('without paths: the plan has no path fields at all (as before)', () => {
    const plan = buildPlan(snapshot, {domain: 'kube.internal', addressType: 'InternalIP'})
    expect(plan.services.flatMap((s) => s.ports).some((p) => 'path' in p || 'endpoints' in p)).toBe(false)
  })
})
