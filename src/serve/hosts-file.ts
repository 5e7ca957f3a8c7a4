// `serve --hosts-file`: for machines without split DNS, the names serve answers are also kept in a marked block of
// a hosts file (hosts(5)). The block is rendered and spliced by src/serve/hosts-block.ts; HostsFile does the I/O: an atomic
// replace (temp file in the same directory, fsync, mode and owner kept, rename), a backup once per run, and an
// in-place fallback where rename cannot work (Docker bind-mounts /etc/hosts). Lines outside the block are kept
// byte for byte: the file is read and written as latin1, so every byte maps to one character and back.
import {
  closeSync,
  copyFileSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  constants,
  type Stats,
} from 'node:fs'
import {
  access,
  chmod,
  chown,
  copyFile,
  open,
  readFile,
  readdir,
  realpath,
  rm,
  stat,
  type FileHandle,
} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {ExposeLbError} from '../errors.js'
import {renderHostsBlock, replaceBlock, unwritableHostEntries} from './hosts-block.js'

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
  /** Stands in for fs.renameSync; tests make it fail as a bind-mounted /etc/hosts does (EBUSY). */
  rename?: (from: string, to: string) => void
}

/** rename(2) errors after which the file can only be rewritten in place: a bind mount (EBUSY) or another fs. */
const IN_PLACE_CODES = new Set(['EBUSY', 'EXDEV'])
const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'EROFS'])

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code
}

/** Numbers temp files, so the exit handler's write never shares one with a write still in flight. */
let tempSequence = 0

/** Temp files this module leaves behind only when killed: `.hosts.expose-lb.<pid>.<n>.tmp`. */
function tempPath(target: string): string {
  return join(dirname(target), `.${basename(target)}.expose-lb.${process.pid}.${++tempSequence}.tmp`)
}

function isStaleTemp(target: string, file: string): boolean {
  const prefix = `.${basename(target)}.expose-lb.`
  if (!file.startsWith(prefix)) return false
  const match = /^(\d+)\.\d+\.tmp$/.exec(file.slice(prefix.length))
  if (!match) return false
  const pid = Number(match[1])
  // Our own pid: a crashed run that had it before us (pid 1 in a container, say); start() runs before any write.
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return false // alive: another serve's write in flight
  } catch (error) {
    return errorCode(error) === 'ESRCH'
  }
}

/**
 * The marked block of a hosts file, kept equal to serve's host names. Writes are serialised; each one replaces
 * the file atomically or, where rename cannot work, rewrites it in place. A write that fails leaves the file as
 * it was.
 */
export class HostsFile {
  private queue: Promise<void> = Promise.resolve()
  private backedUp = false
  /** From start() until remove() has finished: the file may hold our block. */
  private started = false
  /** Updates are taken from start() until remove() is asked for; those still queued then are dropped. */
  private phase: 'new' | 'running' | 'stopping' = 'new'
  private warnedInPlace = false
  private warnedEntries = new Set<string>()
  private readonly log: (line: string) => void
  private readonly rename: (from: string, to: string) => void

  constructor(
    readonly path: string,
    options: HostsFileOptions = {},
  ) {
    if (!path) throw new ExposeLbError('usage', '--hosts-file needs a path, e.g. --hosts-file /etc/hosts')
    this.log = options.log ?? (() => {})
    this.rename = options.rename ?? renameSync
  }

  /** Checks the file can be written and removes a block (and temp files) a crashed run left behind. */
  start(): Promise<void> {
    this.phase = 'running'
    return this.serialise(async () => {
      const target = await resolveTarget(this.path)
      await access(dirname(target), constants.W_OK).catch((error: unknown) => {
        throw this.failure(error)
      })
      await access(target, constants.W_OK).catch((error: unknown) => {
        if (errorCode(error) !== 'ENOENT') throw this.failure(error)
      })
      for (const file of await readdir(dirname(target))) {
        if (!isStaleTemp(target, file)) continue
        await rm(join(dirname(target), file), {force: true})
        this.log(`hosts file: removed ${file}, a temp file left by a run that was killed`)
      }
      this.started = true
      const content = await readHosts(target)
      if (content === undefined) return
      const next = this.splice(content, undefined)
      if (next === content) return
      this.log(`hosts file: removing the kubectl-expose-lb block a previous run left in ${this.path}`)
      await this.write(target, next)
    })
  }

