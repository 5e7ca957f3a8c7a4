// serve over several clusters: one watch per context, each with its own failures. A cluster that cannot be reached
// at start is tried again in the background (its names appear once it answers) while the others are served; serve
// fails at start only when no cluster answers. The plan is each cluster's own, merged (src/plan/clusters.ts).
import {firstLine} from '../errors.js'
import type {Logger} from '../log.js'
import {mergeClusterPlans} from '../plan/clusters.js'
import {buildPlan} from '../plan/plan.js'
import type {ClusterSnapshot, Plan, PlanOptions} from '../plan/types.js'

/** What ClusterSet needs of one cluster's watch (ClusterWatch; a fake in tests). */
export interface ClusterSource {
  start(): Promise<void>
  snapshot(): ClusterSnapshot
  stop(): Promise<void>
}

export interface ClusterMember {
  context: string
  /** The cluster's label in names. */
  label: string
  /** A new watch of this cluster; called again for each retry after a failed start. */
  watch: () => ClusterSource
}

/** The state of one cluster, for the log and the dashboard. */
export interface ClusterStatus {
  context: string
  label: string
  state: 'serving' | 'retrying'
  /** Why the last start failed, while retrying. */
  error?: string
}

const RETRY_INITIAL_MS = 1000
const RETRY_MAX_MS = 30_000

interface Member extends ClusterMember {
  source?: ClusterSource
  error?: string
  attempt: number
  timer?: NodeJS.Timeout
}

/** Several clusters as one source of plans for ServeRuntime. */
export class ClusterSet {
  private readonly members: Member[]
  private stopped = false

  constructor(
    members: ClusterMember[],
    private readonly options: {log: Logger; onChange: () => void; retryInitialMs?: number; retryMaxMs?: number},
  ) {
    this.members = members.map((m) => ({...m, attempt: 0}))
  }

  /** Starts every cluster's watch; throws only when none of them starts (the first one's error). */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.members.map((m) => this.startMember(m)))
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
    if (failed.length === this.members.length) throw failed[0]
    for (const m of this.members) if (m.error) this.retryLater(m)
  }

  /** One plan over the clusters that answer: their own plans merged, with each cluster's warnings named. */
  plan(options: PlanOptions): Plan {
    const plans = this.members.flatMap((m) =>
      m.source ? [{label: m.label, plan: buildPlan(m.source.snapshot(), options)}] : [],
    )
    const merged = mergeClusterPlans(plans, options.domain)
    const own = plans.flatMap(({label, plan}) => plan.warnings.map((w) => `${label}: ${w}`))
    return {...merged, warnings: [...own, ...merged.warnings]}
  }

  /** Every cluster's state. */
  status(): ClusterStatus[] {
    return this.members.map((m) => ({
      context: m.context,
      label: m.label,
      state: m.source ? 'serving' : 'retrying',
      ...(m.error && !m.source ? {error: m.error} : {}),
    }))
  }

  /** One line per cluster that is not served, for the dashboard. */
  notes(): string[] {
    return this.status().flatMap((c) =>
      c.state === 'retrying'
        ? [
            `context "${c.context}" (${c.label}) is not served: ${c.error ?? 'not reached yet'}; trying again in the background`,
          ]
        : [],
    )
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const m of this.members) clearTimeout(m.timer)
    await Promise.all(this.members.map((m) => m.source?.stop().catch(() => {})))
  }

  private async startMember(m: Member): Promise<void> {
    let source: ClusterSource | undefined
    try {
      source = m.watch()
      await source.start()
    } catch (error) {
      await source?.stop().catch(() => {})
      m.error = firstLine(error)
      throw error
    }
    if (this.stopped) {
      await source.stop()
      return
    }
    m.source = source
    m.error = undefined
  }

  private retryLater(m: Member): void {
    const initial = this.options.retryInitialMs ?? RETRY_INITIAL_MS
    const delay = Math.min(initial * 2 ** m.attempt, this.options.retryMaxMs ?? RETRY_MAX_MS)
    if (m.attempt === 0) {
      this.options.log.warn(
        `context "${m.context}": ${m.error}; serving the other clusters, trying this one again in the background`,
        {event: 'cluster-down', context: m.context},
      )
    }
    m.attempt++
    m.timer = setTimeout(() => {
      if (this.stopped) return
      this.startMember(m).then(
        () => {
          if (this.stopped) return
          m.attempt = 0
          this.options.log.info(`context "${m.context}": connected; its Services are served as ${m.label}`, {
            event: 'cluster-up',
            context: m.context,
          })
          this.options.onChange()
        },
        () => this.retryLater(m),
      )
    }, delay)
  }
}
