// Output of the serve bench: the machine it ran on, plain-text tables, the OK/MISS target lines, and the JSON file.
import {mkdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

/** What the numbers came from. */
export interface Machine {
  node: string
  cpuModel: string
  cpus: number
  kernel: string
  memoryGb: number
  /** 1-minute load average when the bench started: other work on the machine makes every number noisier. */
  loadAverage1m: number
  tools: Record<string, string | undefined>
}

export function describeMachine(tools: Record<string, string | undefined>): Machine {
  const cpus = os.cpus()
  return {
    node: process.version,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    kernel: `${os.type()} ${os.release()}`,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage1m: os.loadavg()[0] ?? NaN,
    tools,
  }
}

export function machineLine(m: Machine): string {
  const tools = Object.entries(m.tools)
    .map(([name, version]) => `${name} ${version ?? 'missing'}`)
    .join(', ')
  return (
    `node ${m.node}; ${m.cpus} × ${m.cpuModel}; ${m.kernel}; ${m.memoryGb} GiB; ` +
    `load average ${m.loadAverage1m.toFixed(2)} at start\n${tools}`
  )
}

/** One target (issues 6 and 20), checked against numbers of the same run; `ok` undefined when it could not be measured. */
export interface TargetCheck {
  what: string
  measured: string
  limit: string
  ok: boolean | undefined
}

export function targetLines(targets: TargetCheck[]): string {
  const rows = targets.map((t) => [t.ok === undefined ? 'n/a' : t.ok ? 'OK' : 'MISS', t.what, t.measured, t.limit])
  return table(['', 'target', 'measured', 'limit'], rows, 3)
}

/** Fixed-width table: the first `leftColumns` columns left-aligned, the rest right-aligned. */
export function table(headers: string[], rows: string[][], leftColumns = 1): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

/** A number with `digits` decimals, thousands grouped; '-' for missing values. */
export function num(n: number | undefined, digits = 0): string {
  if (n === undefined || Number.isNaN(n)) return '-'
  if (!Number.isFinite(n)) return '∞'
  return n.toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits})
}

/** `a / b` as `0.62×`, or '-' when either is missing. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '-'
  return `${(a / b).toFixed(2)}×`
}

/** The sample whose `key` is the median (the lower one of an even count), or undefined for none. */
export function medianBy<T>(samples: T[], key: (s: T) => number): T | undefined {
  const sorted = [...samples].sort((a, b) => key(a) - key(b))
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

/** The p-th percentile (0..1) of `samples`, nearest rank. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]!
}

/** Where results go (git-ignored): serve.json, and the tail of each serve child's log for a look afterwards. */
export const RESULTS_DIR = fileURLToPath(new URL('../../bench-results/', import.meta.url))

export function writeLog(name: string, text: string): void {
  mkdirSync(RESULTS_DIR, {recursive: true})
  writeFileSync(join(RESULTS_DIR, name), text)
}

export function writeJson(file: string, data: unknown): void {
  mkdirSync(dirname(file), {recursive: true})
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`)
}

/**
 * "mine ≥ factor × theirs" for a figure where more is better (req/s, MB/s, conn/s, q/s), measured in this run.
 * `unit` follows the numbers in the table ('' for plain counts).
 */
export function atLeast(
  what: string,
  mine: number | undefined,
  theirs: number | undefined,
  factor: number,
  baseName: string,
  unit = '',
): TargetCheck {
  const u = unit ? ` ${unit}` : ''
  return {
    what,
    measured: mine === undefined ? '-' : `${num(mine)}${u} (${ratio(mine, theirs)})`,
    limit: theirs === undefined ? `≥ ${factor}× ${baseName}` : `≥ ${factor}× ${baseName} = ${num(theirs * factor)}${u}`,
    ok: mine === undefined || theirs === undefined ? undefined : mine >= factor * theirs,
  }
}

/** "mine ≤ theirs + slackMs" for a latency percentile, measured in this run. */
export function tailWithin(
  what: string,
  mineMs: number | undefined,
  theirsMs: number | undefined,
  slackMs: number,
  baseName: string,
): TargetCheck {
  return {
    what,
    measured: mineMs === undefined ? '-' : `${num(mineMs, 2)} ms`,
    limit:
      theirsMs === undefined
        ? `≤ ${baseName} + ${slackMs} ms`
        : `≤ ${baseName} ${num(theirsMs, 2)} + ${slackMs} ms = ${num(theirsMs + slackMs, 2)} ms`,
    ok: mineMs === undefined || theirsMs === undefined ? undefined : mineMs <= theirsMs + slackMs,
  }
}
