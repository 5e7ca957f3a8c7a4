import {describe, expect, it} from 'vitest'
import {COUNT_KEYS, detectLoadBalancers} from '../../src/detect/detect.js'
import type {
  DetectedLoadBalancer,
  Detection,
  DetectionSignals,
  Node,
  Recommendation,
  Service,
} from '../../src/plan/types.js'
import {emptySignals, makeNode, makeService, makeWorkload} from '../builders.js'

interface Cluster {
  nodes?: Node[]
  services?: Service[]
  signals?: Partial<DetectionSignals>
}

/** A plain kubeadm-like node unless a case says otherwise. */
const plainNode = makeNode('node1', '192.168.1.10')

function detect(cluster: Cluster): Detection {
  return detectLoadBalancers({
    nodes: cluster.nodes ?? [plainNode],
    services: cluster.services ?? [],
    signals: emptySignals(cluster.signals),
  })
}

function k3sNode(name = 'server1', ip = '192.168.1.10', overrides: Partial<Node> = {}): Node {
  return makeNode(name, ip, {providerID: `k3s://${name}`, kubeletVersion: 'v1.33.4+k3s1', ...overrides})
}

function rke2Node(name = 'server1', ip = '192.168.1.10', overrides: Partial<Node> = {}): Node {
  return makeNode(name, ip, {providerID: `rke2://${name}`, ...overrides})
}

function withNodeArgs(node: Node, args: string[], key = 'k3s.io/node-args'): Node {
  return {...node, annotations: {...node.annotations, [key]: JSON.stringify(args)}}
}

function lbService(namespace: string, name: string, overrides: Partial<Service> = {}): Service {
  return makeService(name, {namespace, type: 'LoadBalancer', ...overrides})
}

const kindNode = makeNode('kind-control-plane', '172.18.0.2', {providerID: 'kind://docker/kind/kind-control-plane'})
const minikubeNode = makeNode('minikube', '192.168.49.2', {
  labels: {'kubernetes.io/hostname': 'minikube', 'minikube.k8s.io/name': 'minikube', 'minikube.k8s.io/primary': 'true'},
})
const microk8sNode = makeNode('mk8s', '10.0.0.5', {labels: {'microk8s.io/cluster': 'true'}})

const metallbServing: Partial<DetectionSignals> = {
  apiGroups: ['metallb.io'],
  customObjectCounts: {[COUNT_KEYS.metallbPools]: 1, [COUNT_KEYS.metallbL2Advertisements]: 1},
}

