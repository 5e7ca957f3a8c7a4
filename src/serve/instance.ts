// One record per running serve in the user's runtime directory, so that a second serve on this machine finds the
// first before it hands out the same per-service addresses: it refuses with one line naming the other serve, or,
// on a range of its own (--ip-range), runs side by side. Records of serves no longer running are removed.
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {ExposeLbError} from '../errors.js'
import {hostPort, isUnspecified} from '../net/address.js'
import {processAlive} from './process.js'
import {numberToIp, parseIpRange, type AddressRange} from '../servemap/addresses.js'

/** What a running serve holds on this machine. */
export interface InstanceRecord {
  pid: number
  domain: string
  /** The kubeconfig context, or `demo`. */
  context: string
  listen: string
  dnsPort: number
  httpPort: number
  /** --ip-range as given: a CIDR, or `none`. */
  ipRange: string
  startedAt: string
}

/**
 * The folder of the records: `$XDG_RUNTIME_DIR/kubectl-expose-lb` (the user's runtime directory on Linux, see
 * https://specifications.freedesktop.org/basedir-spec/latest/), else `kubectl-expose-lb-<uid>` in the temp
 * directory (per user on macOS already).
 */
export function instanceDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR
  if (runtime) return join(runtime, 'kubectl-expose-lb')
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0
  return join(tmpdir(), `kubectl-expose-lb-${uid}`)
}

function rangeOf(text: string): AddressRange | undefined {
  const range = parseIpRange(text)
  return range && !('error' in range) ? range : undefined
}

function overlaps(a: AddressRange, b: AddressRange): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size
}

/** The same port on the same address, or on every address: two serves cannot both bind it. */
function samePort(a: InstanceRecord, b: InstanceRecord, key: 'dnsPort' | 'httpPort'): boolean {
  if (a[key] === 0 || a[key] !== b[key]) return false
  return a.listen === b.listen || isUnspecified(a.listen) || isUnspecified(b.listen)
}

/** A /16 in 127.0.0.0/8 that no running serve uses, to suggest in the refusal. */
export function freeRange(others: InstanceRecord[]): string | undefined {
  const used = others.map((o) => rangeOf(o.ipRange)).filter((r): r is AddressRange => r !== undefined)
  for (let second = 78; second < 255; second++) {
    const candidate = {base: ((127 << 24) >>> 0) + second * 65536, size: 65536}
    if (!used.some((r) => overlaps(r, candidate))) return `${numberToIp(candidate.base)}/16`
  }
  return undefined
}

/**
 * Why `mine` cannot run beside the running serves `others` (pure): the first that shares its per-service addresses,
 * DNS port or HTTP port, as one line with the fix; undefined when they can run side by side.
 */
export function instanceConflict(mine: InstanceRecord, others: InstanceRecord[]): string | undefined {
  const range = rangeOf(mine.ipRange)
  for (const other of others) {
    const theirs = rangeOf(other.ipRange)
    const who = `another kubectl-expose-lb serve (pid ${other.pid}, ${other.domain}, context "${other.context}")`
    if (range && theirs && overlaps(range, theirs)) {
      const free = freeRange(others)
      const suggestion = free ? `--ip-range ${free}` : '--ip-range none'
      return `${who} already hands out addresses in ${other.ipRange} — stop it, or run this one beside it on a range of its own: ${suggestion} with other --dns-port and --http-port`
    }
    for (const [key, flag] of [
      ['dnsPort', '--dns-port'],
      ['httpPort', '--http-port'],
    ] as const) {
      if (!samePort(mine, other, key)) continue
      return `${who} already listens on ${hostPort(other.listen, other[key])} — stop it, or give this one another ${flag}`
    }
  }
  return undefined
}

function isRecord(value: unknown): value is InstanceRecord {
  if (typeof value !== 'object' || value === null) return false
  const r = value as Record<string, unknown>
  return (
    Number.isInteger(r.pid) &&
    typeof r.domain === 'string' &&
    typeof r.context === 'string' &&
    typeof r.listen === 'string' &&
    Number.isInteger(r.dnsPort) &&
    Number.isInteger(r.httpPort) &&
    typeof r.ipRange === 'string' &&
    typeof r.startedAt === 'string'
  )
}

/** Serves started before this one come first: of two that start at once, the later one gives way. */
function startedBefore(a: InstanceRecord, b: InstanceRecord): boolean {
  return a.startedAt < b.startedAt || (a.startedAt === b.startedAt && a.pid < b.pid)
}

/** A registered serve: `release()` removes its record (on stop, and from the exit handler). */
export interface Registration {
  file: string
  release(): void
}

/**
 * Records `mine` in `dir` and checks it against the serves running already; throws an ExposeLbError (exit `bind`)
 * when one of them holds what this one needs, and a plain Error when the folder cannot be used (serve warns and
 * goes on). The record is written before the others are read, so of two serves starting at the same moment one
 * always sees the other. Records of serves no longer running are removed.
 */
export function registerInstance(mine: InstanceRecord, dir: string = instanceDir()): Registration {
  prepareDir(dir)
  const file = join(dir, `serve-${mine.pid}.json`)
  const temp = `${file}.tmp`
  const fd = openSync(temp, 'w', 0o600)
  try {
    const data = Buffer.from(`${JSON.stringify(mine)}\n`)
    for (let at = 0; at < data.length;) at += writeSync(fd, data, at)
  } finally {
    closeSync(fd)
  }
  renameSync(temp, file)
  const release = () => rmSync(file, {force: true})
  const others: InstanceRecord[] = []
  for (const name of readdirSync(dir)) {
    const pid = Number(/^serve-(\d+)\.json$/.exec(name)?.[1])
    if (!Number.isInteger(pid) || pid === mine.pid) continue
    const path = join(dir, name)
    // The serve is gone: its record goes. One that is running but written in a shape this version does not read
    // (a newer one's) stays, and cannot be compared.
    if (!processAlive(pid)) {
      rmSync(path, {force: true})
      continue
    }
    const other = readRecord(path)
    if (other && startedBefore(other, mine)) others.push(other)
  }
  const conflict = instanceConflict(mine, others)
  if (conflict) {
    release()
    throw new ExposeLbError('bind', conflict)
  }
  return {file, release}
}

/** The record of the serve with this pid in `dir`, when it keeps one there in a shape this version reads. */
export function readInstanceRecord(pid: number, dir: string = instanceDir()): InstanceRecord | undefined {
  return readRecord(join(dir, `serve-${pid}.json`))
}

function readRecord(path: string): InstanceRecord | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'))
    return isRecord(value) ? value : undefined
  } catch {
    return undefined // gone in between, or not a record this version reads
  }
}

/** Creates the folder (mode 0700) and refuses one that another user owns: their records are not ours to trust. */
function prepareDir(dir: string): void {
  mkdirSync(dir, {recursive: true, mode: 0o700})
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined
  const owner = statSync(dir).uid
  if (uid !== undefined && owner !== uid) {
    throw new Error(`the folder ${dir} belongs to uid ${owner}, not to you (uid ${uid})`)
  }
}
