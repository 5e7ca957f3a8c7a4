// The API-server path in the serve map: which Service ports get a tunnel gateway, and the target that stands for
// one. Pure: the gateways themselves live in src/proxy/tunnels.ts.
import type {Plan, PlannedPort, PlannedService} from '../plan/types.js'
import type {ProbedTarget, TunnelRoute} from './types.js'

/** How views mark a route through the API server (start table, change log, dashboard). */
export const API_SERVER_NOTE = 'via API server: traffic and its cost go through the control plane'

/** Where a gateway listens. */
export interface GatewayAddress {
  address: string
  port: number
}

/** The gateway key of a Service port: `namespace/name:port/TCP`, led by `cluster/` with several clusters. */
export function tunnelKey(s: PlannedService, p: PlannedPort): string {
  return `${s.cluster ? `${s.cluster}/` : ''}${s.namespace}/${s.name}:${p.port}/${p.protocol}`
}

/**
 * Every Service port with endpoint Pods to tunnel to: API-server paths, and node paths' fallbacks. With a memo, a
 * planned Service seen before keeps its route objects (a gateway then has nothing to update).
 */
export function tunnelRoutes(plan: Plan, memo?: WeakMap<PlannedService, TunnelRoute[]>): TunnelRoute[] {
  const routes: TunnelRoute[] = []
  for (const s of plan.services) {
    const kept = memo?.get(s)
    if (kept) {
      for (const r of kept) routes.push(r)
      continue
    }
    const start = routes.length
    for (const p of s.ports) {
      if (!p.endpoints?.length) continue
      routes.push({
        key: tunnelKey(s, p),
        service: `${s.cluster ? `${s.cluster}/` : ''}${s.namespace}/${s.name}`,
        ...(s.cluster ? {cluster: s.cluster} : {}),
        namespace: s.namespace,
        endpoints: p.endpoints,
        mode: p.mode,
      })
    }
    memo?.set(s, routes.slice(start))
  }
  return routes
}

/** The target that stands for a gateway in routes and listeners. */
export function gatewayTarget(at: GatewayAddress, fallback: boolean): ProbedTarget {
  return {node: 'api-server', address: at.address, port: at.port, via: 'api-server', ...(fallback ? {fallback} : {})}
}