describe('detectLoadBalancers: what is detected', () => {
  it.each<[string, Cluster, DetectedLoadBalancer[]]>([
    // MetalLB
    [
      'MetalLB from its API group alone, serving unknown',
      {signals: {apiGroups: ['metallb.io']}},
      [{name: 'metallb', evidence: ['API group metallb.io'], serving: false}],
    ],
    [
      'MetalLB from its manifest workloads',
      {
        signals: {
          workloads: [
            makeWorkload('Deployment', 'metallb-system', 'controller', {
              labels: {app: 'metallb', component: 'controller'},
            }),
            makeWorkload('DaemonSet', 'metallb-system', 'speaker', {labels: {app: 'metallb', component: 'speaker'}}),
          ],
        },
      },
      [
        {
          name: 'metallb',
          evidence: ['Deployment metallb-system/controller', 'DaemonSet metallb-system/speaker'],
          serving: false,
        },
      ],
    ],
    [
      'MetalLB from Helm labels in a namespace of the user’s choosing',
      {
        signals: {
          workloads: [
            makeWorkload('Deployment', 'metallb', 'metallb-controller', {
              labels: {'app.kubernetes.io/name': 'metallb', 'app.kubernetes.io/component': 'controller'},
            }),
            makeWorkload('DaemonSet', 'metallb', 'metallb-speaker', {
              labels: {'app.kubernetes.io/name': 'metallb', 'app.kubernetes.io/component': 'speaker'},
            }),
          ],
        },
      },
      [
        {
          name: 'metallb',
          evidence: ['Deployment metallb/metallb-controller', 'DaemonSet metallb/metallb-speaker'],
          serving: false,
        },
      ],
    ],
    [
      'MetalLB from its speaker image when labels were changed',
      {
        signals: {
          workloads: [makeWorkload('DaemonSet', 'lb', 'announcer', {images: ['quay.io/metallb/speaker:v0.15.2']})],
        },
      },
      [{name: 'metallb', evidence: ['DaemonSet lb/announcer'], serving: false}],
    ],
    [
      'MetalLB serving with pools and an L2Advertisement',
      {
        signals: {
          apiGroups: ['metallb.io'],
          customObjectCounts: {[COUNT_KEYS.metallbPools]: 2, [COUNT_KEYS.metallbL2Advertisements]: 1},
        },
      },
      [{name: 'metallb', evidence: ['API group metallb.io', '2 IPAddressPools, 1 L2Advertisement'], serving: true}],
    ],
    [
      'MetalLB serving with a pool and only a BGPAdvertisement',
      {
        signals: {
          apiGroups: ['metallb.io'],
          customObjectCounts: {
            [COUNT_KEYS.metallbPools]: 1,
            [COUNT_KEYS.metallbL2Advertisements]: 0,
            [COUNT_KEYS.metallbBgpAdvertisements]: 1,
          },
        },
      },
      [
        {
          name: 'metallb',
          evidence: ['API group metallb.io', '1 IPAddressPool, 0 L2Advertisements, 1 BGPAdvertisement'],
          serving: true,
        },
      ],
    ],
    [
      'MetalLB idle with a pool but no advertisement',
      {
        signals: {
          apiGroups: ['metallb.io'],
          customObjectCounts: {
            [COUNT_KEYS.metallbPools]: 1,
            [COUNT_KEYS.metallbL2Advertisements]: 0,
            [COUNT_KEYS.metallbBgpAdvertisements]: 0,
          },
        },
      },
      [{name: 'metallb', evidence: ['API group metallb.io', '1 IPAddressPool, 0 L2Advertisements'], serving: false}],
    ],
    [
      'MetalLB serving from the legacy ConfigMap with address-pools',
      {
        signals: {
          configMaps: {'metallb-system/config': {config: 'address-pools:\n- name: default\n  protocol: layer2\n'}},
        },
      },
      [{name: 'metallb', evidence: ['ConfigMap metallb-system/config with address-pools'], serving: true}],
    ],
    [
      'MetalLB serving from an allocated Service when its pools could not be read',
      {
        services: [
          lbService('dns', 'pihole', {
            annotations: {'metallb.io/ip-allocated-from-pool': 'default'},
            loadBalancerIngress: [{ip: '192.168.1.240'}],
          }),
          lbService('media', 'plex', {
            annotations: {'metallb.universe.tf/ip-allocated-from-pool': 'default'},
            loadBalancerIngress: [{ip: '192.168.1.241'}],
          }),
        ],
      },
      [
        {
          name: 'metallb',
          evidence: ['Service dns/pihole has annotation metallb.io/ip-allocated-from-pool (and 1 more)'],
          serving: true,
        },
      ],
    ],
    [
      'MetalLB idle despite an allocated Service when the pools are known to be gone',
      {
        services: [
          lbService('dns', 'pihole', {
            annotations: {'metallb.universe.tf/ip-allocated-from-pool': 'default'},
            loadBalancerIngress: [{ip: '192.168.1.240'}],
          }),
        ],
        signals: {customObjectCounts: {[COUNT_KEYS.metallbPools]: 0, [COUNT_KEYS.metallbL2Advertisements]: 0}},
      },
      [
        {
          name: 'metallb',
          evidence: [
            'Service dns/pihole has annotation metallb.universe.tf/ip-allocated-from-pool',
            '0 IPAddressPools, 0 L2Advertisements',
          ],
          serving: false,
        },
      ],
    ],
    [
      'nothing from counts that are all zero',
      {
        signals: {
          customObjectCounts: Object.fromEntries(Object.values(COUNT_KEYS).map((key) => [key, 0])),
        },
      },
      [],
    ],
    // k3s ServiceLB
    [
      'k3s ServiceLB serving from an svclb DaemonSet',
      {
        nodes: [k3sNode()],
        signals: {
          workloads: [
            makeWorkload('DaemonSet', 'kube-system', 'svclb-traefik-1a2b3c4d', {
              labels: {
                'svccontroller.k3s.cattle.io/svcname': 'traefik',
                'svccontroller.k3s.cattle.io/svcnamespace': 'kube-system',
              },
            }),
            makeWorkload('DaemonSet', 'kube-system', 'svclb-pihole-9f8e7d6c', {
              labels: {'svccontroller.k3s.cattle.io/svcname': 'pihole'},
            }),
          ],
        },
      },
      [
        {
          name: 'k3s-servicelb',
          evidence: [
            'DaemonSet kube-system/svclb-traefik-1a2b3c4d has label svccontroller.k3s.cattle.io/svcname (and 1 more)',
          ],
          serving: true,
        },
      ],
    ],
    [
      'RKE2 ServiceLB serving from its svclb label',
      {
        nodes: [rke2Node()],
        signals: {
          workloads: [
            makeWorkload('DaemonSet', 'kube-system', 'svclb-web-0a1b2c3d', {
              labels: {'svccontroller.rke2.cattle.io/svcname': 'web'},
            }),
          ],
        },
      },
      [
        {
          name: 'k3s-servicelb',
          evidence: ['DaemonSet kube-system/svclb-web-0a1b2c3d has label svccontroller.rke2.cattle.io/svcname'],
          serving: true,
        },
      ],
    ],
    [
      'old-style ServiceLB in the Service’s namespace, whatever the distro looks like',
      {
        signals: {
          workloads: [
            makeWorkload('DaemonSet', 'test-pods', 'svclb-web', {
              labels: {'svccontroller.k3s.cattle.io/svcname': 'web'},
            }),
          ],
        },
      },
      [
        {
          name: 'k3s-servicelb',
          evidence: ['DaemonSet test-pods/svclb-web has label svccontroller.k3s.cattle.io/svcname'],
          serving: true,
        },
      ],
    ],
    [
      'k3s ServiceLB serving from a Service whose load-balancer address is a node IP',
      {
        nodes: [k3sNode('server1', '192.168.1.10'), k3sNode('agent1', '192.168.1.11')],
        services: [
          lbService('kube-system', 'traefik', {loadBalancerIngress: [{ip: '192.168.1.10'}, {ip: '192.168.1.11'}]}),
        ],
      },
      [
        {
          name: 'k3s-servicelb',
          evidence: ['Service kube-system/traefik got node IP 192.168.1.10, 192.168.1.11 as its load-balancer address'],
          serving: true,
        },
      ],
    ],
    [
      'k3s ServiceLB enabled but idle on k3s with no LoadBalancer Service',
      {nodes: [k3sNode()]},
      [
        {
          name: 'k3s-servicelb',
          evidence: [
            'node providerID k3s://server1',
            'ServiceLB is on by default in k3s and no k3s.io/node-args disables it',
          ],
          serving: false,
        },
      ],
    ],
    [
      'not ServiceLB when a node-IP address belongs to a Service with a loadBalancerClass',
      {
        nodes: [withNodeArgs(k3sNode(), ['server', '--disable=servicelb'])],
        services: [
          lbService('web', 'site', {loadBalancerClass: 'io.cilium/node', loadBalancerIngress: [{ip: '192.168.1.10'}]}),
        ],
      },
      [],
    ],
    [
      'no node-IP evidence off k3s: a node IP there could be anything',
      {services: [lbService('web', 'site', {loadBalancerIngress: [{ip: '192.168.1.10'}]})]},
      [],
    ],
    [
      'RKE2 ServiceLB enabled but idle with --enable-servicelb',
      {nodes: [withNodeArgs(rke2Node(), ['server', '--enable-servicelb'], 'rke2.io/node-args')]},
      [
        {
          name: 'k3s-servicelb',
          evidence: ['node server1 rke2.io/node-args has --enable-servicelb'],
          serving: false,
        },
      ],
    ],
    ['no ServiceLB on RKE2 by default', {nodes: [rke2Node()]}, []],
    // kube-vip
    [
      'kube-vip serving from its DaemonSet with svc_enable',
      {
        signals: {
          workloads: [
            makeWorkload('DaemonSet', 'kube-system', 'kube-vip-ds', {
              labels: {'app.kubernetes.io/name': 'kube-vip-ds'},
              images: ['ghcr.io/kube-vip/kube-vip:v1.0.1'],
              env: {vip_arp: 'true', cp_enable: 'true', svc_enable: 'true'},
            }),
          ],
        },
      },
      [{name: 'kube-vip', evidence: ['DaemonSet kube-system/kube-vip-ds has env svc_enable=true'], serving: true}],
    ],
    [
      'kube-vip idle as a control-plane-only static pod',
      {
        signals: {
          workloads: [
            makeWorkload('Pod', 'kube-system', 'kube-vip-cp1', {
              images: ['ghcr.io/kube-vip/kube-vip:v1.0.1'],
              env: {cp_enable: 'true'},
            }),
          ],
        },
      },
      [{name: 'kube-vip', evidence: ['Pod kube-system/kube-vip-cp1'], serving: false}],
    ],
    [
      'kube-vip from its cloud provider and ConfigMap, not serving without kube-vip itself',
      {
        signals: {
          workloads: [
            makeWorkload('Deployment', 'kube-system', 'kube-vip-cloud-provider', {
              labels: {app: 'kube-vip', component: 'kube-vip-cloud-provider'},
              images: ['ghcr.io/kube-vip/kube-vip-cloud-provider:v0.0.12'],
            }),
          ],
          configMaps: {'kube-system/kubevip': {'range-global': '192.168.1.220-192.168.1.230'}},
        },
      },
      [
        {
          name: 'kube-vip',
          evidence: [
            'Deployment kube-system/kube-vip-cloud-provider',
            'ConfigMap kube-system/kubevip with range-global',
          ],
          serving: false,
        },
      ],
    ],
    [
      'kube-vip from the label its cloud provider puts on Services',
      {
        services: [
          lbService('web', 'site', {
            labels: {implementation: 'kube-vip'},
            loadBalancerIngress: [{ip: '192.168.1.220'}],
          }),
        ],
      },
      [{name: 'kube-vip', evidence: ['Service web/site has label implementation=kube-vip'], serving: false}],
    ],
    // Cilium
    [
      'Cilium without a pool',
      {
        signals: {
          apiGroups: ['cilium.io'],
          workloads: [
            makeWorkload('DaemonSet', 'kube-system', 'cilium', {labels: {'k8s-app': 'cilium'}}),
            makeWorkload('Deployment', 'kube-system', 'cilium-operator', {labels: {'io.cilium/app': 'operator'}}),
          ],
          customObjectCounts: {[COUNT_KEYS.ciliumPools]: 0, [COUNT_KEYS.ciliumL2Policies]: 0},
        },
      },
      [
        {
          name: 'cilium',
          evidence: [
            'API group cilium.io',
            'DaemonSet kube-system/cilium',
            'Deployment kube-system/cilium-operator',
            '0 CiliumLoadBalancerIPPools, 0 CiliumL2AnnouncementPolicies',
          ],
          serving: false,
        },
      ],
    ],
    [
      'Cilium LB-IPAM serving with a pool',
      {
        signals: {
          apiGroups: ['cilium.io'],
          customObjectCounts: {[COUNT_KEYS.ciliumPools]: 1, [COUNT_KEYS.ciliumL2Policies]: 1},
        },
      },
      [
        {
          name: 'cilium',
          evidence: ['API group cilium.io', '1 CiliumLoadBalancerIPPool, 1 CiliumL2AnnouncementPolicy'],
          serving: true,
        },
      ],
    ],
    // OpenELB
    [
      'OpenELB serving with an Eip',
      {signals: {apiGroups: ['network.kubesphere.io'], customObjectCounts: {[COUNT_KEYS.openelbEips]: 1}}},
      [{name: 'openelb', evidence: ['API group network.kubesphere.io', '1 Eip'], serving: true}],
    ],
    [
      'OpenELB idle from its workloads',
      {
        signals: {
          workloads: [
            makeWorkload('Deployment', 'openelb-system', 'openelb-controller', {labels: {app: 'openelb'}}),
            makeWorkload('DaemonSet', 'openelb-system', 'openelb-speaker', {labels: {app: 'openelb'}}),
          ],
        },
      },
      [
        {
          name: 'openelb',
          evidence: ['Deployment openelb-system/openelb-controller', 'DaemonSet openelb-system/openelb-speaker'],
          serving: false,
        },
      ],
    ],
    // PureLB
    [
      'PureLB serving with ServiceGroups',
      {signals: {apiGroups: ['purelb.io'], customObjectCounts: {[COUNT_KEYS.purelbServiceGroups]: 2}}},
      [{name: 'purelb', evidence: ['API group purelb.io', '2 ServiceGroups'], serving: true}],
    ],
    [
      'PureLB idle from its workloads and an annotated Service',
      {
        services: [lbService('web', 'site', {annotations: {'purelb.io/allocated-by': 'PureLB'}})],
        signals: {
          workloads: [
            makeWorkload('Deployment', 'purelb-system', 'allocator', {labels: {app: 'purelb', component: 'allocator'}}),
            makeWorkload('DaemonSet', 'purelb-system', 'lbnodeagent', {
              labels: {app: 'purelb', component: 'lbnodeagent'},
            }),
          ],
        },
      },
      [
        {
          name: 'purelb',
          evidence: [
            'Deployment purelb-system/allocator',
            'DaemonSet purelb-system/lbnodeagent',
            'Service web/site has annotation purelb.io/allocated-by',
          ],
          serving: false,
        },
      ],
    ],
    // kind, minikube, MicroK8s
    [
      'kind without cloud-provider-kind',
      {nodes: [kindNode]},
      [{name: 'kind', evidence: ['node providerID kind://docker/kind/kind-control-plane'], serving: false}],
    ],
    [
      'kind with cloud-provider-kind seen from its IngressClass',
      {nodes: [kindNode], signals: {ingressClasses: ['nginx', 'cloud-provider-kind']}},
      [
        {
          name: 'kind',
          evidence: ['node providerID kind://docker/kind/kind-control-plane', 'IngressClass cloud-provider-kind'],
          serving: true,
        },
      ],
    ],
    [
      'kind with cloud-provider-kind seen from an ipMode Proxy ingress',
      {
        nodes: [kindNode],
        services: [lbService('default', 'web', {loadBalancerIngress: [{ip: '172.18.0.5', ipMode: 'Proxy'}]})],
      },
      [
        {
          name: 'kind',
          evidence: [
            'node providerID kind://docker/kind/kind-control-plane',
            'Service default/web has ingress ipMode Proxy',
          ],
          serving: true,
        },
      ],
    ],
    [
      'minikube without a tunnel',
      {nodes: [minikubeNode], services: [lbService('default', 'web')]},
      [{name: 'minikube', evidence: ['node minikube has label minikube.k8s.io/name=minikube'], serving: false}],
    ],
    [
      'minikube tunnel seen from an ingress IP equal to the clusterIP',
      {
        nodes: [minikubeNode],
        services: [lbService('default', 'web', {clusterIP: '10.96.12.3', loadBalancerIngress: [{ip: '10.96.12.3'}]})],
      },
      [
        {
          name: 'minikube',
          evidence: [
            'node minikube has label minikube.k8s.io/name=minikube',
            'Service default/web has ingress IP 10.96.12.3, its clusterIP (minikube tunnel)',
          ],
          serving: true,
        },
      ],
    ],
    [
      'minikube tunnel seen from a 127.0.0.1 ingress (docker driver)',
      {nodes: [minikubeNode], services: [lbService('default', 'web', {loadBalancerIngress: [{ip: '127.0.0.1'}]})]},
      [
        {
          name: 'minikube',
          evidence: [
            'node minikube has label minikube.k8s.io/name=minikube',
            'Service default/web has ingress IP 127.0.0.1 (minikube tunnel)',
          ],
          serving: true,
        },
      ],
    ],
    [
      'MicroK8s with its MetalLB addon found as MetalLB',
      {
        nodes: [microk8sNode],
        signals: {
          ...metallbServing,
          workloads: [makeWorkload('Deployment', 'metallb-system', 'controller', {labels: {app: 'metallb'}})],
        },
      },
      [
        {
          name: 'metallb',
          evidence: [
            'API group metallb.io',
            'Deployment metallb-system/controller',
            '1 IPAddressPool, 1 L2Advertisement',
          ],
          serving: true,
        },
        {name: 'microk8s', evidence: ['node mk8s has label microk8s.io/cluster=true'], serving: false},
      ],
    ],
  ])('%s', (_name, cluster, expected) => {
    expect(detect(cluster).detected).toEqual(expected)
  })

  it.each([
    'aws:///us-east-2a/i-0abc',
    'gce://my-project/europe-west1-b/gke-pool-1-abcd',
    'azure:///subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm0',
    'digitalocean://412345678',
    'hcloud://12345678',
    'linode://45678901',
    'openstack:///3a5b6c7d-0000-4000-8000-000000000000',
    'vsphere://4201a5a3-0000-0000-0000-000000000000',
    'ocid1.instance.oc1.iad.abcdefg',
    'oci://ocid1.instance.oc1.iad.abcdefg',
    'alicloud://cn-hangzhou.i-abc',
    'ibm://account///cluster/worker',
    'scaleway://instance/fr-par-1/abc',
    'equinixmetal://abc-def',
    'exoscale://abc-def',
  ])('the cloud load balancer is serving for providerID %s', (providerID) => {
    const nodes = [makeNode('node1', '10.0.0.1', {providerID})]
    expect(detect({nodes}).detected).toEqual([
      {name: 'cloud', evidence: [`node providerID ${providerID}`], serving: true},
    ])
  })

  it.each(['kind://docker/kind/kind-control-plane', 'k3s://server1', 'rke2://server1', 'talos://metal/node1'])(
    'no cloud for the local providerID %s',
    (providerID) => {
      const nodes = [makeNode('node1', '10.0.0.1', {providerID})]
      expect(detect({nodes}).detected.map((lb) => lb.name)).not.toContain('cloud')
    },
  )

  it('lists implementations in a fixed order, whatever order the signals came in', () => {
    const detection = detect({
      nodes: [k3sNode(), makeNode('cloudy', '10.0.0.2', {providerID: 'aws:///us-east-2a/i-0abc'})],
      signals: {
        apiGroups: ['purelb.io', 'network.kubesphere.io', 'cilium.io', 'metallb.io'],
        workloads: [makeWorkload('DaemonSet', 'kube-system', 'kube-vip-ds', {env: {svc_enable: 'true'}})],
      },
    })
    expect(detection.detected.map((lb) => lb.name)).toEqual([
      'metallb',
      'k3s-servicelb',
      'kube-vip',
      'cilium',
      'openelb',
      'purelb',
      'cloud',
    ])
  })

  it('finds a k3s server from the node metadata of k3s-io/k3s#14028 (v1.35, no master label)', () => {
    const server1 = makeNode('server1', '192.168.1.10', {
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/instance-type': 'k3s',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': 'server1',
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/control-plane': 'true',
        'node.kubernetes.io/instance-type': 'k3s',
        'p2p.k3s.cattle.io/enabled': 'true',
      },
    })
    expect(detect({nodes: [server1]})).toEqual({
      distro: 'k3s',
      detected: [
        {
          name: 'k3s-servicelb',
          evidence: [
            'node server1 has label node.kubernetes.io/instance-type=k3s',
            'ServiceLB is on by default in k3s and no k3s.io/node-args disables it',
          ],
          serving: false,
        },
      ],
      recommendation: {
        name: 'k3s-servicelb',
        reason: `k3s ServiceLB is enabled: it gives a LoadBalancer Service this node's IP as soon as one is created`,
      },
      warnings: [],
    })
  })

  it.each([
    ['"--disable","servicelb"', ['server', '--disable', 'servicelb']],
    ['--disable=servicelb', ['server', '--disable=servicelb']],
    ['"--disable","traefik,servicelb"', ['server', '--disable', 'traefik,servicelb']],
    ['--disable=traefik,servicelb', ['server', '--disable=traefik,servicelb']],
    ['--disable-cloud-controller', ['server', '--disable-cloud-controller']],
  ])('k3s ServiceLB is not detected when node-args has %s', (_name, args) => {
    expect(detect({nodes: [withNodeArgs(k3sNode(), args)]}).detected).toEqual([])
  })
})

