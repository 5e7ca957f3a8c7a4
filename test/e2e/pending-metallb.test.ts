// The pending diagnosis of MetalLB Services end to end: the plugin reads MetalLB's pools and advertisements and the
// Services' Events from the simulator (core/v1, or events.k8s.io/v1 when only that is allowed), as kubectl would.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {kubectl, writeKubeconfig} from './helpers.js'

// Texts from /work/shared/research/pending-reasons.md §3.2 (the allocator's errors) and §3.5; names are made up.
const CLUSTER = `
apiVersion: v1
kind: Node
metadata: {name: node-a}
status:
  addresses: [{type: InternalIP, address: 192.168.1.41}]
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: controller, namespace: metallb-system, labels: {app: metallb, component: controller}}
spec: {replicas: 1}
status: {replicas: 1, readyReplicas: 1}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [192.168.1.240-192.168.1.241]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dmz, namespace: metallb-system, labels: {zone: dmz}}
spec: {addresses: [10.0.0.0/28], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: dmz-only, namespace: metallb-system}
spec:
  ipAddressPoolSelectors: [{matchLabels: {zone: dmz}}]
---
apiVersion: v1
kind: Service
metadata:
  name: jellyfin
  namespace: media
  annotations: {metallb.io/ip-allocated-from-pool: lan}
spec:
  type: LoadBalancer
  clusterIP: 10.43.9.1
  ports: [{name: http, port: 8096, nodePort: 30096, protocol: TCP}]
status:
  loadBalancer: {ingress: [{ip: 192.168.1.240}]}
---
apiVersion: v1
kind: Service
metadata:
  name: plex
  namespace: media
  annotations: {metallb.io/address-pool: production}
spec:
  type: LoadBalancer
  clusterIP: 10.43.9.2
  ports: [{name: http, port: 32400, nodePort: 32400, protocol: TCP}]
status: {loadBalancer: {}}
---
apiVersion: v1
kind: Service
metadata: {name: sonarr, namespace: media}
spec:
  type: LoadBalancer
  clusterIP: 10.43.9.3
  ports: [{name: http, port: 8989, nodePort: 30989, protocol: TCP}]
status: {loadBalancer: {}}
---
apiVersion: v1
kind: Event
metadata: {name: sonarr.17a0b1c2d3e4f5a6, namespace: media}
involvedObject: {kind: Service, namespace: media, name: sonarr, apiVersion: v1}
reason: AllocationFailed
message: 'Failed to allocate IP for "media/sonarr": no available IPs'
source: {component: metallb-controller}
lastTimestamp: "2025-10-01T08:00:00Z"
count: 4
type: Warning
`

let sim: SimServer
beforeAll(async () => {
  sim = await startSimServer({
    objects: loadObjectsFromYaml(CLUSTER),
    tokens: {admin: 'admin', newer: 'newer'},
    rbac: {
      admin: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}],
      // Events only through events.k8s.io.
      newer: [
        {apiGroups: [''], resources: ['services', 'nodes', 'pods', 'configmaps'], verbs: ['get', 'list']},
        {
          apiGroups: ['apps', 'discovery.k8s.io', 'networking.k8s.io', 'metallb.io'],
          resources: ['*'],
          verbs: ['get', 'list'],
        },
        {apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['list']},
      ],
    },
  })
})
afterAll(() => sim.close())

async function pendingOf(
  token: string,
): Promise<Record<string, {reason: string; evidence: string[]; unavailable?: string[]}>> {
  const run = await kubectl([
    'expose-lb',
    'list',
    '--kubeconfig',
    writeKubeconfig(sim.kubeconfig({token})),
    '-o',
    'json',
  ])
  expect(run.code).toBe(0)
  const report = JSON.parse(run.stdout) as {services: Array<{name: string; pending?: never}>}
  return Object.fromEntries(report.services.flatMap((s) => (s.pending ? [[s.name, s.pending]] : [])))
}

describe('MetalLB Services', () => {
  it('reads pools, advertisements and Events to say why each is pending or unannounced', async () => {
    const pending = await pendingOf('admin')
    expect(Object.keys(pending).sort()).toEqual(['jellyfin', 'plex', 'sonarr'])
    expect(pending.jellyfin).toMatchObject({
      reason: 'metallb-not-advertised',
      evidence: [
        'annotation metallb.io/ip-allocated-from-pool: lan',
        'status.loadBalancer.ingress: 192.168.1.240',
        'advertisements: L2Advertisement metallb-system/dmz-only (ipAddressPools: none, with ipAddressPoolSelectors)',
      ],
    })
    expect(pending.plex).toMatchObject({
      reason: 'metallb-pool-not-found',
      evidence: [
        'annotation metallb.io/address-pool: production',
        'IPAddressPools: metallb-system/dmz (10.0.0.0/28); metallb-system/lan (192.168.1.240-192.168.1.241)',
      ],
    })
    expect(pending.sonarr).toMatchObject({
      reason: 'metallb-pool-exhausted',
      evidence: [
        'Warning AllocationFailed (x4) from metallb-controller: Failed to allocate IP for "media/sonarr": no available IPs',
        'IPAddressPools: metallb-system/dmz (10.0.0.0/28); metallb-system/lan (192.168.1.240-192.168.1.241)',
      ],
    })
    expect(pending.sonarr).not.toHaveProperty('unavailable')
  })

  it('falls back to events.k8s.io when core Events are forbidden, and quotes the same event', async () => {
    const pending = await pendingOf('newer')
    expect(pending.sonarr).toMatchObject({
      reason: 'metallb-pool-exhausted',
      evidence: [
        'Warning AllocationFailed (x4) from metallb-controller: Failed to allocate IP for "media/sonarr": no available IPs',
        expect.any(String),
      ],
    })
    expect(
      sim.requests.some((r) => r.user === 'newer' && r.path === '/apis/events.k8s.io/v1/events' && r.status === 200),
    ).toBe(true)
    expect(sim.requests.some((r) => r.user === 'newer' && r.path === '/api/v1/events' && r.status === 403)).toBe(true)
  })
})
