// Where the Ingress and Gateway API objects live on this API server, and one read of them all. Gateway API kinds are
// CRDs: the group may be missing (not installed: quietly no hosts), and TLSRoute may be served only at an older
// version than the others (v1alpha2 before gateway-api v1.5), so each resource is looked up at the versions the group
// serves, preferred first. A forbidden read is noted in `unavailable`, never fatal: hosts are an extra.
import {ExposeLbError} from '../errors.js'
import type {IngressObjects, RouteKind} from '../plan/ingress-types.js'
import {ApiStatusError, type ApiClient, type ReadTarget} from './client.js'
import {toGateway, toGatewayClass, toIngress, toIngressClass, toRoute} from './convert-ingress.js'

export const GATEWAY_GROUP = 'gateway.networking.k8s.io'

/** One resource host mapping reads: where to list it, and how its items become slim objects. */
export interface IngressResource {
  /** `ingresses`, `httproutes`, … (plural, as in the URL). */
  resource: string
  group: string
  /** The list path, without a namespace: `/apis/<group>/<version>/<resource>`. */
  path: string
  namespaced: boolean
  /** Where the converted item goes in IngressObjects. */
  add: (objects: IngressObjects, raw: unknown) => void
}

const ROUTE_KINDS: Array<[string, RouteKind]> = [
  ['httproutes', 'HTTPRoute'],
  ['grpcroutes', 'GRPCRoute'],
  ['tlsroutes', 'TLSRoute'],
]

/** An empty set of objects. */
export function emptyIngressObjects(): IngressObjects {
  return {ingresses: [], ingressClasses: [], gateways: [], gatewayClasses: [], routes: []}
}

function statusOf(error: unknown): number {
  if (error instanceof ApiStatusError) return error.status
  return error instanceof ExposeLbError && error.code === 'forbidden' ? 403 : 0
}

/** A read that may be missing (404) or forbidden (403): undefined then, with the status. */
async function tryGet<T>(api: ApiClient, target: ReadTarget): Promise<{value?: T; status: number}> {
  try {
    return {value: await api.get<T>(target), status: 200}
  } catch (error) {
    const status = statusOf(error)
    if (status === 403 || status === 404) return {status}
    throw error
  }
}

/**
 * The resources to read on this server: Ingresses and IngressClasses always; Gateway API kinds at the first version
 * (preferred first) that answers their list. `unavailable` names forbidden ones.
 */
export async function ingressResources(api: ApiClient): Promise<{resources: IngressResource[]; unavailable: string[]}> {
  const resources: IngressResource[] = [
    {
      resource: 'ingressclasses',
      group: 'networking.k8s.io',
      path: '/apis/networking.k8s.io/v1/ingressclasses',
      namespaced: false,
      add: (o, raw) => void o.ingressClasses.push(toIngressClass(raw)),
    },
    {
      resource: 'ingresses',
      group: 'networking.k8s.io',
      path: '/apis/networking.k8s.io/v1/ingresses',
      namespaced: true,
      add: (o, raw) => void o.ingresses.push(toIngress(raw)),
    },
  ]
  const unavailable: string[] = []
  const group = await tryGet<{versions?: Array<{version?: string}>; preferredVersion?: {version?: string}}>(api, {
    path: `/apis/${GATEWAY_GROUP}`,
    verb: 'get',
    resource: `API group ${GATEWAY_GROUP}`,
  })
  const preferred = group.value?.preferredVersion?.version
  const versions = [
    ...new Set([...(preferred ? [preferred] : []), ...(group.value?.versions ?? []).flatMap((v) => v.version ?? [])]),
  ]
  const gatewayKinds: Array<[string, boolean, IngressResource['add']]> = [
    ['gatewayclasses', false, (o, raw) => void o.gatewayClasses.push(toGatewayClass(raw))],
    ['gateways', true, (o, raw) => void o.gateways.push(toGateway(raw))],
    ...ROUTE_KINDS.map(([resource, kind]): [string, boolean, IngressResource['add']] => [
      resource,
      true,
      (o, raw) => void o.routes.push(toRoute(kind, raw)),
    ]),
  ]
  await Promise.all(
    gatewayKinds.map(async ([resource, namespaced, add]) => {
      for (const version of versions) {
        const path = `/apis/${GATEWAY_GROUP}/${version}/${resource}`
        // A limit of 1 asks only whether the list is served here; the real read follows.
        const probe = await tryGet(api, {
          path: `${path}?limit=1`,
          verb: 'list',
          resource: `${resource}.${GATEWAY_GROUP}`,
        })
        if (probe.status === 404) continue
        if (probe.status === 403) unavailable.push(`list ${resource}.${GATEWAY_GROUP} (forbidden)`)
        else resources.push({resource, group: GATEWAY_GROUP, path, namespaced, add})
        return
      }
    }),
  )
  return {resources, unavailable}
}

/** Lists every resource once (Ingresses and routes only in `namespace` when given) into IngressObjects. */
export async function readIngressObjects(
  api: ApiClient,
  namespace?: string,
): Promise<{objects: IngressObjects; unavailable: string[]}> {
  const {resources, unavailable} = await ingressResources(api)
  const objects = emptyIngressObjects()
  const lists = await Promise.all(
    resources.map(async (r) => {
      const path = namespace && isScoped(r) ? namespacedPath(r.path, namespace) : r.path
      const resource = r.group === '' ? r.resource : `${r.resource}.${r.group}`
      const read = await tryGet<{items?: unknown[]}>(api, {path, verb: 'list', resource, namespace})
      if (read.status === 403) unavailable.push(`list ${resource} (forbidden)`)
      return {r, items: read.value?.items ?? []}
    }),
  )
  for (const {r, items} of lists) for (const item of items) r.add(objects, item)
  if (unavailable.length > 0) objects.unavailable = unavailable
  return {objects, unavailable}
}

/** Ingresses and routes follow -n; classes and Gateways are read everywhere, as a route may attach across namespaces. */
export function isScoped(r: IngressResource): boolean {
  return r.resource === 'ingresses' || r.resource.endsWith('routes')
}

/** `/apis/g/v/res` → `/apis/g/v/namespaces/<ns>/res`. */
export function namespacedPath(path: string, namespace: string): string {
  const slash = path.lastIndexOf('/')
  return `${path.slice(0, slash)}/namespaces/${encodeURIComponent(namespace)}${path.slice(slash)}`
}