describe('detectLoadBalancers: what to do', () => {
  const k3sThree = [
    k3sNode('server1', '192.168.1.10'),
    k3sNode('agent1', '192.168.1.11'),
    k3sNode('agent2', '192.168.1.12'),
  ]
  const disabled = (node: Node) => withNodeArgs(node, ['server', '--disable', 'servicelb'])

  it.each<[string, Cluster, Recommendation]>([
    // Something already serves.
    [
      'MetalLB serving: nothing to install',
      {signals: metallbServing},
      {name: 'none', reason: 'MetalLB is serving: nothing to install'},
    ],
    [
      'Cilium LB-IPAM and OpenELB serving: nothing to install, noting OpenELB is opt-in',
      {
        signals: {
          customObjectCounts: {[COUNT_KEYS.ciliumPools]: 1, [COUNT_KEYS.openelbEips]: 1},
        },
      },
      {
        name: 'none',
        reason:
          'Cilium LB-IPAM and OpenELB are serving: nothing to install (OpenELB only takes Services annotated `lb.kubesphere.io/v1alpha1: openelb`)',
      },
    ],
    [
      'a cloud: the cloud’s own load balancer is there',
      {nodes: [makeNode('ip-10-0-0-1', '10.0.0.1', {providerID: 'aws:///us-east-2a/i-0abc'})]},
      {
        name: 'none',
        reason:
          "the cloud provider's load balancer is there (node providerID aws:///us-east-2a/i-0abc): nothing to install; " +
          'if LoadBalancer Services stay pending, check the cloud quota, the Service annotations and loadBalancerClass',
      },
    ],
    [
      'kind with cloud-provider-kind running: nothing to install',
      {nodes: [kindNode], signals: {ingressClasses: ['cloud-provider-kind']}},
      {name: 'none', reason: 'cloud-provider-kind is serving: nothing to install'},
    ],
    [
      'minikube with its tunnel running: nothing to install',
      {nodes: [minikubeNode], services: [lbService('default', 'web', {loadBalancerIngress: [{ip: '127.0.0.1'}]})]},
      {name: 'none', reason: 'minikube tunnel is serving: nothing to install'},
    ],
    [
      'a serving ServiceLB wins over an idle Cilium',
      {
        nodes: [k3sNode()],
        services: [lbService('kube-system', 'traefik', {loadBalancerIngress: [{ip: '192.168.1.10'}]})],
        signals: {apiGroups: ['cilium.io']},
      },
      {name: 'none', reason: 'k3s ServiceLB is serving: nothing to install'},
    ],
    // Installed but idle: finish it.
    [
      'MetalLB without pool or advertisement: add them',
      {
        signals: {
          apiGroups: ['metallb.io'],
          customObjectCounts: {[COUNT_KEYS.metallbPools]: 0, [COUNT_KEYS.metallbL2Advertisements]: 0},
        },
      },
      {
        name: 'metallb',
        reason: `MetalLB is installed but has no IPAddressPool/L2Advertisement: add them`,
      },
    ],
    [
      'MetalLB with a pool but no advertisement: add one',
      {
        signals: {
          apiGroups: ['metallb.io'],
          customObjectCounts: {[COUNT_KEYS.metallbPools]: 1, [COUNT_KEYS.metallbL2Advertisements]: 0},
        },
      },
      {name: 'metallb', reason: `MetalLB is installed but has no L2Advertisement: add one`},
    ],
    [
      'MetalLB with an advertisement but no pool: add one',
      {
        signals: {
          apiGroups: ['metallb.io'],
          customObjectCounts: {[COUNT_KEYS.metallbPools]: 0, [COUNT_KEYS.metallbL2Advertisements]: 1},
        },
      },
      {name: 'metallb', reason: `MetalLB is installed but has no IPAddressPool: add one`},
    ],
    [
      'MetalLB whose pools could not be read: check them',
      {signals: {apiGroups: ['metallb.io']}},
      {
        name: 'metallb',
        reason: `MetalLB is installed but its IPAddressPools and L2Advertisements could not be read: check that both exist`,
      },
    ],
    [
      'legacy MetalLB whose ConfigMap has no address-pools',
      {signals: {configMaps: {'metallb-system/config': {config: 'peers: []\n'}}}},
      {
        name: 'metallb',
        reason: `MetalLB's ConfigMap metallb-system/config has no address-pools: add one`,
      },
    ],
    [
      'an idle MetalLB beats the distro rule on kind',
      {nodes: [kindNode], signals: {apiGroups: ['metallb.io'], customObjectCounts: {[COUNT_KEYS.metallbPools]: 0}}},
      {
        name: 'metallb',
        reason: `MetalLB is installed but has no IPAddressPool/L2Advertisement: add them`,
      },
    ],
    [
      'kube-vip without svc_enable',
      {signals: {workloads: [makeWorkload('Pod', 'kube-system', 'kube-vip-cp1', {env: {cp_enable: 'true'}})]}},
      {
        name: 'kube-vip',
        reason: `kube-vip is installed but does not serve Services (no \`svc_enable=true\` in its env): set it`,
      },
    ],
    [
      'kube-vip-cloud-provider without kube-vip',
      {signals: {workloads: [makeWorkload('Deployment', 'kube-system', 'kube-vip-cloud-provider')]}},
      {
        name: 'kube-vip',
        reason: `kube-vip-cloud-provider is there but no kube-vip with \`svc_enable=true\` was found: deploy kube-vip with it`,
      },
    ],
    [
      'Cilium CNI without a pool: Cilium LB-IPAM, on any distro',
      {
        nodes: [k3sNode()],
        signals: {workloads: [makeWorkload('DaemonSet', 'kube-system', 'cilium', {labels: {'k8s-app': 'cilium'}})]},
      },
      {
        name: 'cilium-lb-ipam',
        reason:
          'Cilium is here but has no CiliumLoadBalancerIPPool: add a pool and a CiliumL2AnnouncementPolicy ' +
          `(with \`l2announcements.enabled=true\`) to use Cilium LB-IPAM, rather than installing MetalLB beside it`,
      },
    ],
    [
      'OpenELB without an Eip',
      {signals: {apiGroups: ['network.kubesphere.io'], customObjectCounts: {[COUNT_KEYS.openelbEips]: 0}}},
      {
        name: 'openelb',
        reason: `OpenELB is installed but has no Eip: add one, and annotate Services with \`lb.kubesphere.io/v1alpha1: openelb\``,
      },
    ],
    [
      'PureLB without a ServiceGroup',
      {signals: {apiGroups: ['purelb.io']}},
      {name: 'purelb', reason: `PureLB is installed but has no ServiceGroup: add one`},
    ],
    // Nothing there: by distro and node count.
    [
      'kind: cloud-provider-kind',
      {nodes: [kindNode]},
      {
        name: 'cloud-provider-kind',
        reason: `kind has no load balancer of its own: run cloud-provider-kind on this host (sigs.k8s.io/cloud-provider-kind)`,
      },
    ],
    [
      'minikube: minikube tunnel',
      {nodes: [minikubeNode]},
      {
        name: 'minikube-tunnel',
        reason: `minikube has no load balancer of its own: run \`minikube tunnel\` (or \`minikube addons enable metallb\`)`,
      },
    ],
    [
      'MicroK8s: its metallb addon',
      {nodes: [microk8sNode]},
      {
        name: 'microk8s-metallb',
        reason: `MicroK8s has no load balancer by default: run \`microk8s enable metallb:<range>\` with free addresses of the node network`,
      },
    ],
    [
      'k3s on one node with ServiceLB enabled: ServiceLB',
      {nodes: [k3sNode()]},
      {
        name: 'k3s-servicelb',
        reason: `k3s ServiceLB is enabled: it gives a LoadBalancer Service this node's IP as soon as one is created`,
      },
    ],
    [
      'k3s on one node with ServiceLB disabled: re-enable ServiceLB',
      {nodes: [disabled(k3sNode())]},
      {
        name: 'k3s-servicelb',
        reason:
          'k3s ServiceLB is the built-in load balancer for a single node, but node server1 runs with ' +
          `\`--disable servicelb\`: remove that and restart k3s`,
      },
    ],
    [
      'k3s on several nodes: MetalLB after disabling ServiceLB',
      {nodes: k3sThree},
      {
        name: 'metallb',
        reason:
          'this k3s cluster has 3 nodes: install MetalLB (L2) after restarting the k3s servers with `--disable=servicelb` ' +
          `(ServiceLB also works, but it answers on every node IP and needs free hostPorts)`,
      },
    ],
    [
      'k3s on several nodes with ServiceLB already disabled: MetalLB',
      {nodes: [disabled(k3sThree[0] ?? k3sNode()), ...k3sThree.slice(1)]},
      {
        name: 'metallb',
        reason: `this k3s cluster has 3 nodes and ServiceLB is disabled: install MetalLB (L2)`,
      },
    ],
    [
      'k3s with a second node being deleted counts as one node',
      {nodes: [k3sNode(), k3sNode('agent1', '192.168.1.11', {deleting: true})]},
      {
        name: 'k3s-servicelb',
        reason: `k3s ServiceLB is enabled: it gives a LoadBalancer Service this node's IP as soon as one is created`,
      },
    ],
    [
      'RKE2 on one node: enable its ServiceLB',
      {nodes: [rke2Node()]},
      {
        name: 'rke2-servicelb',
        reason: `RKE2 ships ServiceLB switched off: start the RKE2 server with \`--enable-servicelb\` to give LoadBalancer Services this node's IP`,
      },
    ],
    [
      'RKE2 on one node with ServiceLB enabled',
      {nodes: [withNodeArgs(rke2Node(), ['server', '--enable-servicelb'], 'rke2.io/node-args')]},
      {
        name: 'rke2-servicelb',
        reason: `RKE2 ServiceLB is enabled (\`--enable-servicelb\` on node server1): it gives a LoadBalancer Service this node's IP as soon as one is created`,
      },
    ],
    [
      'RKE2 on several nodes: MetalLB',
      {nodes: [rke2Node('server1', '192.168.1.10'), rke2Node('agent1', '192.168.1.11')]},
      {name: 'metallb', reason: `this RKE2 cluster has 2 nodes: install MetalLB (L2)`},
    ],
    [
      'kubeadm on one node with the exclude label: MetalLB, and remove the label',
      {
        nodes: [
          makeNode('cp1', '192.168.1.20', {
            labels: {
              'node-role.kubernetes.io/control-plane': '',
              'node.kubernetes.io/exclude-from-external-load-balancers': '',
            },
          }),
        ],
      },
      {
        name: 'metallb',
        reason:
          'ServiceLB is k3s-only, so on a single node install MetalLB (L2); remove the control-plane label ' +
          `\`node.kubernetes.io/exclude-from-external-load-balancers\` from node cp1, or MetalLB will not announce from it`,
      },
    ],
    [
      'one node whose exclude label says "false" (eligible, as the plan reads it): MetalLB, minding the label',
      {
        nodes: [
          makeNode('cp1', '192.168.1.20', {
            labels: {'node.kubernetes.io/exclude-from-external-load-balancers': 'false'},
          }),
        ],
      },
      {
        name: 'metallb',
        reason:
          'ServiceLB is k3s-only, so on a single node install MetalLB (L2); if the node gets the control-plane label ' +
          '`node.kubernetes.io/exclude-from-external-load-balancers` (kubeadm and Talos add it), remove it, ' +
          `or MetalLB will not announce from it`,
      },
    ],
    [
      'an unknown distro on one node without the exclude label: MetalLB, minding the label',
      {},
      {
        name: 'metallb',
        reason:
          'ServiceLB is k3s-only, so on a single node install MetalLB (L2); if the node gets the control-plane label ' +
          '`node.kubernetes.io/exclude-from-external-load-balancers` (kubeadm and Talos add it), remove it, ' +
          `or MetalLB will not announce from it`,
      },
    ],
    [
      'Talos on one node: MetalLB',
      {nodes: [makeNode('talos-cp', '192.168.1.30', {osImage: 'Talos (v1.10.4)'})]},
      {
        name: 'metallb',
        reason:
          'ServiceLB is k3s-only, so on this single Talos node install MetalLB (L2); if the node gets the control-plane label ' +
          '`node.kubernetes.io/exclude-from-external-load-balancers` (kubeadm and Talos add it), remove it, ' +
          `or MetalLB will not announce from it`,
      },
    ],
    [
      'an unknown distro on several nodes: MetalLB',
      {nodes: [plainNode, makeNode('node2', '192.168.1.11'), makeNode('node3', '192.168.1.12')]},
      {
        name: 'metallb',
        reason: `this cluster has 3 nodes: install MetalLB (L2) and give it a range of free addresses`,
      },
    ],
    [
      'no nodes visible: MetalLB, saying the node count is unknown',
      {nodes: []},
      {
        name: 'metallb',
        reason:
          'no nodes could be seen, so the node count is unknown: MetalLB (L2) fits most bare-metal clusters ' +
          `(on a single k3s node, its built-in ServiceLB is enough)`,
      },
    ],
  ])('%s', (_name, cluster, expected) => {
    expect(detect(cluster).recommendation).toEqual(expected)
  })
})

