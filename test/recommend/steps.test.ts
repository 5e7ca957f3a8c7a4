import {describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'
import {renderYaml} from '../../src/commands/recommend.js'
import {COUNT_KEYS, detectLoadBalancers} from '../../src/detect/detect.js'
import {withPendingCounts} from '../../src/detect/recommend.js'
import type {ClusterSnapshot, DetectionSignals, Node} from '../../src/plan/types.js'
import {
  describeStep,
  METALLB_MANIFEST_URL,
  nextStep,
  UNTIL_THEN_LINE,
  type NextStep,
} from '../../src/recommend/steps.js'
import {emptySignals, makeNode, makeService, makeSnapshot, makeWorkload} from '../builders.js'

const EXCLUDE = 'node.kubernetes.io/exclude-from-external-load-balancers'
const CHECK_FREE =
  "check these addresses are free and outside your DHCP range: 192.168.1.240-192.168.1.250 (a guess in 192.168.1.0/24, assuming the nodes' network is a /24)"

const threeNodes = [makeNode('a', '192.168.1.10'), makeNode('b', '192.168.1.11'), makeNode('c', '192.168.1.12')]

/** The step for a cluster, through real detection, as `recommend` computes it. */
function stepFor(nodes: Node[], signals: Partial<DetectionSignals> = {}): NextStep {
  const snapshot = makeSnapshot({nodes, signals: emptySignals(signals)})
  return nextStep(snapshot, detectLoadBalancers(snapshot))
}

function k3sNode(name: string, ip: string, args?: string[]): Node {
  return makeNode(name, ip, {
    providerID: `k3s://${name}`,
    annotations: args === undefined ? {} : {'k3s.io/node-args': JSON.stringify(args)},
  })
}

function rke2Node(name: string, ip: string, args?: string[]): Node {
  return makeNode(name, ip, {
    providerID: `rke2://${name}`,
    annotations: args === undefined ? {} : {'rke2.io/node-args': JSON.stringify(args)},
  })
}

function withLabels(node: Node, labels: Record<string, string>): Node {
  return {...node, labels: {...node.labels, ...labels}}
}

/** Every command of a step, in order. */
function commands(step: NextStep): string[] {
  return step.actions.flatMap((a) => a.commands)
}

function kinds(step: NextStep): unknown[] {
  return step.manifests.map((m) => m.object.kind)
}

const metallbInstalled = (counts: Record<string, number>): Partial<DetectionSignals> => ({
  apiGroups: ['metallb.io'],
  workloads: [makeWorkload('Deployment', 'metallb-system', 'controller', {labels: {app: 'metallb'}})],
  customObjectCounts: counts,
})

describe('nextStep: MetalLB', () => {
  it('on a plain cluster: install the pinned release, then a pool in the nodes’ /24 and an L2Advertisement', () => {
    expect(stepFor(threeNodes)).toEqual({
      recommendation: 'metallb',
      title: 'install MetalLB (L2) and give it an address pool',
      reason: 'this cluster has 3 nodes: install MetalLB (L2) and give it a range of free addresses',
      actions: [
        {
          text: 'Install MetalLB v0.14.9 (the release this step was written for) and wait for its controller: its webhook rejects pools until then',
          commands: [
            'kubectl apply -f https://raw.githubusercontent.com/metallb/metallb/v0.14.9/config/manifests/metallb-native.yaml',
            'kubectl rollout status --namespace metallb-system deployment/controller --timeout=120s',
          ],
        },
        {
          text: 'Give MetalLB the addresses 192.168.1.240-192.168.1.250 and announce them on the node network (L2)',
          commands: ['kubectl expose-lb recommend -o yaml | kubectl apply -f -'],
          applies: true,
        },
      ],
      notes: [
        'if kube-proxy runs in IPVS mode, set `strictARP: true` in the kube-proxy ConfigMap first (MetalLB docs, "Installation")',
      ],
      manifests: [
        {
          object: {
            apiVersion: 'metallb.io/v1beta1',
            kind: 'IPAddressPool',
            metadata: {name: 'expose-lb-pool', namespace: 'metallb-system'},
            spec: {addresses: ['192.168.1.240-192.168.1.250']},
          },
          fieldComments: [
            {
              path: ['spec', 'addresses', 0],
              text: ' check these addresses are free and outside your DHCP range (suggested from 192.168.1.0/24)',
            },
          ],
        },
        {
          object: {
            apiVersion: 'metallb.io/v1beta1',
            kind: 'L2Advertisement',
            metadata: {name: 'expose-lb-l2', namespace: 'metallb-system'},
            spec: {ipAddressPools: ['expose-lb-pool']},
          },
          fieldComments: [],
        },
      ],
      warnings: [CHECK_FREE],
      untilThen: true,
    })
  })

  it('the commands reach the cluster this run used', () => {
    const snapshot = makeSnapshot({nodes: threeNodes})
    const step = nextStep(snapshot, detectLoadBalancers(snapshot), {
      kubectl: 'kubectl --context homelab',
      self: 'kubectl --context homelab expose-lb recommend',
    })
    expect(commands(step)).toEqual([
      `kubectl --context homelab apply -f ${METALLB_MANIFEST_URL}`,
      'kubectl --context homelab rollout status --namespace metallb-system deployment/controller --timeout=120s',
      'kubectl --context homelab expose-lb recommend -o yaml | kubectl --context homelab apply -f -',
    ])
  })

  it.each<[string, Record<string, number>, unknown[], Record<string, unknown>[], string[]]>([
    [
      'installed with neither: both, and no install step',
      {[COUNT_KEYS.metallbPools]: 0, [COUNT_KEYS.metallbL2Advertisements]: 0},
      ['IPAddressPool', 'L2Advertisement'],
      [{addresses: ['192.168.1.240-192.168.1.250']}, {ipAddressPools: ['expose-lb-pool']}],
      [],
    ],
    [
      'installed with a pool but no advertisement: an L2Advertisement for every pool',
      {[COUNT_KEYS.metallbPools]: 2, [COUNT_KEYS.metallbL2Advertisements]: 0},
      ['L2Advertisement'],
      [{}],
      [],
    ],
    [
      'installed with an advertisement but no pool: only the pool',
      {[COUNT_KEYS.metallbPools]: 0, [COUNT_KEYS.metallbBgpAdvertisements]: 1},
      ['IPAddressPool'],
      [{addresses: ['192.168.1.240-192.168.1.250']}],
      ['your existing advertisement must select pool expose-lb-pool (one without ipAddressPools selects all)'],
    ],
    [
      'installed, objects unreadable: both, with a note',
      {},
      ['IPAddressPool', 'L2Advertisement'],
      [{addresses: ['192.168.1.240-192.168.1.250']}, {ipAddressPools: ['expose-lb-pool']}],
      ['skip these if an IPAddressPool and an L2Advertisement already exist (they could not be read)'],
    ],
  ])('%s', (_name, counts, expectedKinds, specs, notes) => {
    const step = stepFor(threeNodes, metallbInstalled(counts))
    expect(step.recommendation).toBe('metallb')
    expect(step.title).toBe('finish configuring MetalLB: give it addresses and announce them')
    expect(kinds(step)).toEqual(expectedKinds)
    expect(step.manifests.map((m) => m.object.spec)).toEqual(specs)
    expect(step.notes).toEqual(notes)
    expect(commands(step)).toEqual(['kubectl expose-lb recommend -o yaml | kubectl apply -f -'])
  })

  it('legacy MetalLB (ConfigMap, no CRDs): a ConfigMap with a layer2 address pool', () => {
    const step = stepFor(threeNodes, {configMaps: {'metallb-system/config': {config: ''}}})
    expect(step.title).toBe('finish configuring MetalLB (before v0.13): give it an address pool')
    expect(step.manifests.map((m) => m.object)).toEqual([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {namespace: 'metallb-system', name: 'config'},
        data: {
          config:
            'address-pools:\n  - name: expose-lb-pool\n    protocol: layer2\n    addresses:\n      - 192.168.1.240-192.168.1.250\n',
        },
      },
    ])
    expect(step.warnings).toEqual([CHECK_FREE])
  })

  it('on k3s with several nodes and ServiceLB on: turn ServiceLB off first', () => {
    const step = stepFor([k3sNode('s1', '192.168.1.10'), k3sNode('s2', '192.168.1.11')])
    expect(step.recommendation).toBe('metallb')
    expect(step.actions[0]).toEqual({
      text: 'Turn k3s ServiceLB off first, or it races MetalLB for every LoadBalancer Service: on each k3s server add `servicelb` to the `disable:` list in /etc/rancher/k3s/config.yaml (the `--disable=servicelb` flag), then restart k3s',
      commands: ['sudo systemctl restart k3s'],
    })
  })

  it('on k3s with ServiceLB already off: no such step', () => {
    const step = stepFor([
      k3sNode('s1', '192.168.1.10', ['server', '--disable', 'servicelb']),
      k3sNode('s2', '192.168.1.11'),
    ])
    expect(step.recommendation).toBe('metallb')
    expect(step.actions[0]?.text).toMatch(/^Install MetalLB/)
  })

  it('a single node with the exclude label: remove it', () => {
    const step = stepFor([withLabels(makeNode('cp', '192.168.1.10'), {[EXCLUDE]: ''})])
    expect(step.actions.map((a) => a.commands)).toContainEqual([`kubectl label node cp ${EXCLUDE}-`])
  })

  it('a single node with the exclude label set to "false" is eligible: nothing to remove', () => {
    const step = stepFor([withLabels(makeNode('cp', '192.168.1.10'), {[EXCLUDE]: 'false'})])
    expect(commands(step).some((c) => c.includes(EXCLUDE))).toBe(false)
  })

  it('only some nodes with the exclude label: nothing to remove', () => {
    const step = stepFor([withLabels(threeNodes[0]!, {[EXCLUDE]: ''}), ...threeNodes.slice(1)])
    expect(commands(step).some((c) => c.includes(EXCLUDE))).toBe(false)
  })

  it('IPv6-only nodes: a placeholder the user must edit, and a warning why', () => {
    const v6 = makeNode('a', '', {addresses: [{type: 'InternalIP', address: 'fd00::10'}]})
    const step = stepFor([v6, {...v6, name: 'b'}])
    expect(step.manifests[0]).toEqual({
      object: {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: {name: 'expose-lb-pool', namespace: 'metallb-system'},
        spec: {addresses: ['<first-free-ip>-<last-free-ip>']},
      },
      fieldComments: [
        {
          path: ['spec', 'addresses', 0],
          text: ' EDIT: put free addresses of the node network here (no node has an IPv4 InternalIP (IPv6-only, or addresses not reported), so no IPv4 range can be suggested)',
        },
      ],
    })
    expect(step.warnings).toEqual([
      'cannot suggest an address range: no node has an IPv4 InternalIP (IPv6-only, or addresses not reported), so no IPv4 range can be suggested; replace <first-free-ip>-<last-free-ip> with free addresses of the node network before applying',
    ])
  })
})

