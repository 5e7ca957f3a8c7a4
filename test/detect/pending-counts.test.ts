// The recommendation counts pending LoadBalancer Services (issue: "ServiceLB serves 1 of 11 LoadBalancer Services;
// 10 are pending because their ports collide on every node: MetalLB gives each Service its own address").
import {describe, expect, it} from 'vitest'
import {COUNT_KEYS, detectLoadBalancers} from '../../src/detect/detect.js'
import {withPendingCounts} from '../../src/detect/recommend.js'
import type {DetectionSignals, Node, Recommendation, Service} from '../../src/plan/types.js'
import {emptySignals, makeNode, makeService, makeWorkload} from '../builders.js'

const k3s = (name: string, ip: string): Node =>
  makeNode(name, ip, {providerID: `k3s://${name}`, kubeletVersion: 'v1.31.5+k3s1'})
const threeK3s = [k3s('server-0', '172.18.0.2'), k3s('agent-0', '172.18.0.3'), k3s('agent-1', '172.18.0.4')]
const svclb = makeWorkload('DaemonSet', 'kube-system', 'svclb-traefik-57d28a11', {
  labels: {'svccontroller.k3s.cattle.io/svcname': 'traefik'},
})
const traefik = makeService('traefik', {
  namespace: 'kube-system',
  type: 'LoadBalancer',
  loadBalancerIngress: [{ip: '172.18.0.2'}],
})
const pendingLb = (n: number) =>
  Array.from({length: n}, (_, i) =>
    makeService(`app${i}`, {type: 'LoadBalancer', ports: [{port: 80, protocol: 'TCP'}]}),
  )

function recommendation(
  nodes: Node[],
  services: Service[],
  reasons: string[],
  signals: Partial<DetectionSignals> = {},
): Recommendation {
  const detection = detectLoadBalancers({nodes, services, signals: emptySignals(signals)})
  const pendingSvcs = services.filter((s) => s.type === 'LoadBalancer' && s.loadBalancerIngress.length === 0)
  const pending = new Map(pendingSvcs.map((s, i) => [`${s.namespace}/${s.name}`, {reason: reasons[i] ?? 'unknown'}]))
  return withPendingCounts(detection, {services, nodes, pending}).recommendation
}

describe('withPendingCounts', () => {
  it.each<[string, Node[], Service[], string[], Partial<DetectionSignals>, Recommendation]>([
    [
      'k3s on three nodes, ServiceLB serving Traefik, ten Services colliding on its ports: MetalLB',
      threeK3s,
      [traefik, ...pendingLb(10)],
      Array(10).fill('servicelb-port-conflict'),
      {workloads: [svclb]},
      {
        name: 'metallb',
        reason:
          'k3s ServiceLB serves 1 of 11 LoadBalancer Services; 10 are pending (10 servicelb-port-conflict): their ports ' +
          `collide on every node; MetalLB gives each Service its own address`,
      },
    ],
    [
      'one k3s node: ServiceLB stays (the seed rule), with the numbers',
      [k3s('server-0', '192.168.1.10')],
      [traefik, ...pendingLb(1)],
      ['servicelb-port-conflict'],
      {workloads: [svclb]},
      {
        name: 'k3s-servicelb',
        reason:
          'k3s ServiceLB serves 1 of 2 LoadBalancer Services; 1 is pending (1 servicelb-port-conflict): their ports are ' +
          'already taken on the node; give them other ports or free those (`kubectl expose-lb explain` names who holds ' +
          `them)`,
      },
    ],
    [
      'MetalLB serving with its pools exhausted: more addresses for MetalLB',
      [makeNode('a', '192.168.1.10'), makeNode('b', '192.168.1.11')],
      [...pendingLb(2)],
      ['metallb-pool-exhausted', 'metallb-pool-exhausted'],
      {
        apiGroups: ['metallb.io'],
        customObjectCounts: {[COUNT_KEYS.metallbPools]: 1, [COUNT_KEYS.metallbL2Advertisements]: 1},
      },
      {
        name: 'metallb',
        reason: `MetalLB serves 0 of 2 LoadBalancer Services; 2 are pending (2 metallb-pool-exhausted): MetalLB has no address left for them; add addresses`,
      },
    ],
    [
      'a serving implementation with other reasons: fix them, nothing to install',
      [makeNode('a', '192.168.1.10')],
      [...pendingLb(2)],
      ['event', 'metallb-ip-unavailable'],
      {
        apiGroups: ['metallb.io'],
        customObjectCounts: {[COUNT_KEYS.metallbPools]: 1, [COUNT_KEYS.metallbL2Advertisements]: 1},
      },
      {
        name: 'fix-pending',
        reason: `MetalLB serves 0 of 2 LoadBalancer Services; 2 are pending (1 event, 1 metallb-ip-unavailable): \`kubectl expose-lb explain <service> -n <namespace>\` shows why and the fix for each`,
      },
    ],
    [
      'no implementation: the install recommendation says how many it fixes',
      [makeNode('a', '192.168.1.10'), makeNode('b', '192.168.1.11'), makeNode('c', '192.168.1.12')],
      pendingLb(1),
      ['no-implementation'],
      {},
      {
        name: 'metallb',
        reason:
          '1 of 1 LoadBalancer Services is pending (1 no-implementation); this cluster has 3 nodes: install MetalLB (L2) ' +
          `and give it a range of free addresses`,
      },
    ],
  ])('%s', (_name, nodes, services, reasons, signals, expected) => {
    expect(recommendation(nodes, services, reasons, signals)).toEqual(expected)
  })

  it('leaves the detection as it is when nothing is pending', () => {
    const detection = detectLoadBalancers({
      nodes: threeK3s,
      services: [traefik],
      signals: emptySignals({workloads: [svclb]}),
    })
    expect(withPendingCounts(detection, {services: [traefik], nodes: threeK3s, pending: new Map()})).toBe(detection)
    expect(detection.recommendation).toEqual({name: 'none', reason: 'k3s ServiceLB is serving: nothing to install'})
  })
})
