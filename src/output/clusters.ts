// The ExposureReport of several clusters (`list --context a --context b`, `--all-contexts`): one entry per cluster
// with its own context, server, nodes and load balancer, and every Service marked with its cluster. A report of one
// context keeps the single-cluster shape (report.ts) exactly. Pure.
import type {ExposureReport} from './report.js'

/** One cluster of a several-cluster report; `error` when it could not be read (the others still are). */
export interface ClusterEntry {
  /** The cluster's label in names (src/plan/clusters.ts). */
  name: string
  context: string
  server: string
  nodes: ExposureReport['nodes']
  loadBalancer?: ExposureReport['loadBalancer']
  warnings: string[]
  error?: string
}

export interface MultiClusterReport {
  apiVersion: 'expose-lb/v1'
  kind: 'ExposureReport'
  domain: string
  clusters: ClusterEntry[]
  services: Array<ExposureReport['services'][number] & {cluster: string}>
  /** Across clusters: names that more than one cluster claims. */
  warnings: string[]
}

/** What was read of one cluster: its report (built from the merged plan), or why it could not be read. */
export type ClusterResult =
  {label: string; report: ExposureReport} | {label: string; context: string; server: string; error: string}

/** Puts the clusters' reports together. */
export function combineReports(domain: string, results: ClusterResult[], warnings: string[]): MultiClusterReport {
  return {
    apiVersion: 'expose-lb/v1',
    kind: 'ExposureReport',
    domain,
    clusters: results.map((r) =>
      'report' in r
        ? {
            name: r.label,
            context: r.report.context,
            server: r.report.server,
            nodes: r.report.nodes,
            loadBalancer: r.report.loadBalancer,
            warnings: r.report.warnings,
          }
        : {name: r.label, context: r.context, server: r.server, nodes: [], warnings: [], error: r.error},
    ),
    services: results.flatMap((r) => ('report' in r ? r.report.services.map((s) => ({cluster: r.label, ...s})) : [])),
    warnings,
  }
}