describe('nextStep: each recommendation', () => {
  const kindNode = makeNode('kind-control-plane', '172.18.0.2', {
    providerID: 'kind://docker/kind/kind-control-plane',
    labels: {[EXCLUDE]: ''},
  })
  const minikubeNode = (profile: string) =>
    makeNode(profile, '192.168.49.2', {labels: {'minikube.k8s.io/name': profile}})

  it.each<[string, Node[], Partial<DetectionSignals>, Partial<NextStep>, string[]]>([
    [
      'k3s, one node, ServiceLB disabled: remove the flag and restart k3s',
      [k3sNode('s1', '192.168.1.10', ['server', '--disable', 'servicelb'])],
      {},
      {recommendation: 'k3s-servicelb', title: 're-enable k3s ServiceLB', manifests: [], warnings: []},
      [
        'sudo systemctl daemon-reload',
        'sudo systemctl restart k3s',
        'kubectl get pods --all-namespaces --selector svccontroller.k3s.cattle.io/svcname',
      ],
    ],
    [
      'k3s, one node, ServiceLB on: nothing to change',
      [k3sNode('s1', '192.168.1.10')],
      {},
      {recommendation: 'k3s-servicelb', title: 'use k3s ServiceLB (it is on)'},
      ['kubectl get pods --all-namespaces --selector svccontroller.k3s.cattle.io/svcname'],
    ],
    [
      'RKE2, one node: --enable-servicelb',
      [rke2Node('s1', '192.168.1.10')],
      {},
      {recommendation: 'rke2-servicelb', title: 'enable RKE2 ServiceLB'},
      [
        "echo 'enable-servicelb: true' | sudo tee -a /etc/rancher/rke2/config.yaml",
        'sudo systemctl restart rke2-server',
        'kubectl get pods --all-namespaces --selector svccontroller.rke2.cattle.io/svcname',
      ],
    ],
    [
      'RKE2, one node, already enabled',
      [rke2Node('s1', '192.168.1.10', ['server', '--enable-servicelb'])],
      {},
      {recommendation: 'rke2-servicelb', title: 'use RKE2 ServiceLB (it is on)'},
      ['kubectl get pods --all-namespaces --selector svccontroller.rke2.cattle.io/svcname'],
    ],
    [
      'kind: install and run cloud-provider-kind; a lone control plane loses the exclude label',
      [kindNode],
      {},
      {recommendation: 'cloud-provider-kind', title: 'run cloud-provider-kind on this host', manifests: []},
      [
        'go install sigs.k8s.io/cloud-provider-kind@latest',
        'cloud-provider-kind',
        `kubectl label node kind-control-plane ${EXCLUDE}-`,
      ],
    ],
    [
      'minikube, default profile',
      [minikubeNode('minikube')],
      {},
      {recommendation: 'minikube-tunnel', title: 'run minikube tunnel'},
      ['minikube tunnel'],
    ],
    [
      'minikube, another profile',
      [minikubeNode('dev')],
      {},
      {recommendation: 'minikube-tunnel'},
      ['minikube tunnel -p dev'],
    ],
    [
      'MicroK8s: enable the addon with the suggested range',
      [makeNode('mk8s', '10.0.0.5', {labels: {'microk8s.io/cluster': 'true'}})],
      {},
      {
        recommendation: 'microk8s-metallb',
        title: "enable MicroK8s' MetalLB addon",
        warnings: [
          "check these addresses are free and outside your DHCP range: 10.0.0.240-10.0.0.250 (a guess in 10.0.0.0/24, assuming the nodes' network is a /24)",
        ],
      },
      ['microk8s enable metallb:10.0.0.240-10.0.0.250'],
    ],
    [
      'Cilium without a pool: turn on L2 announcements, then a pool and a policy',
      threeNodes,
      {apiGroups: ['cilium.io'], customObjectCounts: {[COUNT_KEYS.ciliumPools]: 0}},
      {recommendation: 'cilium-lb-ipam', title: 'give Cilium LB-IPAM an address pool and announce it (L2)'},
      [
        'helm upgrade cilium cilium/cilium --namespace kube-system --reuse-values --set l2announcements.enabled=true --set externalIPs.enabled=true',
        'kubectl -n kube-system rollout restart deployment/cilium-operator daemonset/cilium',
        'kubectl expose-lb recommend -o yaml | kubectl apply -f -',
      ],
    ],
    [
      'kube-vip without svc_enable: set it, and give the cloud provider a range',
      threeNodes,
      {workloads: [makeWorkload('DaemonSet', 'kube-system', 'kube-vip-ds')]},
      {recommendation: 'kube-vip', title: 'finish configuring kube-vip', manifests: []},
      [
        'kubectl -n kube-system set env daemonset/kube-vip-ds svc_enable=true',
        'kubectl create configmap --namespace kube-system kubevip --from-literal range-global=192.168.1.240-192.168.1.250',
      ],
    ],
    [
      'OpenELB without an Eip: a short text step',
      threeNodes,
      {apiGroups: ['network.kubesphere.io'], customObjectCounts: {[COUNT_KEYS.openelbEips]: 0}},
      {
        recommendation: 'openelb',
        title: 'finish configuring OpenELB',
        actions: [
          {
            text: 'OpenELB is installed but has no Eip: add one, and annotate Services with `lb.kubesphere.io/v1alpha1: openelb`',
            commands: [],
          },
        ],
        warnings: [],
      },
      [],
    ],
    [
      'PureLB without a ServiceGroup: a short text step',
      threeNodes,
      {apiGroups: ['purelb.io'], customObjectCounts: {[COUNT_KEYS.purelbServiceGroups]: 0}},
      {
        recommendation: 'purelb',
        title: 'finish configuring PureLB',
        actions: [{text: 'PureLB is installed but has no ServiceGroup: add one', commands: []}],
      },
      [],
    ],
    [
      'a serving load balancer: nothing to install, and no "until then"',
      threeNodes,
      metallbInstalled({[COUNT_KEYS.metallbPools]: 1, [COUNT_KEYS.metallbL2Advertisements]: 1}),
      {
        recommendation: 'none',
        title: 'nothing to install',
        reason: 'MetalLB is serving: nothing to install',
        actions: [],
        manifests: [],
        warnings: [],
        untilThen: false,
      },
      [],
    ],
  ])('%s', (_name, nodes, signals, expected, expectedCommands) => {
    const step = stepFor(nodes, signals)
    expect(step).toMatchObject(expected)
    expect(commands(step)).toEqual(expectedCommands)
    expect(step.reason).not.toContain('until then')
  })

  it('Cilium pool and policy carry the range as start/stop blocks', () => {
    const step = stepFor(threeNodes, {apiGroups: ['cilium.io'], customObjectCounts: {[COUNT_KEYS.ciliumPools]: 0}})
    expect(step.manifests.map((m) => m.object)).toEqual([
      {
        apiVersion: 'cilium.io/v2alpha1',
        kind: 'CiliumLoadBalancerIPPool',
        metadata: {name: 'expose-lb-pool'},
        spec: {blocks: [{start: '192.168.1.240', stop: '192.168.1.250'}]},
      },
      {
        apiVersion: 'cilium.io/v2alpha1',
        kind: 'CiliumL2AnnouncementPolicy',
        metadata: {name: 'expose-lb-l2'},
        spec: {loadBalancerIPs: true},
      },
    ])
  })

  it('Cilium with an L2 policy already: only the pool', () => {
    const step = stepFor(threeNodes, {
      apiGroups: ['cilium.io'],
      customObjectCounts: {[COUNT_KEYS.ciliumPools]: 0, [COUNT_KEYS.ciliumL2Policies]: 1},
    })
    expect(kinds(step)).toEqual(['CiliumLoadBalancerIPPool'])
  })

  it('k3s disabled by --disable-cloud-controller: says where that flag lives', () => {
    const step = stepFor([k3sNode('s1', '192.168.1.10', ['server', '--disable-cloud-controller'])])
    expect(step.actions[0]?.text).toBe(
      "On each k3s server, remove `disable-cloud-controller: true` from /etc/rancher/k3s/config.yaml, or `--disable-cloud-controller` from ExecStart in /etc/systemd/system/k3s.service: ServiceLB runs in k3s' embedded cloud controller (node s1 runs with `--disable-cloud-controller`)",
    )
  })

  it('a recommendation without steps yet passes its reason on', () => {
    const snapshot = makeSnapshot({nodes: threeNodes})
    const step = nextStep(snapshot, {
      distro: 'unknown',
      detected: [],
      recommendation: {name: 'gateway-api', reason: 'something new'},
      warnings: [],
    })
    expect(step).toEqual({
      recommendation: 'gateway-api',
      title: 'gateway-api',
      reason: 'something new',
      actions: [{text: 'Something new', commands: []}],
      notes: [],
      manifests: [],
      warnings: [],
      untilThen: true,
    })
  })
})

