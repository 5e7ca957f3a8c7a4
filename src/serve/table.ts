// serve's start-up table and the one-line descriptions its change log compares. Pure.
import {formatColumns} from '../output/table.js'
import type {HealthState} from '../proxy/health.js'
import type {ServeRow} from './map.js'
import type {Probe} from './types.js'

/** NAME ADDRESS MODE TARGETS, targets with their health. */
export function formatServeTable(rows: ServeRow[], state: (probe: Probe) => HealthState): string {
  const body = rows.map((r) => [
    r.name,
    r.endpoint ?? '-',
    r.mode,
    r.note && r.targets.length === 0
      ? r.note
      : r.targets.map((t) => `${t.node}(${state(t.probe)})`).join(',') + (r.note ? ` ${r.note}` : ''),
  ])
  return formatColumns([['NAME', 'ADDRESS', 'MODE', 'TARGETS'], ...body])
}

/** One description per mapped row, keyed by what identifies it, for "route added/removed" lines. */
export function rowLines(rows: ServeRow[]): Map<string, string> {
  const lines = new Map<string, string>()
  for (const r of rows) {
    if (!r.endpoint) continue
    const targets = r.targets.map((t) => `${t.address}:${t.port}`).join(',')
    lines.set(
      `${r.service} ${r.endpoint}`,
      `${r.name} → ${r.endpoint} (${r.mode}) → ${targets || r.note || 'no targets'}`,
    )
  }
  return lines
}
