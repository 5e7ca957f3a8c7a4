// One case per pending reason code, built from the real texts, annotations and objects quoted in
// /work/shared/research/pending-reasons.md (section numbers and examples named per case).
import {describe, expect, it} from 'vitest'
import {COUNT_KEYS, detectLoadBalancers} from '../../src/detect/detect.js'
import {diagnoseServices} from '../../src/lb/diagnose.js'
import type {ClusterEvent, LbPod, Pending, PendingReason, PendingSignals} from '../../src/lb/types.js'
import type {DetectionSignals, Node, Service} from '../../src/plan/types.js'
import {emptySignals, makeNode, makeService, makeWorkload} from '../builders.js'

interface Case {
  nodes?: Node[]
  services: Service[]
  signals?: Partial<DetectionSignals>
  pending?: Partial<PendingSignals>
  /** The Service whose diagnosis is checked; default/web unless said. */
  key?: string
}

function diagnose(c: Case): Pending | undefined {
  const nodes = c.nodes ?? [makeNode('node1', '192.168.1.10')]
  const signals = emptySignals(c.signals)
  const detection = detectLoadBalancers({nodes, services: c.services, signals})
  const pending: PendingSignals = {events: [], pods: [], unavailable: [], ...c.pending}
  return diagnoseServices({services: c.services, nodes, signals, detection, pending}).get(c.key ?? 'default/web')
}

const lb = (name: string, overrides: Partial<Service> = {}) => makeService(name, {type: 'LoadBalancer', ...overrides})
const web = (overrides: Partial<Service> = {}) => lb('web', overrides)

function event(reason: string, message: string, source: string, overrides: Partial<ClusterEvent> = {}): ClusterEvent {
  return {
    regarding: {kind: 'Service', namespace: 'default', name: 'web'},
    type: 'Warning',
    reason,
    message,
    source,
    count: 1,
    lastSeen: '2025-09-18T19:08:17Z',
    ...overrides,
  }
}

const k3sNode = (name: string, ip: string, args: string[], overrides: Partial<Node> = {}) =>
  makeNode(name, ip, {
    providerID: `k3s://${name}`,
    kubeletVersion: 'v1.31.5+k3s1',
    annotations: {'k3s.io/node-args': JSON.stringify(args)},
    ...overrides,
  })

function svclbPod(svc: string, name: string, ready: boolean, ports = [80, 443], namespace = 'default'): LbPod {
  return {
    namespace: 'kube-system',
    name,
    labels: {'svccontroller.k3s.cattle.io/svcname': svc, 'svccontroller.k3s.cattle.io/svcnamespace': namespace},
    phase: ready ? 'Running' : 'Pending',
    ready,
    ...(ready ? {nodeName: 'k3d-vyking-dev-agent-0'} : {unscheduled: {reason: 'Unschedulable'}}),
    hostPorts: ports.map((port) => ({port, protocol: 'TCP'})),
  }
}

const metallbInstalled = (pools: number, ads = 1): Partial<DetectionSignals> => ({
  apiGroups: ['metallb.io'],
  workloads: [
    makeWorkload('Deployment', 'metallb-system', 'controller', {
      labels: {app: 'metallb', component: 'controller'},
      pods: {desired: 1, ready: 1},
    }),
  ],
  customObjectCounts: {[COUNT_KEYS.metallbPools]: pools, [COUNT_KEYS.metallbL2Advertisements]: ads},
})
const pool = (name: string, addresses: string[], overrides = {}) => ({
  namespace: 'metallb-system',
  name,
  labels: {},
  addresses,
  autoAssign: true,
  ...overrides,
})

// pending-reasons.md §1.3 / E1.
const FREE_PORTS =
  "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 2 Preemption is not helpful for scheduling."
// §2.4, a real k3d node-args value.
const NODE_ARGS_DISABLED = [
  'server',
  '--cluster-cidr',
  '10.118.0.0/17',
  '--service-cidr',
  '10.118.128.0/17',
  '--disable',
  'servicelb',
  '--disable',
  'traefik',
  '--tls-san',
  '0.0.0.0',
]

