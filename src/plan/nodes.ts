// Which nodes may receive load-balancer traffic, and at which address.
// Eligibility follows k8s.io/cloud-provider's stableNodeSetPredicates (controllers/service/controller.go).
import type {AddressType, IPFamily, Node, PlannedNode} from './types.js'

/** Label kubeadm, minikube and Talos put on control-plane nodes; its value is parsed as a Go bool. */
export const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers'
/** Taint the cluster autoscaler puts on a node it is about to remove. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler'

const GO_TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True'])
const GO_FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False'])

/**
 * True when the node carries EXCLUDE_LABEL with a value that excludes it. The value is read as Go's
 * strconv.ParseBool: "false" keeps the node; "true" or anything unparsable (kubeadm sets "") excludes it. The one
 * reading of the label: plan, detection and recommendations all ask here.
 */
export function isExcludedNode(node: Pick<Node, 'labels'>): boolean {
  const exclude = node.labels[EXCLUDE_LABEL]
  return exclude !== undefined && (GO_TRUE.has(exclude) || !GO_FALSE.has(exclude))
}

/** Why a node must not take load-balancer traffic, or undefined when it may. */
export function ineligibility(node: Node): string | undefined {
  if (node.deleting) return 'being deleted'
  if (node.taints.some((t) => t.key === TO_BE_DELETED_TAINT)) return `tainted ${TO_BE_DELETED_TAINT}`
  if (isExcludedNode(node)) return `labelled ${EXCLUDE_LABEL}`
  return undefined
}

export interface NodeSelection {
  /** The nodes targets are built from, sorted by name. */
  targets: Node[]
  planned: PlannedNode[]
  warnings: string[]
}

/**
 * Eligible nodes; when none is (a single-node kubeadm or Talos control plane carries the exclude label), all nodes
 * not being deleted, with a warning, as MetalLB's --ignore-exclude-lb does.
 */
export function selectNodes(nodes: Node[]): NodeSelection {
  const sorted = [...nodes].sort((a, b) => a.name.localeCompare(b.name))
  const reasons = new Map(sorted.map((n) => [n.name, ineligibility(n)]))
  let targets = sorted.filter((n) => reasons.get(n.name) === undefined)
  const warnings: string[] = []
  let fallback = false
  if (targets.length === 0 && sorted.length > 0) {
    targets = sorted.filter((n) => !n.deleting)
    fallback = targets.length > 0
    if (fallback) {
      warnings.push(
        `no node is eligible for load-balancer traffic (${EXCLUDE_LABEL} or ${TO_BE_DELETED_TAINT}); using all ${targets.length} node(s) anyway`,
      )
    }
  }
  const used = new Set(targets.map((n) => n.name))
  const planned = sorted.map((n): PlannedNode => {
    const reason = reasons.get(n.name)
    const base = {name: n.name, ready: n.ready, addresses: n.addresses, eligible: used.has(n.name)}
    if (reason === undefined) return base
    return {...base, reason: used.has(n.name) ? `${reason}; used because no node is eligible` : reason}
  })
  return {targets, planned, warnings}
}

/** The IP family of an address literal. */
export function familyOf(address: string): IPFamily {
  return address.includes(':') ? 'IPv6' : 'IPv4'
}

/** The node's address of the given family, preferring `preferred` and falling back to the other IP type. */
export function nodeAddress(node: Node, family: IPFamily, preferred: AddressType): string | undefined {
  const other: AddressType = preferred === 'InternalIP' ? 'ExternalIP' : 'InternalIP'
  for (const type of [preferred, other]) {
    const found = node.addresses.find((a) => a.type === type && familyOf(a.address) === family)
    if (found) return found.address
  }
  return undefined
}