  /** Makes the block list `hosts` (name → addresses, from DnsRecords.hosts); no write when nothing changed. */
  update(hosts: Map<string, string[]>): Promise<void> {
    if (this.phase === 'new') return Promise.reject(new Error('HostsFile.update() called before start()'))
    const block = renderHostsBlock(hosts)
    for (const entry of unwritableHostEntries(hosts)) {
      if (this.warnedEntries.has(entry)) continue
      this.warnedEntries.add(entry)
      this.log(`warning: hosts file: leaving out ${entry}: not a valid hosts file entry`)
    }
    return this.serialise(async () => {
      if (this.phase !== 'running') return
      const target = await resolveTarget(this.path)
      const content = (await readHosts(target)) ?? ''
      const next = this.splice(content, block)
      if (next !== content) await this.write(target, next)
    })
  }

  /** Removes the block (on a clean exit); later updates are ignored. */
  remove(): Promise<void> {
    if (this.phase === 'running') this.phase = 'stopping'
    return this.serialise(async () => {
      if (!this.started) return
      const target = await resolveTarget(this.path)
      const content = await readHosts(target)
      if (content !== undefined) {
        const next = this.splice(content, undefined)
        if (next !== content) await this.write(target, next)
      }
      this.started = false
    })
  }

  /** remove() for a process 'exit' handler, where nothing asynchronous runs any more; logs instead of throwing. */
  removeSync(): void {
    if (this.phase === 'running') this.phase = 'stopping'
    if (!this.started) return
    try {
      const target = resolveTargetSync(this.path)
      const content = readHostsSync(target)
      if (content === undefined) return
      const next = this.splice(content, undefined)
      if (next !== content) this.writeSync(target, next)
      this.started = false
    } catch (error) {
      this.log(
        `hosts file: could not remove the kubectl-expose-lb block from ${this.path}: ${(error as Error).message}`,
      )
    }
  }

