/**
 * Slim domain types: only the fields of Kubernetes objects that expose-lb reads.
 * `src/kube/convert.ts` turns API objects into these; everything under `src/plan` and `src/detect` works on them.
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP'
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName'
export type IPFamily = 'IPv4' | 'IPv6'

export interface ServicePort {
  name?: string
  port: number
  /** Defaults to TCP when the API object leaves it out. */
  protocol: Protocol
  nodePort?: number
  appProtocol?: string
}

export interface LoadBalancerIngress {
  ip?: string
  hostname?: string
  ipMode?: string
}

export interface Service {
  namespace: string
  name: string
  type: ServiceType
  /** `None` for a headless Service. */
  clusterIP?: string
  externalIPs: string[]
  externalName?: string
  ports: ServicePort[]
  /** Empty when the API object has none (old clusters); then the family is taken from clusterIP, else IPv4. */
  ipFamilies: IPFamily[]
  externalTrafficPolicy: 'Cluster' | 'Local'
  healthCheckNodePort?: number
  /** Undefined means the API default (true). */
  allocateLoadBalancerNodePorts?: boolean
  loadBalancerClass?: string
  loadBalancerIngress: LoadBalancerIngress[]
  annotations: Record<string, string>
  labels: Record<string, string>
  /** Undefined for a selector-less Service (endpoints managed by hand). */
  selector?: Record<string, string>
  /** spec.loadBalancerIP (deprecated upstream, still read by MetalLB and written by kube-vip-cloud-provider). */
  loadBalancerIP?: string
  /** status.conditions (Cilium LB-IPAM writes `cilium.io/IPAMRequestSatisfied` here). */
  conditions?: Condition[]
}

/** A status condition as the API has it. */
export interface Condition {
  type: string
  status: string
  reason?: string
  message?: string
}

export interface NodeAddress {
  type: string
  address: string
}

export interface Taint {
  key: string
  value?: string
  effect?: string
}

export interface Node {
  name: string
  labels: Record<string, string>
  annotations: Record<string, string>
  addresses: NodeAddress[]
  /** The Ready condition is True. */
  ready: boolean
  /** metadata.deletionTimestamp is set. */
  deleting: boolean
  taints: Taint[]
  unschedulable: boolean
  providerID?: string
  osImage?: string
  kubeletVersion?: string
}

export interface Endpoint {
  nodeName?: string
  /** conditions.ready, with nil meaning true (discovery/v1). */
  ready: boolean
  addresses: string[]
  /** conditions.terminating is true (discovery/v1). */
  terminating?: boolean
  /** The Pod behind the endpoint (targetRef of kind Pod), for the API-server path. */
  pod?: string
}

/** A port of an EndpointSlice: a Service port's name (empty for an unnamed one) and the number on the Pods. */
export interface EndpointPort {
  name?: string
  port: number
  protocol: Protocol
}

export interface EndpointSlice {
  namespace: string
  name: string
  /** The `kubernetes.io/service-name` label. */
  serviceName: string
  endpoints: Endpoint[]
  /** The slice's ports; named target ports are resolved here, per slice (discovery/v1). */
  ports?: EndpointPort[]
}

/** A workload seen while looking for load-balancer implementations. */
export interface Workload {
  kind: 'DaemonSet' | 'Deployment' | 'Pod'
  namespace: string
  name: string
  labels: Record<string, string>
  images: string[]
  /** Container env vars with literal values, merged over all containers. */
  env: Record<string, string>
  /** Pods wanted and ready, from the status (a Pod counts as 1); undefined when the status says nothing. */
  pods?: {desired: number; ready: number}
}

/** Read-only facts used by load-balancer detection. Every field may be empty when a read was not allowed. */
export interface DetectionSignals {
  /** API group names from discovery, e.g. `metallb.io`. */
  apiGroups: string[]
  workloads: Workload[]
  /** ConfigMaps by `namespace/name` (only the few detection looks at), with their data. */
  configMaps: Record<string, Record<string, string>>
  /** Counts of custom objects that decide whether an installed LB is serving, keyed by `resource.group`. */
  customObjectCounts: Record<string, number>
  ingressClasses: string[]
  /** Reads that failed with 403/404, as `verb resource` ("list daemonsets.apps"); detection notes them. */
  unavailable: string[]
}

