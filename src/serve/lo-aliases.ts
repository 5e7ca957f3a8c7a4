// The lo0 aliases serve adds on macOS for its per-service addresses (lo-alias-plan.ts decides the commands), and the
// record of them: every alias is written to the record file before ifconfig adds it and dropped from it only after
// ifconfig removed it, so after a crash the next start knows exactly what to take away. The record lives in
// /var/run, which macOS empties at boot, as it empties lo0 of its aliases.
import {mkdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {dirname} from 'node:path'
import type {Runner} from '../dnssetup/apply.js'
import {ExposeLbError, firstLine} from '../errors.js'
import {aliasChanges, aliasCommand, LOOPBACK_ADDRESS, LOOPBACK_INTERFACE, unaliasCommand} from './lo-alias-plan.js'
import {processAlive} from './process.js'

/** Where serve records the aliases it added (a folder of its own under /var/run, which only root may write). */
export const DEFAULT_ALIAS_RECORD = '/var/run/kubectl-expose-lb/lo0-aliases.json'

/** The record file's content. */
interface AliasRecord {
  /** The serve that added them: a second serve must not take them away while it runs. */
  pid: number
  interface: string
  addresses: string[]
}

export interface LoopbackAliasOptions {
  runner: Runner
  recordFile?: string
  /** Progress and warnings (stderr). */
  log: {info(line: string): void; warn(line: string): void}
  /** Whether a pid is a running process (tests pass their own). */
  isRunning?: (pid: number) => boolean
  pid?: number
}

/** Keeps lo0's aliases equal to the addresses serve listens on, and takes them all away when serve stops. */
export class LoopbackAliases {
  private readonly recordFile: string
  private readonly pid: number
  private readonly added = new Set<string>()
  /** One change at a time: each one reads and writes the record. */
  private queue: Promise<void> = Promise.resolve()

  constructor(private readonly options: LoopbackAliasOptions) {
    this.recordFile = options.recordFile ?? DEFAULT_ALIAS_RECORD
    this.pid = options.pid ?? process.pid
  }

  /**
   * Removes the aliases a previous serve recorded and did not take away (it crashed or was killed). Refuses to
   * start while the serve that recorded them still runs: both would add and remove the same addresses.
   */
  async start(): Promise<void> {
    const record = await this.readRecord()
    if (!record) return
    const running = this.options.isRunning ?? processAlive
    if (record.pid !== this.pid && running(record.pid)) {
      throw new ExposeLbError(
        'usage',
        `another serve (pid ${record.pid}) keeps ${LOOPBACK_INTERFACE} aliases recorded in ${this.recordFile}: stop it first, or run this one with --ip-range none`,
      )
    }
    const left = record.addresses.filter((a) => typeof a === 'string' && a !== LOOPBACK_ADDRESS)
    for (const address of left) this.added.add(address)
    const removed = await this.removeAll()
    if (removed > 0) {
      this.options.log.info(`removed ${removed} ${LOOPBACK_INTERFACE} aliases a previous serve left behind`)
    }
  }

  /** Adds an alias for each address not yet added, removes those no longer wanted. Failures are warnings. */
  update(addresses: Iterable<string>): Promise<void> {
    const wanted = [...addresses]
    this.queue = this.queue.then(() => this.change(wanted))
    return this.queue
  }

  /** Adds an alias for each address not yet added and removes none (before listeners bind; update() follows). */
  ensure(addresses: Iterable<string>): Promise<void> {
    const wanted = [...addresses]
    this.queue = this.queue.then(() => this.change([...this.added, ...wanted]))
    return this.queue
  }

  /** Takes away every alias this serve added and deletes the record. */
  close(): Promise<void> {
    this.queue = this.queue.then(async () => {
      await this.removeAll()
    })
    return this.queue
  }

  /** The aliases added and not yet removed. */
  addresses(): string[] {
    return [...this.added].sort()
  }

  private async change(wanted: string[]): Promise<void> {
    const {add, remove} = aliasChanges(this.added, wanted)
    if (add.length > 0) {
      // Recorded first: a crash between the two leaves a record of an alias that may not exist, never the reverse.
      await this.writeRecord([...this.added, ...add])
      let added = 0
      for (const address of add) {
        const result = await this.options.runner(aliasCommand(address))
        if (result.code === 0) {
          this.added.add(address)
          added++
        } else this.options.log.warn(this.failure('add', address, result.stderr))
      }
      if (added > 0) this.options.log.info(`${LOOPBACK_INTERFACE}: added ${plural(added)} for per-service addresses`)
    }
    for (const address of remove) await this.removeOne(address)
    if (add.length > 0 || remove.length > 0) await this.writeRecord([...this.added])
  }

  private async removeAll(): Promise<number> {
    let removed = 0
    for (const address of this.addresses()) if (await this.removeOne(address)) removed++
    if (this.added.size === 0) await rm(this.recordFile, {force: true})
    else await this.writeRecord([...this.added])
    return removed
  }

  /** Removes one alias; one that is already gone (a reboot, or removed by hand) counts as removed. */
  private async removeOne(address: string): Promise<boolean> {
    const result = await this.options.runner(unaliasCommand(address))
    if (result.code === 0 || /can't assign requested address|not found/i.test(result.stderr)) {
      this.added.delete(address)
      return result.code === 0
    }
    this.options.log.warn(this.failure('remove', address, result.stderr))
    return false
  }

  private failure(what: 'add' | 'remove', address: string, stderr: string): string {
    const why = firstLine(stderr.trim() || 'ifconfig failed')
    return what === 'add'
      ? `${LOOPBACK_INTERFACE}: cannot add alias ${address}: ${why}; its Service's TCP and UDP ports will not answer`
      : `${LOOPBACK_INTERFACE}: cannot remove alias ${address}: ${why}; remove it with: sudo ${unaliasCommand(address).join(' ')}`
  }

  private async readRecord(): Promise<AliasRecord | undefined> {
    let text: string
    try {
      text = await readFile(this.recordFile, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new ExposeLbError('usage', `cannot read ${this.recordFile}: ${firstLine(error)}`)
    }
    try {
      const record = JSON.parse(text) as AliasRecord
      if (typeof record.pid === 'number' && Array.isArray(record.addresses)) return record
    } catch {
      // reported below
    }
    throw new ExposeLbError(
      'usage',
      `${this.recordFile} is not a record of ${LOOPBACK_INTERFACE} aliases: check \`ifconfig ${LOOPBACK_INTERFACE}\` for 127.x aliases to remove with \`sudo ifconfig ${LOOPBACK_INTERFACE} -alias <address>\`, then delete the file`,
    )
  }

  /** Writes the record through a temporary file and a rename, so a crash never leaves half a record. */
  private async writeRecord(addresses: string[]): Promise<void> {
    const record: AliasRecord = {
      pid: this.pid,
      interface: LOOPBACK_INTERFACE,
      addresses: [...new Set(addresses)].sort(),
    }
    await mkdir(dirname(this.recordFile), {recursive: true})
    const partial = `${this.recordFile}.${this.pid}.partial`
    await writeFile(partial, `${JSON.stringify(record, null, 2)}\n`, {mode: 0o644})
    await rename(partial, this.recordFile)
  }
}

function plural(n: number): string {
  return n === 1 ? '1 alias' : `${n} aliases`
}
