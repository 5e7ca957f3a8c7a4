import {describe, expect, it} from 'vitest'
import {buildPlan, exposureOf, portMode} from '../../src/plan/plan.js'
import type {PlanOptions, Service, ServicePort} from '../../src/plan/types.js'
import {makeNode, makeService, makeSlice, makeSnapshot, nodePortService} from '../builders.js'

const options: PlanOptions = {domain: 'kube.internal', addressType: 'InternalIP'}
const threeNodes = [
  makeNode('node-b', '192.168.1.12'),
  makeNode('node-a', '192.168.1.11'),
  makeNode('node-c', '192.168.1.13'),
]

describe('exposureOf', () => {
  it.each<[string, Partial<Service>, string]>([
    ['a ClusterIP Service is cluster-only', {type: 'ClusterIP'}, 'cluster-only'],
    [
      'a ClusterIP Service with externalIPs is still cluster-only',
      {type: 'ClusterIP', externalIPs: ['192.168.1.102']},
      'cluster-only',
    ],
    ['clusterIP None is headless', {type: 'ClusterIP', clusterIP: 'None'}, 'headless'],
    ['an ExternalName Service is external-name', {type: 'ExternalName', externalName: 'example.org'}, 'external-name'],
    ['a NodePort Service is node-port', {type: 'NodePort'}, 'node-port'],
    ['a LoadBalancer without ingress is lb-pending', {type: 'LoadBalancer'}, 'lb-pending'],
    [
      'a LoadBalancer with only empty ingress entries is lb-pending',
      {type: 'LoadBalancer', loadBalancerIngress: [{}]},
      'lb-pending',
    ],
    [
      'a LoadBalancer with an ingress ip is lb-ready',
      {type: 'LoadBalancer', loadBalancerIngress: [{ip: '192.168.1.240'}]},
      'lb-ready',
    ],
    [
      'a LoadBalancer with an ingress hostname is lb-ready',
      {type: 'LoadBalancer', loadBalancerIngress: [{hostname: 'a.elb.example'}]},
      'lb-ready',
    ],
  ])('%s', (_name, overrides, exposure) => {
    expect(exposureOf(makeService('svc', overrides))).toBe(exposure)
  })
})

describe('portMode', () => {
  it.each<[string, ServicePort, string]>([
    ['UDP is always udp', {port: 80, protocol: 'UDP', name: 'http'}, 'udp'],
    ['appProtocol http is http', {port: 9999, protocol: 'TCP', appProtocol: 'http'}, 'http'],
    ['appProtocol kubernetes.io/h2c is http', {port: 9999, protocol: 'TCP', appProtocol: 'kubernetes.io/h2c'}, 'http'],
    ['appProtocol kubernetes.io/ws is http', {port: 9999, protocol: 'TCP', appProtocol: 'kubernetes.io/ws'}, 'http'],
    ['appProtocol https wins over a web port number', {port: 80, protocol: 'TCP', appProtocol: 'https'}, 'tcp'],
    [
      'any other appProtocol wins over an http name',
      {port: 80, protocol: 'TCP', name: 'http', appProtocol: 'mqtt'},
      'tcp',
    ],
    ['a name starting with http is http', {port: 7878, protocol: 'TCP', name: 'http-ui'}, 'http'],
    ['a name starting with https is tcp', {port: 8443, protocol: 'TCP', name: 'https'}, 'tcp'],
    ['the name web is http', {port: 32400, protocol: 'TCP', name: 'web'}, 'http'],
    ['port 8080 without a name is http', {port: 8080, protocol: 'TCP'}, 'http'],
    ['port 80 without a name is http', {port: 80, protocol: 'TCP'}, 'http'],
    ['an unknown port is tcp', {port: 1883, protocol: 'TCP', name: 'mqtt'}, 'tcp'],
    ['SCTP is tcp', {port: 80, protocol: 'SCTP'}, 'tcp'],
  ])('%s', (_name, port, mode) => {
    expect(portMode(port)).toBe(mode)
  })
})