describe('describeStep', () => {
  it('numbers the actions, indents commands and manifests, and ends with the serve line', () => {
    const lines = describeStep(stepFor(threeNodes), '---\nkind: IPAddressPool\n')
    expect(lines.slice(0, 2)).toEqual([
      'NEXT STEP (metallb): install MetalLB (L2) and give it an address pool',
      'Why: this cluster has 3 nodes: install MetalLB (L2) and give it a range of free addresses',
    ])
    expect(lines).toContain(`     kubectl apply -f ${METALLB_MANIFEST_URL}`)
    const applied = lines.indexOf('     kubectl expose-lb recommend -o yaml | kubectl apply -f -')
    expect(lines.slice(applied - 1, applied + 4)).toEqual([
      '2. Give MetalLB the addresses 192.168.1.240-192.168.1.250 and announce them on the node network (L2):',
      '     kubectl expose-lb recommend -o yaml | kubectl apply -f -',
      '   These manifests:',
      '     ---',
      '     kind: IPAddressPool',
    ])
    expect(lines.at(-1)).toBe(UNTIL_THEN_LINE)
  })

  it('nothing to install: no closing line', () => {
    const step = stepFor(
      threeNodes,
      metallbInstalled({[COUNT_KEYS.metallbPools]: 1, [COUNT_KEYS.metallbL2Advertisements]: 1}),
    )
    expect(describeStep(step)).toEqual([
      'NEXT STEP (none): nothing to install',
      'Why: MetalLB is serving: nothing to install',
    ])
  })
})

