// Small builders for the slim domain types, so table tests state only what matters to each case.
import type {
  ClusterSnapshot,
  DetectionSignals,
  EndpointSlice,
  Node,
  Service,
  ServicePort,
  Workload,
} from '../src/plan/types.js'

export function makeService(name: string, overrides: Partial<Service> = {}): Service {
  return {
    namespace: 'default',
    name,
    type: 'ClusterIP',
    clusterIP: '10.43.0.10',
    externalIPs: [],
    ports: [{port: 80, protocol: 'TCP'}],
    ipFamilies: ['IPv4'],
    externalTrafficPolicy: 'Cluster',
    loadBalancerIngress: [],
    annotations: {},
    labels: {},
    selector: {app: name},
    ...overrides,
  }
}

export function nodePortService(
  name: string,
  ports: Array<Partial<ServicePort> & {nodePort: number}>,
  overrides: Partial<Service> = {},
): Service {
  return makeService(name, {
    type: 'NodePort',
    ports: ports.map((p) => ({port: 80, protocol: 'TCP', ...p})),
    ...overrides,
  })
}

export function makeNode(name: string, internalIP: string, overrides: Partial<Node> = {}): Node {
  return {
    name,
    labels: {'kubernetes.io/hostname': name},
    annotations: {},
    addresses: [
      {type: 'InternalIP', address: internalIP},
      {type: 'Hostname', address: name},
    ],
    ready: true,
    deleting: false,
    taints: [],
    unschedulable: false,
    ...overrides,
  }
}

export function makeSlice(
  serviceName: string,
  endpoints: Array<{nodeName?: string; ready?: boolean}>,
  namespace = 'default',
): EndpointSlice {
  return {
    namespace,
    name: `${serviceName}-abcde`,
    serviceName,
    endpoints: endpoints.map((e, i) => ({
      nodeName: e.nodeName,
      ready: e.ready ?? true,
      addresses: [`10.42.0.${i + 10}`],
    })),
  }
}

export function makeWorkload(
  kind: Workload['kind'],
  namespace: string,
  name: string,
  overrides: Partial<Workload> = {},
): Workload {
  return {kind, namespace, name, labels: {}, images: [], env: {}, ...overrides}
}

export function emptySignals(overrides: Partial<DetectionSignals> = {}): DetectionSignals {
  return {
    apiGroups: [],
    workloads: [],
    configMaps: {},
    customObjectCounts: {},
    ingressClasses: [],
    unavailable: [],
    ...overrides,
  }
}

export function makeSnapshot(overrides: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return {services: [], nodes: [], endpointSlices: [], signals: emptySignals(), ...overrides}
}
