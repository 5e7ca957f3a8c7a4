/**
 * What every load-balancer module (src/lb/<name>.ts) exports, and the shapes they share. Pure: slim types only, so
 * detection, diagnosis and the recommended step of one implementation live in one file, as CoreDNS keeps one folder
 * per plugin.
 */
import type {Distro} from './distro.js'
import type {
  ClusterSnapshot,
  DetectedLoadBalancer,
  Detection,
  DetectionSignals,
  DetectorName,
  Node,
  Recommendation,
  Service,
} from '../plan/types.js'
import type {RangeSuggestion} from './range.js'

/** What detection reads: nodes, Services and the signals `src/kube/snapshot.ts` collects. */
export interface Facts {
  nodes: Node[]
  services: Service[]
  signals: DetectionSignals
  distro: Distro
}

/** One implementation found; `finish` says what is missing when it is installed but does not serve. */
export interface Finding {
  lb: DetectedLoadBalancer
  finish?: Recommendation
}

/** A Kubernetes object to apply, as plain data, with comments on some of its fields. */
export interface Manifest {
  object: Record<string, unknown>
  /** Comments to show above fields, by path into `object`, e.g. `['spec', 'addresses', 0]`. */
  fieldComments: Array<{path: Array<string | number>; text: string}>
}

/** One thing for the user to do: a sentence, then the commands that do it. */
export interface Action {
  text: string
  commands: string[]
  /** This action applies the step's manifests: text output shows them under it. */
  applies?: boolean
}

/** How the commands in a step reach the same cluster as this run. */
export interface StepOptions {
  /** kubectl with the flags that chose this cluster, e.g. `kubectl --context homelab`. */
  kubectl: string
  /** The recommend command with the same flags: `<self> -o yaml | <kubectl> apply -f -` applies the manifests. */
  self: string
}

/** What a step builder decides from. */
export interface StepContext {
  snapshot: Pick<ClusterSnapshot, 'nodes' | 'services' | 'signals'>
  detection: Detection
  options: StepOptions
  /** Diagnoses of pending Services by `namespace/name` (src/lb/diagnose.ts). */
  pending: ReadonlyMap<string, Pending>
  /** Nodes not being deleted. */
  nodes: Node[]
  range: RangeSuggestion
  /** Detection's reason. */
  reason: string
}

/** A step as one module builds it; `src/recommend/steps.ts` completes it into a NextStep. */
export interface StepPart {
  title: string
  actions: Action[]
  notes?: string[]
  manifests?: Manifest[]
  /** The step uses the suggested range, so its warnings apply. */
  usesRange?: boolean
}

/** One load-balancer implementation: how to see it, and the steps for the recommendations it owns. */
export interface LoadBalancerModule {
  name: DetectorName
  /** How messages name it, e.g. "MetalLB". */
  display: string
  detect(facts: Facts): Finding | undefined
  /** Step builders by recommendation name (`metallb`, `cilium-lb-ipam`, …). */
  steps?: Record<string, (ctx: StepContext) => StepPart>
  /** spec.loadBalancerClass values it takes besides none. */
  classes?: readonly string[]
  /**
   * Why this implementation leaves `svc` pending (or, for a Service with an address, unannounced), from its own
   * evidence; undefined when it has nothing to say about it.
   */
  diagnose?(svc: Service, ctx: DiagnosisContext): Pending | undefined
}

/**
 * Why a LoadBalancer Service has no address, or has one nobody announces. The codes are a stable part of the
 * `list -o json` contract: extend them only with an entry in the README ("Why a Service is pending").
 */
export type PendingReason =
  | 'no-implementation'
  | 'class-not-served'
  | 'servicelb-disabled'
  | 'servicelb-port-conflict'
  | 'servicelb-no-eligible-node'
  | 'metallb-no-pool'
  | 'metallb-pool-exhausted'
  | 'metallb-pool-not-found'
  | 'metallb-ip-unavailable'
  | 'metallb-not-advertised'
  | 'cilium-no-pool'
  | 'cilium-pool-exhausted'
  | 'cilium-ip-unavailable'
  | 'kube-vip-no-range'
  | 'controller-not-running'
  | 'event'
  | 'unknown'

/** The diagnosis of one Service: a code, one sentence naming the evidence, what to do, and the evidence itself. */
export interface Pending {
  reason: PendingReason
  message: string
  fix: string
  /** What the cluster holds, quoted as it has it (event messages, annotations, conditions, object names). */
  evidence: string[]
  /** Reads that were not allowed or failed, so the diagnosis may miss what they would have shown. */
  unavailable?: string[]
}

/** An Event from either API group, slimmed (core/v1 field names; events.k8s.io/v1 `note` is the message). */
export interface ClusterEvent {
  regarding: {kind: string; namespace: string; name: string}
  type: string
  reason: string
  message: string
  /** source.component, or reportingController / reportingComponent. */
  source: string
  count: number
  /** lastTimestamp (or eventTime), as the API has it; used to order events. */
  lastSeen?: string
}

/** A pod of a load balancer (k3s svclb-*), with what scheduling says about it. */
export interface LbPod {
  namespace: string
  name: string
  labels: Record<string, string>
  phase: string
  nodeName?: string
  ready: boolean
  /** The PodScheduled condition when it is False. */
  unscheduled?: {reason?: string; message?: string}
  hostPorts: Array<{port: number; protocol: string}>
}

/** A MetalLB IPAddressPool (metallb.io/v1beta1). */
export interface MetalLbPool {
  namespace: string
  name: string
  labels: Record<string, string>
  addresses: string[]
  autoAssign: boolean
  /** status.availableIPv4 / availableIPv6 (MetalLB v0.15+), when the pool has a status. */
  available?: {ipv4?: number; ipv6?: number}
}

/** A MetalLB L2Advertisement or BGPAdvertisement: which pools it announces. */
export interface MetalLbAdvertisement {
  kind: 'L2Advertisement' | 'BGPAdvertisement'
  namespace: string
  name: string
  ipAddressPools: string[]
  /** matchLabels of each ipAddressPoolSelectors entry. */
  poolSelectors: Array<Record<string, string>>
}

/** What the pending diagnosis reads beyond detection's signals; the kube layer fills it (src/kube/pending.ts). */
export interface PendingSignals {
  events: ClusterEvent[]
  /** svclb pods of k3s/RKE2 ServiceLB, in any namespace. */
  pods: LbPod[]
  /** Undefined when MetalLB's pools were not read (no metallb.io API, or the read failed). */
  metallbPools?: MetalLbPool[]
  metallbAdvertisements?: MetalLbAdvertisement[]
  /** Reads that failed, as `verb resource (forbidden)`. */
  unavailable: string[]
}

/** What a module's diagnosis sees of the cluster, besides the Service. */
export interface DiagnosisContext {
  facts: Facts
  detection: Detection
  pending: PendingSignals
  /** The events about this Service, newest last. */
  events: ClusterEvent[]
  /** The implementation is detected (installed, serving or not). */
  detected(name: DetectorName): boolean
  /** Detected implementations that take Services without a class, other than `name`. */
  othersServing(name: DetectorName): DetectorName[]
}