describe('renderYaml (-o yaml)', () => {
  function parse(text: string) {
    const docs = parseAllDocuments(text)
    if (!Array.isArray(docs)) throw new Error('not a document stream')
    for (const doc of docs) expect(doc.errors).toEqual([])
    return docs.map((doc) => doc.toJS() as unknown).filter((o) => o !== null)
  }

  it.each<[string, Node[], Partial<DetectionSignals>]>([
    ['MetalLB', threeNodes, {}],
    ['MetalLB with a placeholder', [makeNode('a', '', {addresses: []})], {}],
    ['legacy MetalLB', threeNodes, {configMaps: {'metallb-system/config': {}}}],
    ['Cilium', threeNodes, {apiGroups: ['cilium.io'], customObjectCounts: {[COUNT_KEYS.ciliumPools]: 0}}],
  ])('%s: the manifests, exactly, behind a comment header', (_name, nodes, signals) => {
    const step = stepFor(nodes, signals)
    const text = renderYaml(step, 'homelab')
    expect(text.split('\n')[0]).toBe('# kubectl expose-lb recommend, for context homelab')
    expect(parse(text)).toEqual(step.manifests.map((m) => m.object))
  })

  it('the range check is a comment right above the addresses', () => {
    const text = renderYaml(stepFor(threeNodes), 'homelab')
    expect(text).toContain(
      '  addresses:\n    # check these addresses are free and outside your DHCP range (suggested from 192.168.1.0/24)\n    - 192.168.1.240-192.168.1.250\n',
    )
    expect(text).toContain(`#      kubectl apply -f ${METALLB_MANIFEST_URL}\n`)
  })

  it.each<[string, Partial<ClusterSnapshot>['nodes'], Partial<DetectionSignals>]>([
    ['k3s ServiceLB', [k3sNode('s1', '192.168.1.10', ['server', '--disable', 'servicelb'])], {}],
    [
      'nothing to install',
      threeNodes,
      metallbInstalled({[COUNT_KEYS.metallbPools]: 1, [COUNT_KEYS.metallbL2Advertisements]: 1}),
    ],
  ])('%s: a comment-only stream that says so', (_name, nodes, signals) => {
    const text = renderYaml(stepFor(nodes ?? [], signals), 'homelab')
    expect(text.split('\n').every((line) => line.startsWith('#'))).toBe(true)
    expect(text).toContain('# nothing to apply: this step has no manifests')
    expect(parse(text)).toEqual([])
  })
})

