// `serve --hosts-file`: for machines without split DNS, the names serve answers are also kept in a marked block of
// a hosts file (hosts(5)). The block's text is src/serve/hosts-block.ts; this module does the file's I/O, with one
// implementation of each step for normal updates and for the process 'exit' handler alike. The exit handler
// cannot wait for anything, so every step is synchronous; updates still go through a queue, one at a time.
// A write replaces the file atomically (temp file in the same directory, mode and owner kept, fsync, rename); the
// backup made once per run is written the same way; where rename cannot work (Docker bind-mounts /etc/hosts) the
// file is rewritten in place. A file this run created is deleted again when its block goes, unless someone else
// changed it since. Lines outside the block are kept byte for byte: the file is read as latin1, so every byte maps
// to one character and back. Serves sharing one file each keep their own block (marked with their pid): a serve
// removes its own block and those of serves no longer running, never a live one's; a lock file beside the hosts
// file makes each read-change-write of one serve whole against the others'.
import {
  accessSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs'
import {basename, dirname, join} from 'node:path'
import {ExposeLbError} from '../errors.js'
import {errnoCode} from '../net/errno.js'
import {
  instanceOwner,
  ownerPid,
  removeBlocks,
  renderHostsBlock,
  replaceBlock,
  unwritableHostEntries,
} from './hosts-block.js'
import {processAlive} from './process.js'

/** Where serve writes by default. */
export const DEFAULT_HOSTS_FILE = '/etc/hosts'

/** Appended to the file's path for the copy made before a run first changes it. */
export const HOSTS_BACKUP_SUFFIX = '.expose-lb.bak'

/** The mode of a hosts file serve creates itself (the usual mode of /etc/hosts). */
const NEW_FILE_MODE = 0o644

/** Options for HostsFile. */
export interface HostsFileOptions {
  /** Log lines (stderr): the stale block removed at start, the in-place fallback. */
  log?: (line: string) => void
  /** Stands in for fs.renameSync of the hosts file; tests make it fail as a bind-mounted /etc/hosts does (EBUSY). */
  rename?: (from: string, to: string) => void
  /** The owner token of this serve's block; tests stand in for other processes. Default: this process's pid. */
  owner?: string
  /** How long a write waits for another serve's lock (ms). */
  lockWaitMs?: number
}

/** rename(2) errors after which the file can only be rewritten in place: a bind mount (EBUSY) or another fs. */
const IN_PLACE_CODES = new Set(['EBUSY', 'EXDEV'])
const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'EROFS'])

/** Numbers temp files, so no two writes of one process share a name. */
let tempSequence = 0

/**
 * Temp files this module leaves behind only when killed: `.hosts.expose-lb.<pid>.<n>.tmp`, named after the hosts
 * file also when they become its backup, so that start() finds them all.
 */
function tempPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.expose-lb.${process.pid}.${++tempSequence}.tmp`)
}

/** How long a write waits for another serve's lock by default before it gives up, and how often it looks again. */
const LOCK_WAIT_MS = 3000
const LOCK_POLL_MS = 5

/** Sleeps without giving up the thread: the exit handler's removeSync() must take the lock synchronously too. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * Takes the lock file beside the hosts file (created exclusively, holding our pid) and returns its release. A lock
 * whose holder is no longer running is taken over; a live holder is waited for up to `waitMs`.
 */
function acquireLock(target: string, shown: string, waitMs: number): () => void {
  const lock = join(dirname(target), `.${basename(target)}.expose-lb.lock`)
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o644)
      try {
        writeAll(fd, Buffer.from(`${process.pid}\n`))
      } finally {
        closeSync(fd)
      }
      return () => rmSync(lock, {force: true})
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error
    }
    let text: string
    try {
      text = readFileSync(lock, 'latin1')
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') continue // released in between: try again
      throw error
    }
    const holder = Number.parseInt(text.trim() || 'NaN', 10)
    // A holder that died (or a file cut short before its pid was written, older than a write takes): take it over.
    if ((Number.isInteger(holder) && !processAlive(holder)) || (!Number.isInteger(holder) && lockAgeMs(lock) > 1000)) {
      rmSync(lock, {force: true})
      continue
    }
    if (Date.now() > deadline) {
      throw new ExposeLbError(
        'hostsFile',
        `cannot update ${shown}: another kubectl-expose-lb (pid ${holder}) has held ${lock} for over ${waitMs / 1000} s — if that process is stuck, stop it or remove the lock file`,
      )
    }
    sleepSync(LOCK_POLL_MS)
  }
}

function lockAgeMs(lock: string): number {
  const stats = statSync(lock, {throwIfNoEntry: false})
  return stats ? Date.now() - stats.mtimeMs : 0
}

function isStaleTemp(target: string, file: string): boolean {
  const prefix = `.${basename(target)}.expose-lb.`
  if (!file.startsWith(prefix)) return false
  const match = /^(\d+)\.\d+\.tmp$/.exec(file.slice(prefix.length))
  if (!match) return false
  const pid = Number(match[1])
  // Our own pid: a crashed run that had it before us (pid 1 in a container, say); start() runs before any write.
  if (pid === process.pid) return true
  return !processAlive(pid) // alive: another serve's write in flight
}

/**
 * The marked block of a hosts file, kept equal to serve's host names. Writes are serialised; each one replaces
 * the file atomically or, where rename cannot work, rewrites it in place. A write that fails leaves the file as
 * it was.
 */
export class HostsFile {
  private queue: Promise<void> = Promise.resolve()
  private backedUp = false
  /** A file this run created (it was missing when written), as this run last left it; see isOwnFile(). */
  private ownFile: FileIdentity | undefined
  /** From start() until the block is removed: the file may hold our block. */
  private started = false
  /** Updates are taken from start() until remove() is asked for; those still queued then are dropped. */
  private phase: 'new' | 'running' | 'stopping' = 'new'
  private warnedInPlace = false
  private warnedEntries = new Set<string>()
  private readonly log: (line: string) => void
  private readonly rename: (from: string, to: string) => void
  private readonly owner: string
  private readonly lockWaitMs: number

  constructor(
    readonly path: string,
    options: HostsFileOptions = {},
  ) {
    if (!path) throw new ExposeLbError('usage', '--hosts-file needs a path, e.g. --hosts-file /etc/hosts')
    this.log = options.log ?? (() => {})
    this.rename = options.rename ?? renameSync
    this.owner = options.owner ?? instanceOwner(process.pid)
    this.lockWaitMs = options.lockWaitMs ?? LOCK_WAIT_MS
  }

  /** Checks the file can be written and removes a block (and temp files) a crashed run left behind. */
  start(): Promise<void> {
    this.phase = 'running'
    return this.serialise(() => {
      let target: string
      try {
        target = resolveTarget(this.path)
        this.checkPlace(target)
        accessSync(dirname(target), constants.W_OK)
      } catch (error) {
        throw this.failure(error)
      }
      try {
        accessSync(target, constants.W_OK)
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') throw this.failure(error)
      }
      let files: string[]
      try {
        // A folder it may write but not read, or a file it may not read: the same one line as for writing.
        files = readdirSync(dirname(target))
        readHosts(target)
      } catch (error) {
        throw this.failure(error)
      }
      for (const file of files) {
        if (!isStaleTemp(target, file)) continue
        rmSync(join(dirname(target), file), {force: true})
        this.log(`hosts file: removed ${file}, a temp file left by a run that was killed`)
      }
      this.started = true
      this.locked(target, () => {
        const now = readHosts(target)
        if (now === undefined) return
        const {content: next, removed} = this.cleanup(now)
        if (next === now) return
        for (const owner of removed) {
          const pid = ownerPid(owner)
          this.log(
            owner === undefined || owner === this.owner
              ? `hosts file: removing the kubectl-expose-lb block a previous run left in ${this.path}`
              : `hosts file: removing the kubectl-expose-lb block of pid ${pid}, which is no longer running, from ${this.path}`,
          )
        }
        // The backup is taken of the file without the dead runs' blocks, or restoring it would bring them back.
        this.write(target, next, next)
      })
    })
  }

  /** Makes the block list `hosts` (name → addresses, from DnsRecords.hosts); no write when nothing changed. */
  update(hosts: Map<string, string[]>): Promise<void> {
    if (this.phase === 'new') return Promise.reject(new Error('HostsFile.update() called before start()'))
    const block = renderHostsBlock(hosts, this.owner)
    for (const entry of unwritableHostEntries(hosts)) {
      if (this.warnedEntries.has(entry)) continue
      this.warnedEntries.add(entry)
      this.log(`warning: hosts file: leaving out ${entry}: not a valid hosts file entry`)
    }
    return this.serialise(() => {
      if (this.phase !== 'running') return
      const target = resolveTarget(this.path)
      this.locked(target, () => {
        const content = readHosts(target) ?? ''
        const next = this.splice(content, block)
        if (next !== content) this.write(target, next)
      })
    })
  }

  /** Removes the block (on a clean exit); later updates are ignored. */
  remove(): Promise<void> {
    if (this.phase === 'running') this.phase = 'stopping'
    return this.serialise(() => this.removeBlock())
  }

  /** remove() for a process 'exit' handler, where nothing asynchronous runs any more; logs instead of throwing. */
  removeSync(): void {
    if (this.phase === 'running') this.phase = 'stopping'
    try {
      this.removeBlock()
    } catch (error) {
      this.log(
        `hosts file: could not remove the kubectl-expose-lb block from ${this.path}: ${(error as Error).message}`,
      )
    }
  }

  /**
   * Refuses, before anything is written, a path that can never hold a hosts file: a directory, or a file whose
   * directory is missing (serve creates the file, not its directories). The same exit status as a permission
   * problem: both are about this path on this machine, not the flag's syntax.
   */
  private checkPlace(target: string): void {
    if (entryKind(target) === 'directory') {
      throw new ExposeLbError(
        'hostsFile',
        `cannot use ${this.path} as the hosts file: it is a directory — pass --hosts-file the path of a file, e.g. --hosts-file ${DEFAULT_HOSTS_FILE}`,
      )
    }
    const dir = dirname(target)
    const kind = entryKind(dir)
    if (kind === 'directory') return
    const why = kind === 'missing' ? `the directory ${dir} does not exist` : `${dir} is not a directory`
    const fix =
      kind === 'missing'
        ? 'create it, or pass --hosts-file a path in an existing directory'
        : 'pass --hosts-file a path in an existing directory'
    throw new ExposeLbError('hostsFile', `cannot write ${this.path}: ${why} — ${fix}`)
  }

  private serialise(step: () => void): Promise<void> {
    const run = this.queue.then(step)
    this.queue = run.catch(() => {})
    return run
  }

  private removeBlock(): void {
    if (!this.started) return
    const target = resolveTarget(this.path)
    this.locked(target, () => {
      const content = readHosts(target)
      if (content === undefined) return
      const next = this.splice(content, undefined)
      if (next === '' && this.isOwnFile(statSync(target))) this.delete(target)
      else if (next !== content) this.write(target, next)
    })
    this.started = false
  }

  /** `content` without the blocks of runs that are gone: ours from a run before (the same pid), dead pids, no owner. */
  private cleanup(content: string): {content: string; removed: Array<string | undefined>} {
    return this.guarded(() =>
      removeBlocks(content, (owner) => {
        if (owner === undefined || owner === this.owner) return true
        const pid = ownerPid(owner)
        // A token this version does not write (a newer one's): it may be live, so it stays.
        return pid !== undefined && !processAlive(pid)
      }),
    )
  }

  private splice(content: string, block: string | undefined): string {
    return this.guarded(() => replaceBlock(content, this.owner, block))
  }

  /** Runs `step` (a read, change and write of the file) holding the lock beside the hosts file. */
  private locked(target: string, step: () => void): void {
    let release: () => void
    try {
      release = acquireLock(target, this.path, this.lockWaitMs)
    } catch (error) {
      throw this.failure(error)
    }
    try {
      step()
    } finally {
      release()
    }
  }

  /** Names the file in the refusal to edit a damaged block. */
  private guarded<T>(edit: () => T): T {
    try {
      return edit()
    } catch (error) {
      if (error instanceof ExposeLbError) {
        throw new ExposeLbError('hostsFile', `${this.path}: ${error.message}`, undefined, {cause: error})
      }
      throw error
    }
  }

  /**
   * The one write of the hosts file: the backup first (once per run, of `backup`, by default the file as it is; none
   * of a file this run created and nobody else changed), then an atomic replace or an in-place one.
   */
  private write(target: string, next: string, backup?: string): void {
    const data = Buffer.from(next, 'latin1')
    try {
      const original = statSync(target, {throwIfNoEntry: false})
      const own = !original || this.isOwnFile(original)
      if (original && !this.backedUp && !own) {
        const saved = backup === undefined ? readFileSync(target) : Buffer.from(backup, 'latin1')
        // Beside the real file when the path is a symlink; a plain rename, as the backup is no bind mount.
        this.replaceFile(target + HOSTS_BACKUP_SUFFIX, saved, original, tempPath(target), renameSync)
        this.backedUp = true
      }
      try {
        this.replaceFile(target, data, original, tempPath(target), this.rename)
      } catch (error) {
        if (!original || !IN_PLACE_CODES.has(errnoCode(error) ?? '')) throw error
        this.warnInPlace(error)
        writeInPlace(target, data)
      }
      this.ownFile = own ? identityOf(statSync(target)) : undefined
    } catch (error) {
      throw this.failure(error)
    }
  }

  /**
   * The file is one this run created and is still exactly as this run left it: no one else wrote to it, replaced
   * it, or changed its mode or owner (which would make it theirs to keep).
   */
  private isOwnFile(stats: Stats): boolean {
    const own = this.ownFile
    if (!own) return false
    const now = identityOf(stats)
    return (Object.keys(own) as (keyof FileIdentity)[]).every((key) => own[key] === now[key])
  }

  /** Deletes a file this run created (only our block was in it), so the run leaves no empty file behind. */
  private delete(target: string): void {
    try {
      rmSync(target)
    } catch (error) {
      throw this.failure(error)
    }
    this.ownFile = undefined
    syncDirectory(dirname(target))
  }

  /**
   * Puts `data` at `path` so that readers see the old file or the new one, never a part: written to `temp` (in the
   * same directory), given the mode and owner of `like` (NEW_FILE_MODE and ours when there is none), fsynced,
   * renamed over `path`, and the directory fsynced. On failure the temp file is gone and `path` is as it was.
   */
  private replaceFile(
    path: string,
    data: Buffer,
    like: Stats | undefined,
    temp: string,
    rename: (from: string, to: string) => void,
  ): void {
    try {
      const fd = openSync(temp, 'wx', 0o600)
      try {
        writeAll(fd, data)
        if (like) this.keepOwner(fd, like)
        // After the owner: chown(2) clears set-user-ID and set-group-ID bits.
        fchmodSync(fd, like ? like.mode & 0o7777 : NEW_FILE_MODE)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      rename(temp, path)
    } catch (error) {
      rmSync(temp, {force: true})
      throw error
    }
    syncDirectory(dirname(path))
  }

  private keepOwner(fd: number, original: Stats): void {
    const mine = fstatSync(fd)
    if (mine.uid === original.uid && mine.gid === original.gid) return
    try {
      fchownSync(fd, original.uid, original.gid)
    } catch (error) {
      throw this.ownerError(original, error)
    }
  }

  private warnInPlace(error: unknown): void {
    if (this.warnedInPlace) return
    this.warnedInPlace = true
    this.log(
      `warning: hosts file: cannot replace ${this.path} atomically (rename: ${errnoCode(error)}; a bind mount, as Docker makes of /etc/hosts?) — rewriting it in place`,
    )
  }

  private ownerError(original: Stats, error: unknown): ExposeLbError {
    return new ExposeLbError(
      'hostsFile',
      `cannot write ${this.path}: it belongs to ${original.uid}:${original.gid} and this process cannot give the new copy that owner (${errnoCode(error) ?? String(error)}) — run serve with sudo, or pass --hosts-file with a path you own`,
      undefined,
      {cause: error},
    )
  }

  /** One clear error per failure: permission problems name the path and the two ways out. */
  private failure(error: unknown): Error {
    if (error instanceof ExposeLbError) return error
    const code = errnoCode(error)
    if (code && PERMISSION_CODES.has(code)) {
      const why = code === 'EROFS' ? 'read-only file system' : 'permission denied'
      return new ExposeLbError(
        'hostsFile',
        `cannot write ${this.path}: ${why} — run serve with sudo, or pass --hosts-file with a writable path`,
        undefined,
        {cause: error},
      )
    }
    return new Error(`cannot update ${this.path}: ${(error as Error).message ?? String(error)}`, {cause: error})
  }
}

/** What tells one version of a file from another without reading it: a rename, a write or a chmod/chown changes it. */
interface FileIdentity {
  ino: number
  size: number
  mode: number
  uid: number
  gid: number
  mtimeMs: number
  ctimeMs: number
}

function identityOf(stats: Stats): FileIdentity {
  const {ino, size, mode, uid, gid, mtimeMs, ctimeMs} = stats
  return {ino, size, mode, uid, gid, mtimeMs, ctimeMs}
}

/** Errors that mean "nothing there": no entry, or a path through something that is not a directory. */
const NO_ENTRY_CODES = new Set(['ENOENT', 'ENOTDIR'])

/** The file a path names, through symlinks: renaming over a symlink would replace the link, not the file. */
function resolveTarget(path: string): string {
  try {
    return realpathSync(path)
  } catch (error) {
    if (NO_ENTRY_CODES.has(errnoCode(error) ?? '')) return path
    throw error
  }
}

/** What is at `path`, through symlinks: a directory, something else, or nothing (ENOENT, or a path through a file). */
function entryKind(path: string): 'directory' | 'other' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'other'
  } catch (error) {
    if (NO_ENTRY_CODES.has(errnoCode(error) ?? '')) return 'missing'
    throw error
  }
}

/** The file's content as latin1 (one character per byte), or undefined when there is no file. */
function readHosts(target: string): string | undefined {
  try {
    return readFileSync(target, 'latin1')
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined
    throw error
  }
}

/** Writes all of `data` from the file's start: write(2) may write less than asked. */
function writeAll(fd: number, data: Buffer): void {
  for (let at = 0; at < data.length;) at += writeSync(fd, data, at, data.length - at, at)
}

/** Rewrites the file through its own inode: not atomic, but mode, owner and a bind mount stay as they are. */
function writeInPlace(target: string, data: Buffer): void {
  const fd = openSync(target, 'r+')
  try {
    writeAll(fd, data)
    ftruncateSync(fd, data.length)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Makes the rename durable; best effort, as not every platform can fsync a directory. */
function syncDirectory(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    // The rename itself has happened; only its durability across a power cut is less certain.
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
