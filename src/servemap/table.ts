// serve's start-up table and the one-line descriptions its change log compares. Pure.
import {formatColumns} from '../output/table.js'
import type {ServeRow} from './map.js'
import type {HealthState, ProbedTarget} from './types.js'

/** Rows list each target up to this many; beyond, a count per health state (a 50-node cluster stays readable). */
const LISTED_TARGETS = 6

function targetsCell(r: ServeRow, state: (target: ProbedTarget) => HealthState): string {
  if (r.note && r.targets.length === 0) return r.note
  const note = r.note ? ` ${r.note}` : ''
  if (r.targets.length <= LISTED_TARGETS) return r.targets.map((t) => targetCell(t, state)).join(',') + note
  const counts = new Map<HealthState, number>()
  for (const t of r.targets) counts.set(state(t), (counts.get(state(t)) ?? 0) + 1)
  const summary = [...counts].map(([s, n]) => `${n} ${s}`).join(', ')
  return `${r.targets.length} targets: ${summary}${note}`
}

/** A node with its health; a tunnel gateway as `api-server` (not probed), `api-server(fallback)` behind nodes. */
function targetCell(t: ProbedTarget, state: (target: ProbedTarget) => HealthState): string {
  if (t.via === 'api-server') return t.fallback ? 'api-server(fallback)' : 'api-server'
  return `${t.node}(${state(t)})`
}

/** NAME ADDRESS MODE TARGETS, targets with their health. */
export function formatServeTable(rows: ServeRow[], state: (target: ProbedTarget) => HealthState): string {
  const body = rows.map((r) => [r.name, r.endpoint ?? '-', r.mode, targetsCell(r, state)])
  return formatColumns([['NAME', 'ADDRESS', 'MODE', 'TARGETS'], ...body])
}

/** A mapped row's key and description (see rowLines), or undefined for a row without an endpoint. */
export function rowLine(r: ServeRow): [key: string, line: string] | undefined {
  if (!r.endpoint) return undefined
  // A gateway's loopback port changes with every start: the log names the path instead.
  const targets = r.targets
    .map((t) => (t.via ? (t.fallback ? 'api-server fallback' : 'api-server') : `${t.address}:${t.port}`))
    .join(',')
  const via = r.path === 'api-server' && r.note ? ` (${r.note})` : ''
  const host = r.source ? ` ${r.name}` : ''
  return [
    `${r.service} ${r.endpoint}${host}`,
    `${r.name} → ${r.endpoint} (${r.mode}) → ${targets || r.note || 'no targets'}${targets ? via : ''}`,
  ]
}

/**
 * One description per mapped row, keyed by what identifies it, for "route added/removed" lines. An Ingress host's
 * row shares the router's endpoint with its Service's other hosts, so its name is part of the key. `line` may be a
 * cache of rowLine (serve keeps one: an unchanged Service keeps its row objects).
 */
export function rowLines(
  rows: ServeRow[],
  line: (r: ServeRow) => [string, string] | undefined = rowLine,
): Map<string, string> {
  const lines = new Map<string, string>()
  for (const r of rows) {
    const entry = line(r)
    if (entry) lines.set(entry[0], entry[1])
  }
  return lines
}