describe('detectLoadBalancers: warnings', () => {
  const svclb = makeWorkload('DaemonSet', 'kube-system', 'svclb-traefik-1a2b3c4d', {
    labels: {'svccontroller.k3s.cattle.io/svcname': 'traefik'},
  })

  it.each<[string, Cluster, string[]]>([
    ['none for a plain cluster', {}, []],
    [
      'names one read that failed',
      {signals: {unavailable: ['list daemonsets.apps (forbidden)']}},
      ['could not list daemonsets.apps (forbidden): load-balancer detection may be incomplete'],
    ],
    [
      'names every read that failed, in one warning',
      {signals: {unavailable: ['list daemonsets.apps', 'list ipaddresspools.metallb.io']}},
      ['could not list daemonsets.apps, list ipaddresspools.metallb.io: load-balancer detection may be incomplete'],
    ],
    [
      'MetalLB and ServiceLB both serving on k3s: disable ServiceLB',
      {nodes: [k3sNode()], signals: {...metallbServing, workloads: [svclb]}},
      [
        'MetalLB and k3s ServiceLB both serve LoadBalancer Services that have no loadBalancerClass and race for them: ' +
          'disable one (start k3s with `--disable=servicelb`)',
      ],
    ],
    [
      'MetalLB and ServiceLB both serving on RKE2: drop --enable-servicelb',
      {
        nodes: [rke2Node()],
        signals: {
          ...metallbServing,
          workloads: [
            makeWorkload('DaemonSet', 'kube-system', 'svclb-web-0a1b2c3d', {
              labels: {'svccontroller.rke2.cattle.io/svcname': 'web'},
            }),
          ],
        },
      },
      [
        'MetalLB and k3s ServiceLB both serve LoadBalancer Services that have no loadBalancerClass and race for them: ' +
          'disable one (drop `--enable-servicelb` from the RKE2 server)',
      ],
    ],
    [
      'three nil-class implementations serving',
      {
        signals: {
          ...metallbServing,
          customObjectCounts: {...metallbServing.customObjectCounts, [COUNT_KEYS.ciliumPools]: 1},
          workloads: [makeWorkload('DaemonSet', 'kube-system', 'kube-vip-ds', {env: {svc_enable: 'true'}})],
        },
      },
      [
        'MetalLB, kube-vip and Cilium LB-IPAM all serve LoadBalancer Services that have no loadBalancerClass and race for them: disable one',
      ],
    ],
    [
      'none for an opt-in OpenELB beside MetalLB',
      {
        signals: {
          ...metallbServing,
          customObjectCounts: {...metallbServing.customObjectCounts, [COUNT_KEYS.openelbEips]: 1},
        },
      },
      [],
    ],
  ])('%s', (_name, cluster, expected) => {
    expect(detect(cluster).warnings).toEqual(expected)
  })

  it('says nothing to install and warns when two nil-class implementations serve', () => {
    expect(detect({nodes: [k3sNode()], signals: {...metallbServing, workloads: [svclb]}})).toEqual({
      distro: 'k3s',
      detected: [
        {name: 'metallb', evidence: ['API group metallb.io', '1 IPAddressPool, 1 L2Advertisement'], serving: true},
        {
          name: 'k3s-servicelb',
          evidence: ['DaemonSet kube-system/svclb-traefik-1a2b3c4d has label svccontroller.k3s.cattle.io/svcname'],
          serving: true,
        },
      ],
      recommendation: {name: 'none', reason: 'MetalLB and k3s ServiceLB are serving: nothing to install'},
      warnings: [
        'MetalLB and k3s ServiceLB both serve LoadBalancer Services that have no loadBalancerClass and race for them: ' +
          'disable one (start k3s with `--disable=servicelb`)',
      ],
    })
  })
})

describe('detectLoadBalancers: plain reasons', () => {
  it('leaves the "until then, serve …" line to the renderers', () => {
    const {recommendation} = detect({})
    expect(recommendation.name).toBe('metallb')
    expect(recommendation.reason).not.toMatch(/until then/)
  })
})
