/**
 * What every load-balancer module (src/lb/<name>.ts) exports, and the shapes they share. Pure: slim types only, so
 * detection, diagnosis and the recommended step of one implementation live in one file, as CoreDNS keeps one folder
 * per plugin.
 */
import type {Distro} from '../detect/distro.js'
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
  /** Nodes not being deleted. */
  nodes: Node[]
  range: RangeSuggestion
  /** Detection's reason without the "until then" tail. */
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
}