describe('buildPlan targets', () => {
  it('sends a NodePort port to every node, sorted by node name', () => {
    const svc = nodePortService('radarr', [{name: 'http', port: 7878, nodePort: 30878}], {namespace: 'media'})
    const plan = buildPlan(makeSnapshot({services: [svc], nodes: threeNodes}), options)
    expect(plan.services[0]).toEqual({
      namespace: 'media',
      name: 'radarr',
      type: 'NodePort',
      exposure: 'node-port',
      names: ['radarr.media.kube.internal', 'radarr.kube.internal'],
      loadBalancerIngress: [],
      externalTrafficPolicy: 'Cluster',
      ports: [
        {
          name: 'http',
          port: 7878,
          protocol: 'TCP',
          nodePort: 30878,
          mode: 'http',
          targets: [
            {node: 'node-a', address: '192.168.1.11', port: 30878},
            {node: 'node-b', address: '192.168.1.12', port: 30878},
            {node: 'node-c', address: '192.168.1.13', port: 30878},
          ],
        },
      ],
      warnings: [],
    })
    expect(plan.warnings).toEqual([])
  })

  it('gives Services one shared list for each list that stays empty (no copy per Service at 10,000 of them)', () => {
    const services = [
      nodePortService('radarr', [{name: 'http', port: 7878, nodePort: 30878}], {namespace: 'media'}),
      nodePortService('sonarr', [{name: 'http', port: 8989, nodePort: 30989}], {namespace: 'media'}),
      makeService('db', {namespace: 'media', ports: [{name: 'pg', port: 5432, protocol: 'TCP'}]}),
    ]
    const planned = buildPlan(makeSnapshot({services, nodes: threeNodes}), options).services
    const [radarr, sonarr, db] = ['radarr', 'sonarr', 'db'].map((name) => planned.find((p) => p.name === name))
    expect(radarr!.warnings).toEqual([])
    expect(sonarr!.warnings).toBe(radarr!.warnings)
    expect(db!.warnings).toBe(radarr!.warnings)
    expect(sonarr!.loadBalancerIngress).toBe(radarr!.loadBalancerIngress)
    expect(db!.ports[0]!.targets).toBe(radarr!.warnings)
  })

  it.each<[string, Parameters<typeof makeNode>[2], boolean, string | undefined]>([
    [
      'the exclude label with an empty value (kubeadm) excludes a node',
      {labels: {'node.kubernetes.io/exclude-from-external-load-balancers': ''}},
      false,
      'labelled node.kubernetes.io/exclude-from-external-load-balancers',
    ],
    [
      'the exclude label "true" excludes a node',
      {labels: {'node.kubernetes.io/exclude-from-external-load-balancers': 'true'}},
      false,
      'labelled node.kubernetes.io/exclude-from-external-load-balancers',
    ],
    [
      'the exclude label "false" keeps a node',
      {labels: {'node.kubernetes.io/exclude-from-external-load-balancers': 'false'}},
      true,
      undefined,
    ],
    ['a node being deleted is excluded', {deleting: true}, false, 'being deleted'],
    [
      'the autoscaler deletion taint excludes a node',
      {taints: [{key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule'}]},
      false,
      'tainted ToBeDeletedByClusterAutoscaler',
    ],
    ['a NotReady node stays a candidate (health checks decide)', {ready: false}, true, undefined],
    ['a cordoned node stays a candidate', {unschedulable: true}, true, undefined],
  ])('%s', (_name, overrides, eligible, reason) => {
    const nodes = [makeNode('node-a', '192.168.1.11'), makeNode('node-x', '192.168.1.99', overrides)]
    const svc = nodePortService('homer', [{port: 8080, nodePort: 30080}])
    const plan = buildPlan(makeSnapshot({services: [svc], nodes}), options)
    expect(plan.nodes[1]).toMatchObject({name: 'node-x', eligible})
    expect(plan.nodes[1]?.reason).toBe(reason)
    expect(plan.services[0]?.ports[0]?.targets.map((t) => t.node)).toEqual(eligible ? ['node-a', 'node-x'] : ['node-a'])
  })

  it('falls back to all nodes, with a warning, when the only node is an excluded control plane', () => {
    const node = makeNode('cp', '10.0.0.5', {labels: {'node.kubernetes.io/exclude-from-external-load-balancers': ''}})
    const plan = buildPlan(
      makeSnapshot({services: [nodePortService('web', [{nodePort: 30080}])], nodes: [node]}),
      options,
    )
    expect(plan.services[0]?.ports[0]?.targets).toEqual([{node: 'cp', address: '10.0.0.5', port: 30080}])
    expect(plan.nodes[0]).toMatchObject({
      eligible: true,
      reason: 'labelled node.kubernetes.io/exclude-from-external-load-balancers; used because no node is eligible',
    })
    expect(plan.warnings).toEqual([
      'no node is eligible for load-balancer traffic (node.kubernetes.io/exclude-from-external-load-balancers or ToBeDeletedByClusterAutoscaler); using all 1 node(s) anyway',
    ])
  })

  it('does not fall back to a node that is being deleted', () => {
    const plan = buildPlan(
      makeSnapshot({
        services: [nodePortService('web', [{nodePort: 30080}])],
        nodes: [makeNode('gone', '10.0.0.5', {deleting: true})],
      }),
      options,
    )
    expect(plan.services[0]?.ports[0]?.targets).toEqual([])
  })

  it.each<[string, 'InternalIP' | 'ExternalIP', string[]]>([
    ['uses InternalIP by default', 'InternalIP', ['192.168.1.11', '192.168.1.12']],
    [
      'prefers ExternalIP with --address-type ExternalIP, falling back to InternalIP',
      'ExternalIP',
      ['203.0.113.7', '192.168.1.12'],
    ],
  ])('%s', (_name, addressType, addresses) => {
    const nodes = [
      makeNode('node-a', '192.168.1.11', {
        addresses: [
          {type: 'InternalIP', address: '192.168.1.11'},
          {type: 'ExternalIP', address: '203.0.113.7'},
        ],
      }),
      makeNode('node-b', '192.168.1.12'),
    ]
    const plan = buildPlan(makeSnapshot({services: [nodePortService('web', [{nodePort: 30080}])], nodes}), {
      ...options,
      addressType,
    })
    expect(plan.services[0]?.ports[0]?.targets.map((t) => t.address)).toEqual(addresses)
  })

  it('matches node addresses to the Service ipFamilies, primary family first', () => {
    const nodes = [
      makeNode('node-a', '192.168.1.11', {
        addresses: [
          {type: 'InternalIP', address: '192.168.1.11'},
          {type: 'InternalIP', address: 'fd00::11'},
        ],
      }),
    ]
    const v6 = nodePortService('v6', [{nodePort: 30080}], {ipFamilies: ['IPv6']})
    const dual = nodePortService('dual', [{nodePort: 30081}], {ipFamilies: ['IPv6', 'IPv4']})
    const plan = buildPlan(makeSnapshot({services: [v6, dual], nodes}), options)
    expect(plan.services.map((s) => s.ports[0]?.targets.map((t) => t.address))).toEqual([
      ['fd00::11', '192.168.1.11'],
      ['fd00::11'],
    ])
  })

  it('warns when no node has an address of the Service family', () => {
    const plan = buildPlan(
      makeSnapshot({services: [nodePortService('v6', [{nodePort: 30080}], {ipFamilies: ['IPv6']})], nodes: threeNodes}),
      options,
    )
    expect(plan.services[0]?.warnings).toEqual(['no node has an IPv6 address: no targets'])
  })

  it('takes the family from clusterIP when ipFamilies is missing', () => {
    const nodes = [
      makeNode('node-a', '192.168.1.11', {
        addresses: [
          {type: 'InternalIP', address: '192.168.1.11'},
          {type: 'InternalIP', address: 'fd00::11'},
        ],
      }),
    ]
    const svc = nodePortService('old', [{nodePort: 30080}], {ipFamilies: [], clusterIP: 'fd00:43::10'})
    expect(
      buildPlan(makeSnapshot({services: [svc], nodes}), options).services[0]?.ports[0]?.targets.map((t) => t.address),
    ).toEqual(['fd00::11'])
  })

  it('with externalTrafficPolicy Local targets only nodes hosting a ready endpoint of that Service', () => {
    const svc = makeService('pihole', {
      namespace: 'dns',
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 32053,
      ports: [{port: 53, protocol: 'UDP', nodePort: 30053}],
    })
    const slices = [
      makeSlice('pihole', [{nodeName: 'node-b'}, {nodeName: 'node-c', ready: false}], 'dns'),
      makeSlice('pihole', [{nodeName: 'node-a'}], 'other-namespace'),
      makeSlice('other', [{nodeName: 'node-a'}], 'dns'),
    ]
    const plan = buildPlan(makeSnapshot({services: [svc], nodes: threeNodes, endpointSlices: slices}), options)
    expect(plan.services[0]).toMatchObject({
      exposure: 'lb-pending',
      healthCheckNodePort: 32053,
      externalTrafficPolicy: 'Local',
    })
    expect(plan.services[0]?.ports[0]?.targets).toEqual([{node: 'node-b', address: '192.168.1.12', port: 30053}])
  })

  it('with externalTrafficPolicy Local and no ready endpoint there are no targets, with a warning', () => {
    const svc = nodePortService('web', [{nodePort: 30080}], {externalTrafficPolicy: 'Local'})
    const plan = buildPlan(
      makeSnapshot({
        services: [svc],
        nodes: threeNodes,
        endpointSlices: [makeSlice('web', [{nodeName: 'node-a', ready: false}])],
      }),
      options,
    )
    expect(plan.services[0]?.ports[0]?.targets).toEqual([])
    expect(plan.services[0]?.warnings).toEqual([
      'externalTrafficPolicy is Local and no eligible node hosts a ready endpoint: no targets',
    ])
  })

  it('gives a port no targets when allocateLoadBalancerNodePorts is false, with a warning', () => {
    const svc = makeService('lb', {
      type: 'LoadBalancer',
      allocateLoadBalancerNodePorts: false,
      ports: [
        {port: 80, protocol: 'TCP'},
        {port: 81, protocol: 'TCP', nodePort: 30081},
      ],
    })
    const plan = buildPlan(makeSnapshot({services: [svc], nodes: [makeNode('node-a', '10.0.0.1')]}), options)
    expect(plan.services[0]?.ports.map((p) => p.targets.length)).toEqual([0, 1])
    expect(plan.services[0]?.warnings).toEqual([
      'port 80/TCP: allocateLoadBalancerNodePorts is false, so it has no NodePort to forward to; it needs an in-cluster load balancer',
    ])
  })

  it('keys ports by (port, protocol): 53/TCP and 53/UDP on one nodePort are two ports, a repeated pair is one', () => {
    const svc = nodePortService('dns', [
      {name: 'dns-tcp', port: 53, protocol: 'TCP', nodePort: 30053},
      {name: 'dns-udp', port: 53, protocol: 'UDP', nodePort: 30053},
      {name: 'dns-tcp-again', port: 53, protocol: 'TCP', nodePort: 30054},
    ])
    const plan = buildPlan(makeSnapshot({services: [svc], nodes: [makeNode('node-a', '10.0.0.1')]}), options)
    expect(plan.services[0]?.ports.map((p) => [p.name, p.protocol, p.mode, p.targets.map((t) => t.port)])).toEqual([
      ['dns-tcp', 'TCP', 'tcp', [30053]],
      ['dns-udp', 'UDP', 'udp', [30053]],
    ])
  })

  it('skips SCTP ports with a warning', () => {
    const svc = nodePortService('sig', [{port: 3868, protocol: 'SCTP', nodePort: 30868}])
    const plan = buildPlan(makeSnapshot({services: [svc], nodes: [makeNode('node-a', '10.0.0.1')]}), options)
    expect(plan.services[0]?.ports[0]?.targets).toEqual([])
    expect(plan.services[0]?.warnings).toEqual(['port 3868/SCTP: SCTP cannot be forwarded from a workstation; skipped'])
  })

  it('maps no targets for cluster-only and lb-ready Services', () => {
    const services = [
      makeService('grafana', {ports: [{port: 3000, protocol: 'TCP'}]}),
      makeService('traefik', {
        type: 'LoadBalancer',
        loadBalancerIngress: [{ip: '192.168.1.240'}],
        ports: [{port: 80, protocol: 'TCP', nodePort: 31718}],
      }),
    ]
    const plan = buildPlan(makeSnapshot({services, nodes: threeNodes}), options)
    expect(plan.services.map((s) => [s.name, s.exposure, s.loadBalancerIngress, s.ports[0]?.targets])).toEqual([
      ['grafana', 'cluster-only', [], []],
      ['traefik', 'lb-ready', ['192.168.1.240'], []],
    ])
  })
})

describe('buildPlan names', () => {
  const names = (services: Service[], domain = 'kube.internal') => {
    const plan = buildPlan(makeSnapshot({services, nodes: threeNodes}), {...options, domain})
    return {names: Object.fromEntries(plan.services.map((s) => [`${s.namespace}/${s.name}`, s.names])), plan}
  }

  it('gives the short name only when the service name is unique among mapped Services', () => {
    const {names: got} = names([
      nodePortService('web', [{nodePort: 30080}], {namespace: 'a'}),
      nodePortService('web', [{nodePort: 30081}], {namespace: 'b'}),
      makeService('web', {namespace: 'c'}),
      nodePortService('homer', [{nodePort: 30082}]),
    ])
    expect(got).toEqual({
      'a/web': ['web.a.kube.internal'],
      'b/web': ['web.b.kube.internal'],
      'c/web': [],
      'default/homer': ['homer.default.kube.internal', 'homer.kube.internal'],
    })
  })

  it('adds names from the expose-lb/hostname annotation and skips invalid ones with a warning', () => {
    const svc = nodePortService('radarr', [{nodePort: 30878}], {
      namespace: 'media',
      annotations: {'expose-lb/hostname': 'Movies, films.kube.internal., bad_name, radarr.example.com,,'},
    })
    const {names: got, plan} = names([svc])
    expect(got).toEqual({
      'media/radarr': [
        'radarr.media.kube.internal',
        'radarr.kube.internal',
        'movies.kube.internal',
        'films.kube.internal',
      ],
    })
    expect(plan.services[0]?.warnings).toEqual([
      'annotation expose-lb/hostname: "bad_name" is not a valid DNS name; skipped',
      'annotation expose-lb/hostname: "radarr.example.com" is outside the zone kube.internal; skipped (use a single label or a name ending in .kube.internal)',
    ])
  })

  it('uses the --domain given', () => {
    expect(names([nodePortService('homer', [{nodePort: 30080}])], 'lab.example').names).toEqual({
      'default/homer': ['homer.default.lab.example', 'homer.lab.example'],
    })
  })

  it('takes a name claimed by two Services from both, keeping their long names, and warns', () => {
    const {names: got, plan} = names([
      nodePortService('sonarr', [{nodePort: 30989}], {annotations: {'expose-lb/hostname': 'tv'}}),
      nodePortService('jellyfin', [{nodePort: 30096}], {annotations: {'expose-lb/hostname': 'tv'}}),
    ])
    expect(got).toEqual({
      'default/jellyfin': ['jellyfin.default.kube.internal', 'jellyfin.kube.internal'],
      'default/sonarr': ['sonarr.default.kube.internal', 'sonarr.kube.internal'],
    })
    expect(plan.warnings).toEqual([
      'name tv.kube.internal is claimed by default/jellyfin and default/sonarr: neither gets it',
    ])
    expect(plan.services[0]?.warnings).toEqual(['name tv.kube.internal is also claimed by default/sonarr; skipped'])
  })

  it("keeps serve's dashboard names: a Service named expose-lb keeps only its long name, with a warning", () => {
    const {names: got, plan} = names([
      nodePortService('expose-lb', [{nodePort: 30001}]),
      nodePortService('apex', [{nodePort: 30002}], {annotations: {'expose-lb/hostname': 'expose-lb'}}),
    ])
    expect(got).toEqual({
      'default/apex': ['apex.default.kube.internal', 'apex.kube.internal'],
      'default/expose-lb': ['expose-lb.default.kube.internal'],
    })
    expect(plan.warnings).toEqual([])
    expect(plan.services.map((s) => s.warnings)).toEqual([
      [
        "name expose-lb.kube.internal is reserved for serve's dashboard; skipped (the Service keeps apex.default.kube.internal)",
      ],
      [
        "name expose-lb.kube.internal is reserved for serve's dashboard; skipped (the Service keeps expose-lb.default.kube.internal)",
      ],
    ])
  })

  it('never lets an annotation take another Service its long name', () => {
    const {names: got, plan} = names([
      nodePortService('a', [{nodePort: 30001}], {annotations: {'expose-lb/hostname': 'b.default.kube.internal'}}),
      nodePortService('b', [{nodePort: 30002}]),
    ])
    expect(got['default/a']).toEqual(['a.default.kube.internal', 'a.kube.internal'])
    expect(got['default/b']).toEqual(['b.default.kube.internal', 'b.kube.internal'])
    expect(plan.services[0]?.warnings).toEqual(['name b.default.kube.internal belongs to another Service; skipped'])
  })

  it('gives lb-ready Services names (they answer the load balancer address) and cluster-only ones none', () => {
    const {names: got} = names([
      makeService('traefik', {
        namespace: 'kube-system',
        type: 'LoadBalancer',
        loadBalancerIngress: [{ip: '192.168.1.240'}],
      }),
      makeService('db', {clusterIP: 'None'}),
      makeService('ext', {type: 'ExternalName', externalName: 'example.org'}),
    ])
    expect(got).toEqual({
      'default/db': [],
      'default/ext': [],
      'kube-system/traefik': ['traefik.kube-system.kube.internal', 'traefik.kube.internal'],
    })
  })
})
