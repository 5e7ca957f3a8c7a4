// serve's start-up table and the one-line descriptions its change log compares. Pure.
import {formatColumns} from '../output/table.js'
import type {ServeRow} from './map.js'
import type {HealthState, ProbedTarget} from './types.js'
import {listChanges} from './list-changes.js'

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

/** What identifies a mapped row in the change log (see rowLines), or undefined for a row without an endpoint. */
export function rowKey(r: ServeRow): string | undefined {
  if (!r.endpoint) return undefined
  return `${r.service} ${r.endpoint}${r.source ? ` ${r.name}` : ''}`
}

/** A mapped row's key and description (see rowLines), or undefined for a row without an endpoint. */
export function rowLine(r: ServeRow): [key: string, line: string] | undefined {
  const key = rowKey(r)
  if (key === undefined) return undefined
  // A gateway's loopback port changes with every start: the log names the path instead.
  const targets = r.targets
    .map((t) => (t.via ? (t.fallback ? 'api-server fallback' : 'api-server') : `${t.address}:${t.port}`))
    .join(',')
  const via = r.path === 'api-server' && r.note ? ` (${r.note})` : ''
  return [key, `${r.name} → ${r.endpoint} (${r.mode}) → ${targets || r.note || 'no targets'}${targets ? via : ''}`]
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

/** A line of serve's change log: a mapped row that appeared, went, or now reads differently. */
export interface RowChange {
  event: 'route-added' | 'route-removed' | 'route-changed'
  line: string
}

/**
 * The change log between two lists of rows: every key whose line is not the same in both, as comparing rowLines of
 * both would find them, in the same order. Rows found in both lists (the same objects: serve's map memo keeps an
 * unchanged Service's rows) are not described, so a change to one Service describes that Service's rows only.
 * `key` may be a cache of rowKey, as `line` of rowLine: serve keeps both, so that a change makes no key string for the
 * rows it keeps (12,000 at 10,000 Services, twice per change).
 */
export function rowChanges(
  before: readonly ServeRow[],
  after: readonly ServeRow[],
  line: (r: ServeRow) => [string, string] | undefined = rowLine,
  key: (r: ServeRow) => string | undefined = rowKey,
): RowChange[] {
  // Keys of rows found in one list only: only these can differ between the two (see rowLines).
  const touched = new Set<string>()
  const moved = listChanges(before, after)
  if (moved) {
    for (const r of moved.went) addKey(touched, key(r))
    for (const r of moved.came) addKey(touched, key(r))
  } else {
    const was = new Set(before)
    const is = new Set(after)
    for (const r of before) if (!is.has(r)) addKey(touched, key(r))
    for (const r of after) if (!was.has(r)) addKey(touched, key(r))
  }
  if (touched.size === 0) return []
  const old = touchedLines(before, touched, line, key)
  const now = touchedLines(after, touched, line, key)
  const changes: RowChange[] = []
  for (const [key, text] of old) if (!now.has(key)) changes.push({event: 'route-removed', line: text})
  for (const [key, text] of now) {
    const previous = old.get(key)
    if (previous === undefined) changes.push({event: 'route-added', line: text})
    else if (previous !== text) changes.push({event: 'route-changed', line: text})
  }
  return changes
}

function addKey(keys: Set<string>, key: string | undefined): void {
  if (key !== undefined) keys.add(key)
}

/** rowLines of `rows`, for the keys in `keys` only. */
function touchedLines(
  rows: readonly ServeRow[],
  keys: ReadonlySet<string>,
  line: (r: ServeRow) => [string, string] | undefined,
  keyOf: (r: ServeRow) => string | undefined,
): Map<string, string> {
  const lines = new Map<string, string>()
  for (const r of rows) {
    const key = keyOf(r)
    if (key === undefined || !keys.has(key)) continue
    const entry = line(r)
    if (entry) lines.set(entry[0], entry[1])
  }
  return lines
}