  private serialise(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step)
    this.queue = run.catch(() => {})
    return run
  }

  private splice(content: string, block: string | undefined): string {
    try {
      return replaceBlock(content, block)
    } catch (error) {
      if (error instanceof ExposeLbError) {
        throw new ExposeLbError('hostsFile', `${this.path}: ${error.message}`, undefined, {cause: error})
      }
      throw error
    }
  }

  private async write(target: string, next: string): Promise<void> {
    const data = Buffer.from(next, 'latin1')
    try {
      const original = await stat(target).catch((error: unknown) => {
        if (errorCode(error) === 'ENOENT') return undefined
        throw error
      })
      if (original && !this.backedUp) {
        const backup = target + HOSTS_BACKUP_SUFFIX // beside the real file when the path is a symlink
        await copyFile(target, backup)
        await chmod(backup, original.mode & 0o7777)
        await chown(backup, original.uid, original.gid).catch(() => {}) // a backup we own is still a backup
        this.backedUp = true
      }
      try {
        await this.replaceAtomically(target, data, original)
      } catch (error) {
        if (!original || !IN_PLACE_CODES.has(errorCode(error) ?? '')) throw error
        this.warnInPlace(error)
        await writeInPlace(target, data)
      }
    } catch (error) {
      throw this.failure(error)
    }
  }

  private async replaceAtomically(target: string, data: Buffer, original: Stats | undefined): Promise<void> {
    const temp = tempPath(target)
    try {
      const handle = await open(temp, 'wx', 0o600)
      try {
        await handle.writeFile(data)
        if (original) await this.keepOwner(handle, original)
        await handle.chmod(original ? original.mode & 0o7777 : NEW_FILE_MODE)
        await handle.sync()
      } finally {
        await handle.close()
      }
      this.rename(temp, target)
    } catch (error) {
      await rm(temp, {force: true})
      throw error
    }
    await syncDirectory(dirname(target))
  }

  private async keepOwner(handle: FileHandle, original: Stats): Promise<void> {
    const mine = await handle.stat()
    if (mine.uid === original.uid && mine.gid === original.gid) return
    await handle.chown(original.uid, original.gid).catch((error: unknown) => {
      throw this.ownerError(original, error)
    })
  }

  private writeSync(target: string, next: string): void {
    const data = Buffer.from(next, 'latin1')
    const original = statSync(target, {throwIfNoEntry: false})
    if (original && !this.backedUp) {
      copyFileSync(target, target + HOSTS_BACKUP_SUFFIX)
      this.backedUp = true
    }
    const temp = tempPath(target)
    try {
      const fd = openSync(temp, 'wx', 0o600)
      try {
        writeSync(fd, data)
        const mine = fstatSync(fd)
        if (original && (mine.uid !== original.uid || mine.gid !== original.gid)) {
          try {
            fchownSync(fd, original.uid, original.gid)
          } catch (error) {
            throw this.ownerError(original, error)
          }
        }
        fchmodSync(fd, original ? original.mode & 0o7777 : NEW_FILE_MODE)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      this.rename(temp, target)
    } catch (error) {
      rmSync(temp, {force: true})
      if (!original || !IN_PLACE_CODES.has(errorCode(error) ?? '')) throw this.failure(error)
      this.warnInPlace(error)
      const fd = openSync(target, 'r+')
      try {
        writeSync(fd, data, 0, data.length, 0)
        ftruncateSync(fd, data.length)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    }
  }

  private warnInPlace(error: unknown): void {
    if (this.warnedInPlace) return
    this.warnedInPlace = true
    this.log(
      `warning: hosts file: cannot replace ${this.path} atomically (rename: ${errorCode(error)}; a bind mount, as Docker makes of /etc/hosts?) — rewriting it in place`,
    )
  }

  private ownerError(original: Stats, error: unknown): ExposeLbError {
    return new ExposeLbError(
      'hostsFile',
      `cannot write ${this.path}: it belongs to ${original.uid}:${original.gid} and this process cannot give the new copy that owner (${errorCode(error) ?? String(error)}) — run serve with sudo, or pass --hosts-file with a path you own`,
      undefined,
      {cause: error},
    )
  }

  /** One clear error per failure: permission problems name the path and the two ways out. */
  private failure(error: unknown): Error {
    if (error instanceof ExposeLbError) return error
    const code = errorCode(error)
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

/** The file a path names, through symlinks: renaming over a symlink would replace the link, not the file. */
async function resolveTarget(path: string): Promise<string> {
  return realpath(path).catch((error: unknown) => {
    if (errorCode(error) === 'ENOENT') return path
    throw error
  })
}

function resolveTargetSync(path: string): string {
  try {
    return realpathSync(path)
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return path
    throw error
  }
}

async function readHosts(target: string): Promise<string | undefined> {
  return readFile(target, 'latin1').catch((error: unknown) => {
    if (errorCode(error) === 'ENOENT') return undefined
    throw error
  })
}

function readHostsSync(target: string): string | undefined {
  try {
    return readFileSync(target, 'latin1')
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined
    throw error
  }
}

/** Rewrites the file through its own inode: not atomic, but mode, owner and a bind mount stay as they are. */
async function writeInPlace(target: string, data: Buffer): Promise<void> {
  const handle = await open(target, 'r+')
  try {
    await handle.write(data, 0, data.length, 0)
    await handle.truncate(data.length)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Makes the rename durable; best effort, as not every platform can fsync a directory. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined)
  await handle
    ?.sync()
    .catch(() => {})
    .finally(() => handle.close())
}