describe('nextStep with pending Services', () => {
  it('one k3s node whose ServiceLB Services collide: free the ports, nothing to apply', () => {
    const node = makeNode('server-0', '192.168.1.10', {providerID: 'k3s://server-0'})
    const traefik = makeService('traefik', {
      namespace: 'kube-system',
      type: 'LoadBalancer',
      loadBalancerIngress: [{ip: '192.168.1.10'}],
    })
    const nginx = makeService('ingress-nginx-controller', {namespace: 'ingress-nginx', type: 'LoadBalancer'})
    const snapshot = makeSnapshot({nodes: [node], services: [traefik, nginx]})
    const pending = new Map([
      [
        'ingress-nginx/ingress-nginx-controller',
        {
          reason: 'servicelb-port-conflict' as const,
          message: 'its svclb pods cannot be scheduled: port 80/TCP is already taken on the nodes',
          fix: 'give this Service other ports',
          evidence: ['…'],
        },
      ],
    ])
    const detection = withPendingCounts(detectLoadBalancers(snapshot), {...snapshot, pending})
    const step = nextStep(snapshot, detection, undefined, pending)
    expect(step).toMatchObject({
      recommendation: 'k3s-servicelb',
      title: 'free the ports k3s ServiceLB needs',
      manifests: [],
      actions: [
        {
          text: 'ingress-nginx/ingress-nginx-controller: its svclb pods cannot be scheduled: port 80/TCP is already taken on the nodes; give this Service other ports',
          commands: [],
        },
        {
          text: 'See the evidence for one of them',
          commands: ['kubectl expose-lb explain ingress-nginx-controller -n ingress-nginx'],
        },
        expect.objectContaining({text: 'Check that ServiceLB runs an svclb pod for each LoadBalancer Service'}),
      ],
    })
    expect(renderYaml(step, 'k3s')).not.toMatch(/^---/m)
  })
})
