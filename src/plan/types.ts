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
}

export interface EndpointSlice {
  namespace: string
  name: string
  /** The `kubernetes.io/service-name` label. */
  serviceName: string
  endpoints: Endpoint[]
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

export interface PlannedPort {
  name?: string
  port: number
  protocol: Protocol
  nodePort?: number
  appProtocol?: string
  mode: PortMode
  targets: Target[]
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