const CASES: Array<[string, PendingReason, Case, Partial<Pending>]> = [
  [
    'bare metal without a cloud provider: no implementation and no events (§1.2, E8)',
    'no-implementation',
    {services: [web()]},
    {evidence: ['load balancers detected: none', 'status.loadBalancer: {}', 'no events about it']},
  ],
  [
    'a class no detected controller claims, on k3s where ServiceLB ignores classed Services (§0.1, E2)',
    'class-not-served',
    {
      nodes: [k3sNode('server1', '192.168.1.10', ['server'])],
      services: [web({loadBalancerClass: 'io.cilium/bgp-control-plane'})],
    },
    {
      evidence: [
        'spec.loadBalancerClass: io.cilium/bgp-control-plane',
        'load balancers detected: k3s-servicelb (not serving)',
        'no events about it',
      ],
    },
  ],
  [
    'k3s started with --disable servicelb, read from k3s.io/node-args (§2.4)',
    'servicelb-disabled',
    {nodes: [k3sNode('k3d-server-0', '172.18.0.2', NODE_ARGS_DISABLED)], services: [web()]},
    {
      message:
        'k3s runs with `--disable servicelb` (node k3d-server-0), so ServiceLB is off and nothing else gives LoadBalancer Services an address',
      evidence: [`node k3d-server-0 annotation k3s.io/node-args: ${JSON.stringify(NODE_ARGS_DISABLED)}`],
    },
  ],
  [
    "ingress-nginx's svclb pods Pending because Traefik holds 80/443 (§2.3, E1)",
    'servicelb-port-conflict',
    {
      nodes: [k3sNode('k3d-vyking-dev-server-0', '172.18.0.2', ['server'])],
      services: [
        lb('traefik', {
          namespace: 'kube-system',
          ports: [
            {port: 80, protocol: 'TCP', nodePort: 31468},
            {port: 443, protocol: 'TCP', nodePort: 31509},
          ],
          loadBalancerIngress: [{ip: '172.18.0.2'}],
        }),
        lb('ingress-nginx-controller', {
          namespace: 'ingress-nginx',
          ports: [
            {port: 80, protocol: 'TCP', nodePort: 32765},
            {port: 443, protocol: 'TCP', nodePort: 30795},
          ],
        }),
      ],
      signals: {
        workloads: [
          makeWorkload('DaemonSet', 'kube-system', 'svclb-traefik-57d28a11', {
            labels: {'svccontroller.k3s.cattle.io/svcname': 'traefik'},
          }),
        ],
      },
      pending: {
        pods: [
          svclbPod('traefik', 'svclb-traefik-57d28a11-czhkk', true, [80, 443], 'kube-system'),
          svclbPod(
            'ingress-nginx-controller',
            'svclb-ingress-nginx-controller-cfddc8d6-4dfjw',
            false,
            [80, 443],
            'ingress-nginx',
          ),
        ],
        events: [
          event('FailedScheduling', FREE_PORTS, 'default-scheduler', {
            regarding: {kind: 'Pod', namespace: 'kube-system', name: 'svclb-ingress-nginx-controller-cfddc8d6-4dfjw'},
          }),
        ],
      },
      key: 'ingress-nginx/ingress-nginx-controller',
    },
    {
      message:
        'its svclb pods cannot be scheduled: ports 80/TCP, 443/TCP are already taken on the nodes, held by Service kube-system/traefik (80/TCP, 443/TCP)',
      evidence: [
        `Pod kube-system/svclb-ingress-nginx-controller-cfddc8d6-4dfjw: Warning FailedScheduling from default-scheduler: ${FREE_PORTS}`,
        'svclb pods not ready: kube-system/svclb-ingress-nginx-controller-cfddc8d6-4dfjw (Pending)',
        'Service kube-system/traefik holds 80/TCP, 443/TCP: svclb pods ready: svclb-traefik-57d28a11-czhkk on k3d-vyking-dev-agent-0',
      ],
    },
  ],
  [
    'every node opted out with svccontroller.k3s.cattle.io/enablelb=false (§2.5)',
    'servicelb-no-eligible-node',
    {
      nodes: [
        k3sNode('server1', '192.168.1.10', ['server'], {
          labels: {'kubernetes.io/hostname': 'server1', 'svccontroller.k3s.cattle.io/enablelb': 'false'},
        }),
      ],
      services: [web()],
    },
    {evidence: ['node server1 label svccontroller.k3s.cattle.io/enablelb=false']},
  ],
  [
    'MetalLB with no IPAddressPool: no event, inferred from the CRs (§3.3)',
    'metallb-no-pool',
    {services: [web()], signals: metallbInstalled(0), pending: {metallbPools: [], metallbAdvertisements: []}},
    {evidence: ['ipaddresspools.metallb.io: none in any namespace']},
  ],
  [
    'MetalLB AllocationFailed: the pinned pool is full (§3.2)',
    'metallb-pool-exhausted',
    {
      services: [web()],
      signals: metallbInstalled(1),
      pending: {
        events: [
          event(
            'AllocationFailed',
            'Failed to allocate IP for "default/web": no available IPs in pool default-pool',
            'metallb-controller',
          ),
        ],
        metallbPools: [pool('default-pool', ['192.168.1.240/32'])],
      },
    },
    {
      message: 'MetalLB could not give it an address: no available IPs in pool default-pool',
      evidence: [
        'Warning AllocationFailed from metallb-controller: Failed to allocate IP for "default/web": no available IPs in pool default-pool',
        'IPAddressPools: metallb-system/default-pool (192.168.1.240/32)',
      ],
    },
  ],
  [
    'MetalLB AllocationFailed: the address-pool annotation names no pool (§3.2)',
    'metallb-pool-not-found',
    {
      services: [web({annotations: {'metallb.io/address-pool': 'production'}})],
      signals: metallbInstalled(1),
      pending: {
        events: [
          event(
            'AllocationFailed',
            'Failed to allocate IP for "default/web": unknown pool "production"',
            'metallb-controller',
          ),
        ],
      },
    },
    {message: 'MetalLB could not give it an address: unknown pool "production"'},
  ],
  [
    'MetalLB v0.9 sharing-key clash, lower-case wording (E5, metallb#788)',
    'metallb-ip-unavailable',
    {
      services: [
        web({namespace: 'pihole', name: 'pihole-tcp', annotations: {'metallb.universe.tf/allow-shared-ip': 'pihole'}}),
      ],
      signals: metallbInstalled(1),
      pending: {
        events: [
          event(
            'AllocationFailed',
            'failed to allocate IP for "pihole/pihole-tcp": can\'t change sharing key for "pihole/pihole-tcp", address also in use by pihole/pihole-udp',
            'metallb-controller',
            {regarding: {kind: 'Service', namespace: 'pihole', name: 'pihole-tcp'}},
          ),
        ],
      },
      key: 'pihole/pihole-tcp',
    },
    {
      message:
        'MetalLB could not give it an address: can\'t change sharing key for "pihole/pihole-tcp", address also in use by pihole/pihole-udp',
    },
  ],
  [
    'MetalLB assigned an address from a pool no advertisement announces (§3.5)',
    'metallb-not-advertised',
    {
      services: [
        web({
          annotations: {'metallb.io/ip-allocated-from-pool': 'lan'},
          loadBalancerIngress: [{ip: '192.168.1.240'}],
        }),
      ],
      signals: metallbInstalled(1, 1),
      pending: {
        metallbPools: [pool('lan', ['192.168.1.240-192.168.1.250']), pool('dmz', ['10.0.0.0/28'])],
        metallbAdvertisements: [
          {
            kind: 'L2Advertisement',
            namespace: 'metallb-system',
            name: 'dmz',
            ipAddressPools: ['dmz'],
            poolSelectors: [],
          },
        ],
      },
    },
    {
      evidence: [
        'annotation metallb.io/ip-allocated-from-pool: lan',
        'status.loadBalancer.ingress: 192.168.1.240',
        'advertisements: L2Advertisement metallb-system/dmz (ipAddressPools: dmz)',
      ],
    },
  ],
  [
    'Cilium condition no_pool (§4.1)',
    'cilium-no-pool',
    {
      services: [
        web({
          conditions: [
            {
              type: 'cilium.io/IPAMRequestSatisfied',
              status: 'False',
              reason: 'no_pool',
              message: 'There are no enabled CiliumLoadBalancerIPPools that match this service',
            },
          ],
        }),
      ],
    },
    {
      message: 'Cilium LB-IPAM says: There are no enabled CiliumLoadBalancerIPPools that match this service',
      evidence: [
        'status.conditions cilium.io/IPAMRequestSatisfied: False, reason no_pool: There are no enabled CiliumLoadBalancerIPPools that match this service',
      ],
    },
  ],
  [
    'Cilium condition out_of_ips (§4.1)',
    'cilium-pool-exhausted',
    {
      services: [
        web({
          conditions: [
            {
              type: 'cilium.io/IPAMRequestSatisfied',
              status: 'False',
              reason: 'out_of_ips',
              message: 'All enabled CiliumLoadBalancerIPPools that match this service ran out of allocatable IPs',
            },
          ],
        }),
      ],
    },
    {},
  ],
  [
    'Cilium 1.16.2 sharing-key clash on a requested IP (§4.1, cilium#30692)',
    'cilium-ip-unavailable',
    {
      services: [
        web({
          conditions: [
            {
              type: 'cilium.io/IPAMRequestSatisfied',
              status: 'False',
              reason: 'already_allocated_different_sharing_key',
              message: "The IP '192.100.1.152' is already allocated to another service with a different sharing key",
            },
          ],
        }),
      ],
    },
    {},
  ],
  [
    'kube-vip-cloud-provider without a range: SyncLoadBalancerFailed (§5)',
    'kube-vip-no-range',
    {
      services: [web()],
      signals: {
        workloads: [
          makeWorkload('Deployment', 'kube-system', 'kube-vip-cloud-provider', {pods: {desired: 1, ready: 1}}),
        ],
        configMaps: {'kube-system/kubevip': {}},
      },
      pending: {
        events: [
          event(
            'SyncLoadBalancerFailed',
            'Error syncing load balancer: failed to ensure load balancer: no address pools could be found',
            'service-controller',
          ),
        ],
      },
    },
    {
      evidence: [
        'Warning SyncLoadBalancerFailed from service-controller: Error syncing load balancer: failed to ensure load balancer: no address pools could be found',
        'ConfigMap kube-system/kubevip data: (empty)',
      ],
    },
  ],
  [
    "MetalLB's controller Deployment has no ready pod",
    'controller-not-running',
    {
      services: [web()],
      signals: {
        ...metallbInstalled(1),
        workloads: [
          makeWorkload('Deployment', 'metallb-system', 'controller', {
            labels: {app: 'metallb', component: 'controller'},
            pods: {desired: 1, ready: 0},
          }),
        ],
      },
    },
    {evidence: ['Deployment metallb-system/controller: 0/1 pods ready']},
  ],
  [
    'a Warning from a controller this tool has no module for (kube-vip-cloud-provider#14)',
    'event',
    {
      services: [web()],
      pending: {
        events: [
          event('UnAvailableLoadBalancer', 'There are no available nodes for LoadBalancer', 'service-controller'),
        ],
      },
    },
    {
      message: 'service-controller reported UnAvailableLoadBalancer: There are no available nodes for LoadBalancer',
      evidence: [
        'Warning UnAvailableLoadBalancer from service-controller: There are no available nodes for LoadBalancer',
      ],
    },
  ],
  [
    'MetalLB serves, and left nothing on the Service',
    'unknown',
    {services: [web()], signals: metallbInstalled(1), pending: {metallbPools: [pool('lan', ['192.168.1.240/29'])]}},
    {evidence: ['load balancers detected: metallb', 'status.loadBalancer: {}', 'no events about it']},
  ],
]

