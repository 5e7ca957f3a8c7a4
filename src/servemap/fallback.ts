// Which Services ride their API-server fallback now: every node target of one of their rows is down. serve logs
// each change both ways (src/serve/runtime.ts). Pure: health comes in as a function.
import type {ServeRow} from './map.js'
import {API_SERVER_NOTE} from './tunnels.js'
import type {HealthState, ProbedTarget} from './types.js'

/** A Service that moved to its API-server fallback, or back to its nodes, with the line to log. */
export interface FallbackChange {
  service: string
  toApiServer: boolean
  line: string
}

/** The Services on their fallback now (`onFallback`) and the changes since `before`. */
export function fallbackChanges(
  rows: ServeRow[],
  state: (target: ProbedTarget) => HealthState,
  before: Set<string>,
): {changes: FallbackChange[]; onFallback: Set<string>} {
  const onFallback = new Set<string>()
  const answering = new Map<string, string>()
  for (const r of rows) {
    if (!r.targets.some((t) => t.fallback)) continue
    // The first node target not down, in one pass without a list of the node targets: serve walks these rows on
    // every change, 2,500 of them with 100 targets at 10,000 Services (test/bench/scale-bench.ts).
    let nodes = 0
    let up: ProbedTarget | undefined
    for (const t of r.targets) {
      if (t.fallback) continue
      nodes++
      if (state(t) !== 'down') {
        up = t
        break
      }
    }
    if (nodes > 0 && !up) onFallback.add(r.service)
    else if (up) answering.set(r.service, up.node)
  }
  const changes: FallbackChange[] = []
  for (const service of onFallback) {
    if (before.has(service)) continue
    changes.push({service, toApiServer: true, line: `${service}: every node target is down; ${API_SERVER_NOTE}`})
  }
  for (const service of before) {
    if (onFallback.has(service)) continue
    const node = answering.get(service)
    const line = node
      ? `${service}: ${node} answers again; back on the node path`
      : `${service}: off the API-server fallback`
    changes.push({service, toApiServer: false, line})
  }
  return {changes, onFallback}
}
