// Several clusters in one plan (`--context a --context b`, `--all-contexts`). Each cluster is planned on its own
// (buildPlan), then merged here: every mapped Service always answers `<svc>.<ns>.<cluster>.<domain>`, and keeps
// the names its own plan gave it (`<svc>.<ns>.<domain>`, `<svc>.<domain>`, annotation names) only while no Service
// of another cluster claims the same name — the rule buildPlan applies within one cluster. Pure.
import {hasNames} from './plan.js'
import {isValidDnsName} from './names.js'
import type {Plan, PlannedService} from './types.js'
import {withChanges} from '../fitted.js'

/** One cluster's plan and the DNS label its names carry. */
export interface ClusterPlan {
  /** The cluster's label in names: the context made a DNS label (clusterLabel), or --cluster-name ctx=label. */
  label: string
  plan: Plan
}

const MAX_LABEL = 63

/**
 * The context name made a valid DNS label (RFC 1123): lowercase, every run of other characters one '-', no '-' at
 * either end, at most 63 characters. `kind-home`, `arn:aws:eks:…:cluster/prod` → `arn-aws-eks-…-cluster-prod`.
 */
export function clusterLabel(context: string): string {
  const label = context
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_LABEL)
    .replace(/-+$/, '')
  return label || 'cluster'
}

/** The error for --cluster-name with fewer than two contexts (list, serve and service install say the same). */
export const CLUSTER_NAME_NEEDS_SEVERAL =
  '--cluster-name applies to several contexts: add --context twice or more, or --all-contexts'

/**
 * The labels of `contexts`: `--cluster-name ctx=label` where given (checked), else clusterLabel(). Returns an error
 * line for a bad or unused --cluster-name and for two contexts that end up with one label.
 */
export function clusterLabels(
  contexts: string[],
  overrides: string[],
): {labels: Map<string, string>} | {error: string} {
  const given = new Map<string, string>()
  for (const entry of overrides) {
    const at = entry.indexOf('=')
    const context = at > 0 ? entry.slice(0, at) : ''
    const label = at > 0 ? entry.slice(at + 1).toLowerCase() : ''
    if (!context || !isValidDnsName(label) || label.includes('.')) {
      return {
        error: `--cluster-name "${entry}" is not CONTEXT=LABEL with a DNS label (a-z, 0-9, '-'), e.g. --cluster-name kind-test=test`,
      }
    }
    if (!contexts.includes(context)) {
      return {
        error: `--cluster-name "${entry}": no context "${context}" is being served (contexts: ${contexts.join(', ')})`,
      }
    }
    given.set(context, label)
  }
  const labels = new Map(contexts.map((c) => [c, given.get(c) ?? clusterLabel(c)]))
  const byLabel = new Map<string, string>()
  for (const [context, label] of labels) {
    const other = byLabel.get(label)
    if (other !== undefined) {
      return {
        error: `contexts "${other}" and "${context}" both become the cluster name "${label}" — give one its own with --cluster-name ${context}=<label>`,
      }
    }
    byLabel.set(label, context)
  }
  return {labels}
}

/** `cluster/namespace/name`: how a Service of a merged plan is told apart in warnings. */
function idOf(label: string, s: PlannedService): string {
  return `${label}/${s.namespace}/${s.name}`
}

/**
 * One plan over several clusters. Services carry `cluster`; nodes are named `<cluster>/<node>` (their targets keep
 * the node's own name). The plan's warnings are those across clusters (names more than one claims); each cluster's
 * own plan keeps its warnings.
 */
export function mergeClusterPlans(clusters: ClusterPlan[], domain: string): Plan {
  const claims = new Map<string, string[]>()
  const qualified = new Set<string>()
  for (const {label, plan} of clusters) {
    for (const s of plan.services) {
      if (!hasNames(s)) continue
      qualified.add(`${s.name}.${s.namespace}.${label}.${domain}`.toLowerCase())
      for (const name of s.names) claims.set(name, [...(claims.get(name) ?? []), idOf(label, s)])
    }
  }
  const warnings: string[] = []
  for (const [name, owners] of claims) {
    if (owners.length > 1) warnings.push(`name ${name} is claimed by ${owners.join(' and ')}: none of them gets it`)
  }
  const services: PlannedService[] = []
  for (const {label, plan} of clusters) {
    for (const s of plan.services) {
      const id = idOf(label, s)
      const own = `${s.name}.${s.namespace}.${label}.${domain}`.toLowerCase()
      const names: string[] = []
      const extra: string[] = []
      if (hasNames(s)) {
        names.push(own)
        for (const name of s.names) {
          const owners = claims.get(name) ?? []
          if (name === own) continue
          if (qualified.has(name)) {
            extra.push(
              `name ${name} is another cluster's name for one of its Services; skipped (the Service keeps ${own})`,
            )
          } else if (owners.length > 1) {
            const others = owners.filter((o) => o !== id).join(', ')
            extra.push(`name ${name} is also claimed by ${others}; skipped (the Service keeps ${own})`)
          } else {
            names.push(name)
          }
        }
      }
      services.push(withChanges(s, {cluster: label, names, warnings: s.warnings.concat(extra)}))
    }
  }
  // An Ingress or route host is one name: two clusters claiming it both lose it, as Service names do.
  const hostClusters = new Map<string, string[]>()
  for (const {label, plan} of clusters) {
    for (const h of plan.hosts ?? [])
      hostClusters.set(h.host, [...new Set([...(hostClusters.get(h.host) ?? []), label])])
  }
  for (const [host, labels] of hostClusters) {
    if (labels.length > 1) warnings.push(`host ${host} is in clusters ${labels.join(' and ')}: none of them gets it`)
  }
  const hosts = clusters.flatMap(({label, plan}) =>
    (plan.hosts ?? [])
      .filter((h) => hostClusters.get(h.host)?.length === 1)
      .map((h) => withChanges(h, {cluster: label})),
  )
  return {
    domain,
    hosts,
    nodes: clusters.flatMap(({label, plan}) => plan.nodes.map((n) => withChanges(n, {name: `${label}/${n.name}`}))),
    services,
    warnings,
  }
}
