// What `list` reads: one cluster or several, each planned, its load balancer detected and its pending Services
// diagnosed, and the report built. The command only checks flags before and renders after.
import {detectLoadBalancers} from '../detect/detect.js'
import {withPendingCounts} from '../detect/recommend.js'
import {ExposeLbError, firstLine} from '../errors.js'
import type {ApiClient} from '../kube/client.js'
import {combineReports, type ClusterResult, type MultiClusterReport} from '../output/clusters.js'
import {buildReport, type ExposureReport} from '../output/report.js'
import {clusterLabels, mergeClusterPlans} from '../plan/clusters.js'
import {buildPlan} from '../plan/plan.js'
import type {PlanOptions} from '../plan/types.js'

/** Which objects to read, and from which kubeconfig. */
export interface ListScope {
  kubeconfig?: string
  namespace?: string
  selector?: string
}

/** One cluster read for the report: its objects planned, its load balancer detected, its pending Services diagnosed. */
async function readCluster(api: ApiClient, scope: ListScope, options: PlanOptions) {
  const {readSnapshot, diagnosePending} = await import('../kube/session.js')
  const snapshot = await readSnapshot(api, {namespace: scope.namespace, selector: scope.selector})
  const plan = buildPlan(snapshot, options)
  const found = detectLoadBalancers(snapshot)
  const pending = await diagnosePending(api, snapshot, found, {namespace: scope.namespace})
  return {plan, detection: withPendingCounts(found, {...snapshot, pending}), pending}
}

/** The report of one context (the current one when `context` is undefined). */
export async function readOneCluster(
  scope: ListScope,
  context: string | undefined,
  options: PlanOptions,
): Promise<ExposureReport> {
  const {openCluster} = await import('../kube/session.js')
  const api = openCluster({kubeconfig: scope.kubeconfig, context})
  const read = await readCluster(api, scope, options)
  return buildReport({context: api.context, server: api.server, ...read})
}

/** A cluster that could not be read, with its error (the others were). */
export interface FailedCluster {
  context: string
  error: unknown
}

/**
 * Several clusters, each read on its own (one that fails never stops the others), planned together: one report,
 * each cluster's result (for the per-cluster headers), and those that failed.
 */
export async function readSeveralClusters(
  scope: ListScope,
  contexts: string[],
  clusterNames: string[],
  options: PlanOptions,
): Promise<{report: MultiClusterReport; results: ClusterResult[]; failed: FailedCluster[]}> {
  const labelled = clusterLabels(contexts, clusterNames)
  if ('error' in labelled) throw new ExposeLbError('usage', labelled.error)
  const {openCluster} = await import('../kube/session.js')
  const reads = await Promise.all(
    contexts.map(async (context) => {
      const label = labelled.labels.get(context) ?? context
      try {
        const api = openCluster({kubeconfig: scope.kubeconfig, context})
        return {label, context, api, read: await readCluster(api, scope, options)}
      } catch (error) {
        return {label, context, error}
      }
    }),
  )
  const merged = mergeClusterPlans(
    reads.flatMap((r) => (r.read ? [{label: r.label, plan: r.read.plan}] : [])),
    options.domain,
  )
  const results: ClusterResult[] = reads.map((r) => {
    if (!r.read || !r.api) return {label: r.label, context: r.context, server: '', error: firstLine(r.error)}
    const plan = {
      ...r.read.plan,
      services: merged.services.filter((s) => s.cluster === r.label),
      hosts: merged.hosts?.filter((h) => h.cluster === r.label),
    }
    return {label: r.label, report: buildReport({context: r.api.context, server: r.api.server, ...r.read, plan})}
  })
  const failed = reads.flatMap((r) => (r.read ? [] : [{context: r.context, error: r.error}]))
  return {report: combineReports(options.domain, results, merged.warnings), results, failed}
}