export interface ClusterSnapshot {
  services: Service[]
  nodes: Node[]
  endpointSlices: EndpointSlice[]
  signals: DetectionSignals
}

export type Exposure = 'cluster-only' | 'headless' | 'external-name' | 'node-port' | 'lb-pending' | 'lb-ready'
export type PortMode = 'http' | 'tcp' | 'udp'
export type AddressType = 'InternalIP' | 'ExternalIP'

/** One node address and NodePort that traffic for a Service port can be sent to. */
export interface Target {
  node: string
  address: string
  port: number
}

/**
 * How serve reaches a Service port: node addresses and NodePorts, the API server's pods/portforward, the cluster's
 * own load balancer, or not at all (src/plan/paths.ts).
 */
export type PortPath = 'node' | 'api-server' | 'lb' | 'none'
/** serve --paths: `auto` picks per Service (node paths fall back to the API server), the others force one. */
export type PathsMode = 'auto' | 'node' | 'api-server'

/** A ready endpoint Pod and the port on it that a Service port maps to. */
export interface PodEndpoint {
  pod: string
  port: number
  node?: string
}

export interface PlannedPort {
  name?: string
  port: number
  protocol: Protocol
  nodePort?: number
  appProtocol?: string
  mode: PortMode
  targets: Target[]
  /** Set when the plan was made with PlanOptions.paths. */
  path?: PortPath
  /** Why the path is `none`. */
  pathNote?: string
  /** Pods the API-server path (or a node path's fallback) reaches, in order. */
  endpoints?: PodEndpoint[]
}

export interface PlannedService {
  /** The cluster's label when several clusters are served (src/plan/clusters.ts); absent for one cluster. */
  cluster?: string
  namespace: string
  name: string
  type: ServiceType
  exposure: Exposure
  /** Friendly DNS names, lowercase, no trailing dot. Empty for Services that cannot be mapped. */
  names: string[]
  /** Load-balancer ingress IPs and hostnames already assigned by the cluster. */
  loadBalancerIngress: string[]
  externalTrafficPolicy: 'Cluster' | 'Local'
  healthCheckNodePort?: number
  ports: PlannedPort[]
  warnings: string[]
}

export interface PlannedNode {
  name: string
  ready: boolean
  addresses: NodeAddress[]
  eligible: boolean
  /** Why the node is not eligible (or why it was used anyway). */
  reason?: string
}

export interface Plan {
  domain: string
  nodes: PlannedNode[]
  services: PlannedService[]
  warnings: string[]
}

export interface PlanOptions {
  domain: string
  addressType: AddressType
  /** Which paths serve may use (serve --paths); unset: node paths only, without path fields (as before). */
  paths?: PathsMode
}

export interface DetectedLoadBalancer {
  name: DetectorName
  /** Human-readable facts that led to the detection, e.g. "API group metallb.io". */
  evidence: string[]
  /** True when the implementation is installed and configured to hand out addresses. */
  serving: boolean
}

export type DetectorName =
  | 'metallb'
  | 'k3s-servicelb'
  | 'kube-vip'
  | 'cilium'
  | 'openelb'
  | 'purelb'
  | 'cloud'
  | 'kind'
  | 'minikube'
  | 'microk8s'

export interface Recommendation {
  /** What to install or do next: `none`, `metallb`, `k3s-servicelb`, `cloud-provider-kind`, `minikube-tunnel`, … */
  name: string
  reason: string
}

export interface Detection {
  /** Kubernetes distribution guessed from the nodes: k3s, rke2, kind, minikube, microk8s, talos, or unknown. */
  distro: string
  detected: DetectedLoadBalancer[]
  recommendation: Recommendation
  warnings: string[]
}