describe('diagnoseServices: one case per reason code', () => {
  it.each(CASES)('%s → %s', (_name, reason, cluster, expected) => {
    const pending = diagnose(cluster)
    expect(pending).toMatchObject({reason, ...expected})
    expect(pending?.message).not.toBe('')
    expect(pending?.fix).not.toBe('')
    expect(pending?.evidence.length).toBeGreaterThan(0)
  })

  it('covers every code', () => {
    const codes = new Set(CASES.map(([, reason]) => reason))
    expect([...codes].sort()).toEqual(
      [
        'no-implementation',
        'class-not-served',
        'servicelb-disabled',
        'servicelb-port-conflict',
        'servicelb-no-eligible-node',
        'metallb-no-pool',
        'metallb-pool-exhausted',
        'metallb-pool-not-found',
        'metallb-ip-unavailable',
        'metallb-not-advertised',
        'cilium-no-pool',
        'cilium-pool-exhausted',
        'cilium-ip-unavailable',
        'kube-vip-no-range',
        'controller-not-running',
        'event',
        'unknown',
      ].sort(),
    )
  })
})

describe('diagnoseServices: inferred from objects when no event says it', () => {
  it.each<[string, Case, Partial<Pending>]>([
    [
      'an address-pool annotation naming no IPAddressPool',
      {
        services: [web({annotations: {'metallb.universe.tf/address-pool': 'production'}})],
        signals: metallbInstalled(1),
        pending: {metallbPools: [pool('lan', ['192.168.1.240/29'])]},
      },
      {
        reason: 'metallb-pool-not-found',
        evidence: [
          'annotation metallb.universe.tf/address-pool: production',
          'IPAddressPools: metallb-system/lan (192.168.1.240/29)',
        ],
      },
    ],
    [
      'spec.loadBalancerIP outside every pool',
      {
        services: [web({loadBalancerIP: '4.3.2.1'})],
        signals: metallbInstalled(1),
        pending: {metallbPools: [pool('lan', ['192.168.1.240-192.168.1.250'])]},
      },
      {reason: 'metallb-ip-unavailable', message: 'spec.loadBalancerIP asks for 4.3.2.1, which is in no IPAddressPool'},
    ],
    [
      'pools whose status shows no free IPv4 address (MetalLB v0.15+)',
      {
        services: [web()],
        signals: metallbInstalled(1),
        pending: {metallbPools: [pool('lan', ['192.168.1.240/31'], {available: {ipv4: 0}})]},
      },
      {reason: 'metallb-pool-exhausted'},
    ],
    [
      'the kubevip ConfigMap without a key for the namespace or global',
      {
        services: [web()],
        signals: {
          workloads: [makeWorkload('Deployment', 'kube-system', 'kube-vip-cloud-provider')],
          configMaps: {'kube-system/kubevip': {'cidr-media': '192.168.1.224/28'}},
        },
      },
      {reason: 'kube-vip-no-range', evidence: ['ConfigMap kube-system/kubevip data: cidr-media=192.168.1.224/28']},
    ],
    [
      'kube-vip-cloud-provider chose an address but kube-vip does not serve Services (E7)',
      {
        services: [web({loadBalancerIP: '172.28.128.190'})],
        signals: {
          workloads: [
            makeWorkload('Deployment', 'kube-system', 'kube-vip-cloud-provider'),
            makeWorkload('DaemonSet', 'kube-system', 'kube-vip-ds'),
          ],
          configMaps: {'kube-system/kubevip': {'range-global': '172.28.128.190-172.28.128.199'}},
        },
      },
      {
        reason: 'controller-not-running',
        evidence: ['spec.loadBalancerIP: 172.28.128.190', 'DaemonSet kube-system/kube-vip-ds env svc_enable=(unset)'],
      },
    ],
    [
      'a Cilium cluster with no pool: no condition at all (§4.2)',
      {
        services: [web()],
        signals: {apiGroups: ['cilium.io'], customObjectCounts: {[COUNT_KEYS.ciliumPools]: 0}},
      },
      {reason: 'cilium-no-pool', evidence: ['ciliumloadbalancerippools.cilium.io: none enabled']},
    ],
  ])('%s', (_name, cluster, expected) => {
    expect(diagnose(cluster)).toMatchObject(expected)
  })

  it('a Service with an address and an announcing advertisement needs nothing said', () => {
    expect(
      diagnose({
        services: [
          web({
            annotations: {'metallb.io/ip-allocated-from-pool': 'lan'},
            loadBalancerIngress: [{ip: '192.168.1.240'}],
          }),
        ],
        signals: metallbInstalled(1),
        pending: {
          metallbPools: [pool('lan', ['192.168.1.240/29'])],
          metallbAdvertisements: [
            {kind: 'L2Advertisement', namespace: 'metallb-system', name: 'all', ipAddressPools: [], poolSelectors: []},
          ],
        },
      }),
    ).toBeUndefined()
  })

  it('names the reads that were forbidden, and says the events could not be read', () => {
    const pending = diagnose({services: [web()], pending: {unavailable: ['list events (forbidden)']}})
    expect(pending).toMatchObject({
      reason: 'no-implementation',
      unavailable: ['list events (forbidden)'],
      evidence: ['load balancers detected: none', 'status.loadBalancer: {}', 'its events could not be read'],
    })
  })
})
