// The read-only access expose-lb needs. Printed on a 403 and shown in the README ("RBAC").

/** Rules `list` and `serve` cannot work without: Services, Nodes and EndpointSlices. */
export const REQUIRED_RULES = [
  {apiGroups: [''], resources: ['services', 'nodes'], verbs: ['get', 'list', 'watch']},
  {apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch']},
]

/** Rules load-balancer detection uses; without them `list` still works, with a warning. */
export const DETECTION_RULES = [
  {apiGroups: [''], resources: ['pods', 'configmaps'], verbs: ['get', 'list']},
  {apiGroups: ['apps'], resources: ['daemonsets', 'deployments'], verbs: ['list']},
  {apiGroups: ['networking.k8s.io'], resources: ['ingressclasses'], verbs: ['list']},
  {apiGroups: ['metallb.io'], resources: ['ipaddresspools', 'l2advertisements', 'bgpadvertisements'], verbs: ['list']},
  {apiGroups: ['cilium.io'], resources: ['ciliumloadbalancerippools', 'ciliuml2announcementpolicies'], verbs: ['list']},
  {apiGroups: ['network.kubesphere.io'], resources: ['eips'], verbs: ['list']},
  {apiGroups: ['purelb.io'], resources: ['servicegroups'], verbs: ['list']},
]

/**
 * Rules the pending diagnosis uses (Events about Services and svclb pods, in either group); without them it says
 * which read was forbidden and works from what it can see.
 */
export const PENDING_RULES = [
  {apiGroups: [''], resources: ['events'], verbs: ['list']},
  {apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['list']},
]

/**
 * Rules the API-server path needs (serve --paths auto or api-server): a stream through pods/portforward, which
 * API servers authorize as `create` (and older ones, over WebSocket, as `get`), and reading the Pods it reaches.
 * Without them, ClusterIP Services are reported as not reachable; node paths keep working.
 */
export const TUNNEL_RULES = [
  {apiGroups: [''], resources: ['pods/portforward'], verbs: ['create', 'get']},
  {apiGroups: [''], resources: ['pods'], verbs: ['get']},
]

function rulesYaml(rules: typeof REQUIRED_RULES): string {
  return rules
    .map(
      (r) =>
        `- apiGroups: [${r.apiGroups.map((g) => `"${g}"`).join(', ')}]\n  resources: [${r.resources.join(', ')}]\n  verbs: [${r.verbs.join(', ')}]`,
    )
    .join('\n')
}

/** The ClusterRole as YAML, ready for `kubectl apply -f -`. */
export const MINIMAL_CLUSTER_ROLE = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: expose-lb-reader
rules:
${rulesYaml(REQUIRED_RULES)}
# optional: load-balancer detection
${rulesYaml(DETECTION_RULES)}
# optional: why a LoadBalancer Service is pending
${rulesYaml(PENDING_RULES)}
# optional: Services through the API server (serve --paths auto, the default, or api-server)
${rulesYaml(TUNNEL_RULES)}`

/** What serve says when the API server refuses a port-forward for want of RBAC: a warning, and the route's note. */
export function tunnelForbidden(service: string, namespace: string, said: string): {message: string; note: string} {
  const note = `not reachable: forbidden to create pods/portforward in namespace ${namespace}`
  return {
    message: `${service}: ${note} (${said}); add to the ClusterRole (README "RBAC"):\n${rulesYaml(TUNNEL_RULES)}`,
    note,
  }
}
