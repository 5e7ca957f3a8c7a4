// Synthetic clusters for benchmarks: many Services over many nodes, as plain API objects for the simulator.
import type {KubeObject} from '../../src/sim/api-server.js'

/** The first NodePort of the default --service-node-port-range (30000-32767, kube-apiserver). */
export const FIRST_NODE_PORT = 30000
const NAMESPACES = 20

/** The shape of a synthetic cluster. */
export interface ScaleShape {
  nodes: number
  /** NodePort Services, one port each, on NodePorts from 30000 up (at most 2,768: the default range). */
  nodePortServices: number
  /** ClusterIP Services with a selector and one ready endpoint Pod each: serve maps them through the API server. */
  clusterIpServices: number
}

/** Loopback address of the n-th synthetic node: 127.0.20.1 and up (250 a /24). */
export function nodeAddress(n: number): string {
  return `127.0.${20 + Math.floor(n / 250)}.${(n % 250) + 1}`
}

function node(n: number): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {name: `node-${n}`, labels: {'kubernetes.io/hostname': `node-${n}`}},
    status: {
      addresses: [
        {type: 'InternalIP', address: nodeAddress(n)},
        {type: 'Hostname', address: `node-${n}`},
      ],
      conditions: [{type: 'Ready', status: 'True'}],
    },
  }
}

/** The s-th Service of a synthetic cluster: its name, namespace and (for NodePort) NodePort. */
export function scaleService(s: number, shape: ScaleShape): {name: string; namespace: string; nodePort?: number} {
  const namespace = `ns-${s % NAMESPACES}`
  if (s < shape.nodePortServices) return {name: `np-${s}`, namespace, nodePort: FIRST_NODE_PORT + s}
  return {name: `cip-${s - shape.nodePortServices}`, namespace}
}

/**
 * The Service and EndpointSlice of the s-th Service; `generation` changes the Service (a label) so a re-apply is a
 * MODIFIED event, as a `kubectl label` would be.
 */
export function scaleServiceObjects(s: number, shape: ScaleShape, generation = 0): KubeObject[] {
  const {name, namespace, nodePort} = scaleService(s, shape)
  const pod = `${name}-7d9f8b6c5-x${(s % 9000) + 1000}`
  const nodeName = `node-${s % shape.nodes}`
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {name, namespace, labels: {app: name, generation: String(generation)}},
      spec: {
        type: nodePort === undefined ? 'ClusterIP' : 'NodePort',
        selector: {app: name},
        ports: [{name: 'http', port: 8080, targetPort: 8080, protocol: 'TCP', ...(nodePort ? {nodePort} : {})}],
        ipFamilies: ['IPv4'],
        clusterIP: `10.43.${Math.floor(s / 250)}.${(s % 250) + 1}`,
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {name: `${name}-abc`, namespace, labels: {'kubernetes.io/service-name': name}},
      addressType: 'IPv4',
      endpoints: [
        {
          addresses: [`10.42.${Math.floor(s / 250)}.${(s % 250) + 1}`],
          nodeName,
          conditions: {ready: true},
          targetRef: {kind: 'Pod', name: pod, namespace},
        },
      ],
      ports: [{name: 'http', port: 8080, protocol: 'TCP'}],
    },
  ]
}

/** Nodes, then every Service with its EndpointSlice (issue 20's scale shape: 100 nodes, 2,500 + 7,500 Services). */
export function scaleCluster(shape: ScaleShape): KubeObject[] {
  const objects: KubeObject[] = Array.from({length: shape.nodes}, (_, n) => node(n))
  const services = shape.nodePortServices + shape.clusterIpServices
  for (let s = 0; s < services; s++) objects.push(...scaleServiceObjects(s, shape))
  return objects
}

/** The shape issue 20 sets for the scale targets. */
export const ISSUE_SCALE: ScaleShape = {nodes: 100, nodePortServices: 2500, clusterIpServices: 7500}
