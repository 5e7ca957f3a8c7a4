// The kinds the simulated API server knows, and the API groups it advertises in discovery.

/** Any Kubernetes object, loosely typed: the simulator stores what it is given. */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    resourceVersion?: string
    uid?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    creationTimestamp?: string
    [k: string]: unknown
  }
  [k: string]: unknown
}

/** One served kind: where it lives in the API and how discovery describes it. */
export interface KindInfo {
  group: string // '' for the core group
  version: string
  kind: string
  resource: string // plural, as in the URL
  singular: string
  namespaced: boolean
  shortNames: string[]
}

function kind(
  apiVersion: string,
  name: string,
  resource: string,
  namespaced: boolean,
  shortNames: string[] = [],
): KindInfo {
  return {...splitApiVersion(apiVersion), kind: name, resource, singular: name.toLowerCase(), namespaced, shortNames}
}

/** Kinds served out of the box: what the plugin reads, plus the CRDs of the load balancers it detects. */
export const BUILTIN_KINDS: readonly KindInfo[] = [
  kind('v1', 'Service', 'services', true, ['svc']),
  kind('v1', 'Node', 'nodes', false, ['no']),
  kind('v1', 'Namespace', 'namespaces', false, ['ns']),
  kind('v1', 'Pod', 'pods', true, ['po']),
  kind('v1', 'ConfigMap', 'configmaps', true, ['cm']),
  kind('v1', 'Endpoints', 'endpoints', true, ['ep']),
  kind('v1', 'Event', 'events', true, ['ev']),
  kind('events.k8s.io/v1', 'Event', 'events', true, ['ev']),
  kind('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices', true),
  kind('apps/v1', 'DaemonSet', 'daemonsets', true, ['ds']),
  kind('apps/v1', 'Deployment', 'deployments', true, ['deploy']),
  kind('networking.k8s.io/v1', 'IngressClass', 'ingressclasses', false),
  kind('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'customresourcedefinitions', false, ['crd', 'crds']),
  kind('metallb.io/v1beta1', 'IPAddressPool', 'ipaddresspools', true),
  kind('metallb.io/v1beta1', 'L2Advertisement', 'l2advertisements', true),
  kind('metallb.io/v1beta1', 'BGPAdvertisement', 'bgpadvertisements', true),
  kind('cilium.io/v2', 'CiliumLoadBalancerIPPool', 'ciliumloadbalancerippools', false, [
    'ippools',
    'ippool',
    'lbippool',
    'lbippools',
  ]),
  kind('cilium.io/v2alpha1', 'CiliumLoadBalancerIPPool', 'ciliumloadbalancerippools', false, [
    'ippools',
    'ippool',
    'lbippool',
    'lbippools',
  ]),
  kind('cilium.io/v2', 'CiliumL2AnnouncementPolicy', 'ciliuml2announcementpolicies', false, ['l2announcement']),
  kind('cilium.io/v2alpha1', 'CiliumL2AnnouncementPolicy', 'ciliuml2announcementpolicies', false, ['l2announcement']),
  kind('network.kubesphere.io/v1alpha2', 'Eip', 'eips', false),
  kind('purelb.io/v2', 'ServiceGroup', 'servicegroups', true),
]

/** Groups a real cluster always serves; any other group is advertised only once something uses it. */
export const BUILTIN_GROUPS: readonly string[] = [
  '',
  'apps',
  'discovery.k8s.io',
  'events.k8s.io',
  'networking.k8s.io',
  'apiextensions.k8s.io',
]

/** Splits `apps/v1` into group and version (`v1` is the core group). */
export function splitApiVersion(apiVersion: string): {group: string; version: string} {
  const slash = apiVersion.indexOf('/')
  return slash < 0
    ? {group: '', version: apiVersion}
    : {group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1)}
}

/** Joins group and version back into an apiVersion string. */
export function joinApiVersion(group: string, version: string): string {
  return group ? `${group}/${version}` : version
}

/** The kinds a CustomResourceDefinition adds, one per served version. */
export function kindsFromCrd(crd: KubeObject): KindInfo[] {
  const spec = (crd.spec ?? {}) as {
    group?: string
    scope?: string
    names?: {kind?: string; plural?: string; singular?: string; shortNames?: string[]}
    versions?: Array<{name?: string; served?: boolean}>
  }
  const {group, names} = spec
  if (!group || !names?.kind || !names.plural) return []
  return (spec.versions ?? [])
    .filter((v) => v.name && v.served !== false)
    .map((v) => ({
      group,
      version: v.name!,
      kind: names.kind!,
      resource: names.plural!,
      singular: names.singular ?? names.kind!.toLowerCase(),
      namespaced: spec.scope !== 'Cluster',
      shortNames: names.shortNames ?? [],
    }))
}
