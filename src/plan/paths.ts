// Which path serve takes to a Service port, and which Pods the API-server path reaches. Pure.
//
// Node paths (node address:NodePort) are direct and health-checked; the API-server path carries one TCP stream per
// connection through pods/portforward to a ready endpoint Pod, so it works for ClusterIP Services and for nodes the
// workstation cannot route to, at the cost of sending the traffic through the control plane.
import type {EndpointSlice, Exposure, PathsMode, PodEndpoint, PortPath, Service, ServicePort} from './types.js'
import {fitted} from '../fitted.js'

/** A port's path, and why it is `none`. */
export interface PathChoice {
  path: PortPath
  note?: string
}

/** True for a Service whose endpoints the endpoint controller makes from Pods (an empty selector counts as none). */
export function hasSelector(svc: Service): boolean {
  return svc.selector !== undefined && Object.keys(svc.selector).length > 0
}

/**
 * The endpoint Pods of one Service port, in slice and endpoint order: ready, not terminating, backed by a Pod
 * (targetRef), with the port number the slice gives the Service port's name (a named targetPort is resolved per
 * slice, as kube-proxy reads it: https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/).
 */
export function podEndpoints(svc: Service, port: ServicePort, slices: EndpointSlice[]): PodEndpoint[] {
  const endpoints: PodEndpoint[] = []
  const seen = new Set<string>()
  for (const slice of slices) {
    if (slice.namespace !== svc.namespace || slice.serviceName !== svc.name) continue
    const match = (slice.ports ?? []).find((p) => (p.name ?? '') === (port.name ?? '') && p.protocol === port.protocol)
    if (!match) continue
    for (const ep of slice.endpoints) {
      if (!ep.ready || ep.terminating || !ep.pod || seen.has(ep.pod)) continue
      seen.add(ep.pod)
      endpoints.push({pod: ep.pod, port: match.port, ...(ep.nodeName ? {node: ep.nodeName} : {})})
    }
  }
  return fitted(endpoints)
}

const NODE_EXPOSURES = new Set<Exposure>(['node-port', 'lb-pending'])

/** Why a port cannot take the API-server path, or undefined when it can. */
function tunnelBlocker(svc: Service, exposure: Exposure, port: ServicePort): string | undefined {
  if (exposure === 'external-name') return 'ExternalName: a DNS alias outside the cluster, nothing to forward'
  if (exposure === 'headless') {
    return 'headless (clusterIP None): no Service address to map; reach one Pod with kubectl port-forward pod/NAME'
  }
  if (!hasSelector(svc)) {
    return 'no selector: its endpoints are not Pods, and the API server forwards only to Pods'
  }
  if (port.protocol !== 'TCP') {
    return `${port.protocol} cannot go through the API server (pods/portforward carries TCP streams only)`
  }
  return undefined
}

/**
 * The path of one port. `node`: NodePort and pending LoadBalancer Services use node targets; `lb`: a LoadBalancer
 * with an address is reached there. Under `auto`, ClusterIP Services with a selector take the API-server path;
 * `api-server` forces it for every Service it can carry; `node` keeps node paths only.
 */
export function choosePath(svc: Service, exposure: Exposure, port: ServicePort, mode: PathsMode): PathChoice {
  if (exposure === 'lb-ready') return {path: 'lb'}
  const blocker = tunnelBlocker(svc, exposure, port)
  if (mode === 'api-server') return blocker ? {path: 'none', note: blocker} : {path: 'api-server'}
  if (NODE_EXPOSURES.has(exposure)) return {path: 'node'}
  if (mode === 'node') return {path: 'none', note: `${exposure}: not reachable from outside the cluster`}
  return blocker ? {path: 'none', note: blocker} : {path: 'api-server'}
}

/**
 * Pods a port reaches through the API server: for the API-server path, and under `auto` for a node path's
 * fallback when every node target is down. Empty when the port cannot be carried.
 */
export function tunnelEndpoints(
  svc: Service,
  exposure: Exposure,
  port: ServicePort,
  choice: PathChoice,
  mode: PathsMode,
  slices: EndpointSlice[],
): PodEndpoint[] | undefined {
  const fallback = mode === 'auto' && choice.path === 'node' && !tunnelBlocker(svc, exposure, port)
  if (choice.path !== 'api-server' && !fallback) return undefined
  return podEndpoints(svc, port, slices)
}
