// API discovery documents: what `/api`, `/apis` and `/apis/<group>/<version>` say the server serves.
// https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api
import {BUILTIN_GROUPS, joinApiVersion, type KindInfo} from './kinds.js'
import {failure} from './status.js'
import type {ObjectStore} from './store.js'

/** Media type of aggregated discovery (kubectl ≥ 1.30 asks for it first, and falls back on plain JSON). */
export const AGGREGATED_DISCOVERY = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'

const VERBS = ['get', 'list', 'watch']
// gcloud's kubectl wrapper asks /version first to pick a matching kubectl binary, so report a real release.
const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0',
  platform: 'linux/amd64',
  goVersion: 'go1.23.4',
  compiler: 'gc',
}
const NOT_FOUND = failure(404, 'the server could not find the requested resource')

/** The answer to a discovery or other non-resource path (`/version`, `/healthz`, …); undefined for anything else. */
export function discoveryResponse(
  store: ObjectStore,
  parts: string[], // the path's segments
  accept: string | undefined,
  serverAddress: string,
): {status: number; body: unknown; contentType?: string} | undefined {
  const path = '/' + parts.join('/')
  if (path === '/version') return {status: 200, body: VERSION_INFO}
  if (['/healthz', '/readyz', '/livez'].includes(path))
    return {status: 200, body: 'ok', contentType: 'text/plain; charset=utf-8'}
  if (path === '/api' || path === '/apis') {
    const aggregated = (accept ?? '')
      .split(',')
      .some((part) => part.replace(/\s/g, '').startsWith(AGGREGATED_DISCOVERY))
    if (aggregated)
      return {status: 200, body: aggregatedDiscovery(store, path === '/api'), contentType: AGGREGATED_DISCOVERY}
    return {status: 200, body: path === '/api' ? apiVersions(serverAddress) : apiGroupList(store)}
  }
  if (parts[0] === 'apis' && parts.length === 2) {
    const versions = servedGroups(store).get(parts[1]!)
    return versions ? {status: 200, body: apiGroup(parts[1]!, versions)} : {status: 404, body: NOT_FOUND}
  }
  if ((parts[0] === 'api' && parts.length === 2) || (parts[0] === 'apis' && parts.length === 3)) {
    const [group, version] = parts[0] === 'api' ? ['', parts[1]!] : [parts[1]!, parts[2]!]
    const kinds = servedKinds(store, group, version)
    return kinds ? {status: 200, body: apiResourceList(group, version, kinds)} : {status: 404, body: NOT_FOUND}
  }
  return undefined
}

/**
 * The versions served per group, preferred first. Built-in groups are always there; another group
 * only once an object or a CRD uses it, because load-balancer detection keys off a group's presence.
 */
export function servedGroups(store: ObjectStore): Map<string, string[]> {
  const kinds = store.kinds()
  const used = new Set<string>()
  for (const obj of store.list()) used.add(obj.apiVersion)
  for (const crd of store.list('apiextensions.k8s.io', 'customresourcedefinitions')) {
    const spec = (crd.spec ?? {}) as {group?: string; versions?: Array<{name?: string}>}
    for (const v of spec.versions ?? []) if (spec.group && v.name) used.add(joinApiVersion(spec.group, v.name))
  }
  const groups = new Map<string, string[]>()
  for (const k of kinds) {
    const builtin = BUILTIN_GROUPS.includes(k.group)
    if (!builtin && !used.has(joinApiVersion(k.group, k.version))) continue
    const versions = groups.get(k.group) ?? []
    if (!versions.includes(k.version)) versions.push(k.version)
    groups.set(k.group, versions)
  }
  for (const versions of groups.values()) versions.sort(compareVersions)
  return groups
}

/** The kinds served at one group/version, or undefined when that version is not served. */
export function servedKinds(store: ObjectStore, group: string, version: string): KindInfo[] | undefined {
  if (!servedGroups(store).get(group)?.includes(version)) return undefined
  return store.kinds().filter((k) => k.group === group && k.version === version)
}

/** `GET /api`. */
export function apiVersions(serverAddress: string) {
  return {kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{clientCIDR: '0.0.0.0/0', serverAddress}]}
}

/** One entry of an APIGroupList (`GET /apis`, `GET /apis/<group>`). */
export function apiGroup(name: string, versions: string[]) {
  const gv = versions.map((version) => ({groupVersion: joinApiVersion(name, version), version}))
  return {kind: 'APIGroup', apiVersion: 'v1', name, versions: gv, preferredVersion: gv[0]}
}

/** `GET /apis`: every served group except the core one. */
export function apiGroupList(store: ObjectStore) {
  const groups = [...servedGroups(store)].filter(([name]) => name !== '')
  return {kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(([name, versions]) => apiGroup(name, versions))}
}

/** `GET /api/v1`, `GET /apis/<group>/<version>`. */
export function apiResourceList(group: string, version: string, kinds: KindInfo[]) {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: joinApiVersion(group, version),
    resources: kinds.map((k) => ({
      name: k.resource,
      singularName: k.singular,
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: VERBS,
      ...(k.shortNames.length > 0 ? {shortNames: k.shortNames} : {}),
    })),
  }
}

/** `GET /api` or `/apis` as aggregated discovery (apidiscovery.k8s.io/v2): the groups and their resources in one document. */
export function aggregatedDiscovery(store: ObjectStore, core: boolean) {
  const groups = [...servedGroups(store)].filter(([name]) => (name === '') === core)
  const items = groups.map(([name, versions]) => ({
    metadata: {name},
    versions: versions.map((version) => ({
      version,
      freshness: 'Current',
      resources: (servedKinds(store, name, version) ?? []).map((k) => ({
        resource: k.resource,
        responseKind: {group: k.group, version: k.version, kind: k.kind},
        scope: k.namespaced ? 'Namespaced' : 'Cluster',
        singularResource: k.singular,
        verbs: VERBS,
        ...(k.shortNames.length > 0 ? {shortNames: k.shortNames} : {}),
      })),
    })),
  }))
  return {kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items}
}

// Kubernetes version priority: GA before beta before alpha, higher numbers first (v2 > v1 > v1beta2 > v1beta1 > v1alpha1).
function compareVersions(a: string, b: string): number {
  const rank = (v: string): [number, number, number] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v)
    if (!m) return [-1, 0, 0]
    return [m[2] === undefined ? 2 : m[2] === 'beta' ? 1 : 0, Number(m[1]), Number(m[3] ?? 0)]
  }
  const [ra, rb] = [rank(a), rank(b)]
  return rb[0] - ra[0] || rb[1] - ra[1] || rb[2] - ra[2] || a.localeCompare(b)
}
