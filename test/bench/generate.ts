// Synthetic clusters for benchmarks: many Services over many nodes, as plain API objects for the simulator.
import type {KubeObject} from '../../src/sim/api-server.js'

/** `services` NodePort Services with `portsPerService` ports each, spread over 20 namespaces, and `nodes` nodes. */
export function syntheticCluster(opts: {services: number; nodes: number; portsPerService: number}): KubeObject[] {
  const objects: KubeObject[] = []
  for (let n = 0; n < opts.nodes; n++) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {name: `node-${n}`, labels: {'kubernetes.io/hostname': `node-${n}`}},
      status: {
        addresses: [
          {type: 'InternalIP', address: `127.0.${20 + Math.floor(n / 250)}.${(n % 250) + 1}`},
          {type: 'Hostname', address: `node-${n}`},
        ],
        conditions: [{type: 'Ready', status: 'True'}],
      },
    })
  }
  for (let s = 0; s < opts.services; s++) {
    const namespace = `ns-${s % 20}`
    const name = `svc-${s}`
    const ports = Array.from({length: opts.portsPerService}, (_, p) => ({
      name: p === 0 ? 'http' : `tcp-${p}`,
      port: p === 0 ? 8080 : 9000 + p,
      protocol: 'TCP',
      // 6,000 NodePorts do not fit the default 30000-32767 range: such clusters widen --service-node-port-range.
      nodePort: 20000 + s * opts.portsPerService + p,
    }))
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {name, namespace, labels: {app: name}},
      spec: {
        type: 'NodePort',
        selector: {app: name},
        ports,
        ipFamilies: ['IPv4'],
        clusterIP: `10.43.${Math.floor(s / 250)}.${(s % 250) + 1}`,
      },
    })
    objects.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {name: `${name}-abc`, namespace, labels: {'kubernetes.io/service-name': name}},
      addressType: 'IPv4',
      endpoints: [
        {addresses: [`10.42.0.${(s % 250) + 1}`], nodeName: `node-${s % opts.nodes}`, conditions: {ready: true}},
      ],
      ports: [{name: 'http', port: 8080, protocol: 'TCP'}],
    })
  }
  return objects
}
