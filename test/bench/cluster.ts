// The cluster the serve bench runs against: three loopback "nodes", an HTTP Service (web), a TCP sink and an
// echo Service, filler Services so DNS has ~50 Services to answer, and the Services added one by one to measure
// convergence. Every NodePort named here has a real listener on the node addresses (nginx or load-worker).
import type {KubeObject} from '../../src/sim/api-server.js'

/** Loopback addresses of the nodes: outside the 127.0.10.x (homelab) and 127.0.20.x (synthetic) of other runs. */
export const NODES = ['127.0.30.1', '127.0.30.2', '127.0.30.3']
export const NODE_PORTS = {web: 30080, sink: 30900, echo: 30901, fillerBase: 30200, changeBase: 31000}
export const SERVICE_PORTS = {web: 8080, sink: 9000, echo: 9001}
export const NAMESPACE = 'bench'
/** Services in the DNS query file: web, sink, echo and the fillers. */
export const DNS_SERVICES = 50
const FILLERS = DNS_SERVICES - 3

function node(i: number, address: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {name: `node-${i + 1}`, labels: {'kubernetes.io/hostname': `node-${i + 1}`}},
    status: {
      addresses: [
        {type: 'InternalIP', address},
        {type: 'Hostname', address: `node-${i + 1}`},
      ],
      conditions: [{type: 'Ready', status: 'True'}],
    },
  }
}

/** A NodePort Service with one port; `name` decides the mode (`http` → HTTP, anything else → TCP). */
export function nodePortService(
  name: string,
  port: {name: string; port: number; nodePort: number; appProtocol?: string},
  namespace = NAMESPACE,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {name, namespace, labels: {app: name}},
    spec: {
      type: 'NodePort',
      selector: {app: name},
      ports: [{...port, protocol: 'TCP', targetPort: port.port}],
      ipFamilies: ['IPv4'],
    },
  }
}

/** The starting cluster: nodes, web, sink, echo and the fillers (HTTP Services whose NodePorts answer too). */
export function benchCluster(): KubeObject[] {
  return [
    ...NODES.map((a, i) => node(i, a)),
    nodePortService('web', {name: 'http', port: SERVICE_PORTS.web, nodePort: NODE_PORTS.web}),
    // appProtocol https: their names are routes of serve's SNI listener too (the SNI section); forwarding by the
    // per-service address stays plain TCP (https is not an HTTP mode, src/plan/plan.ts portMode).
    nodePortService('sink', {name: 'sink', port: SERVICE_PORTS.sink, nodePort: NODE_PORTS.sink, appProtocol: 'https'}),
    nodePortService('echo', {name: 'echo', port: SERVICE_PORTS.echo, nodePort: NODE_PORTS.echo, appProtocol: 'https'}),
    ...Array.from({length: FILLERS}, (_, i) =>
      nodePortService(`app-${i}`, {name: 'http', port: 8080, nodePort: NODE_PORTS.fillerBase + i}),
    ),
  ]
}

/** NodePorts of the fillers, for the backend to listen on. */
export const fillerNodePorts = () => Array.from({length: FILLERS}, (_, i) => NODE_PORTS.fillerBase + i)

/** The i-th Service added while measuring convergence: HTTP, on a NodePort the backend already listens on. */
export function changedService(i: number): KubeObject {
  return nodePortService(`change-${i}`, {name: 'http', port: 8080, nodePort: NODE_PORTS.changeBase + i})
}

/** Short and long names of the Services in the DNS query file. */
export function dnsNames(domain: string): string[] {
  const services = ['web', 'sink', 'echo', ...Array.from({length: FILLERS}, (_, i) => `app-${i}`)]
  return services.flatMap((s) => [`${s}.${domain}`, `${s}.${NAMESPACE}.${domain}`])
}
