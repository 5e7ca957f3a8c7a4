// Runs dns-setup's steps on this machine and reverts them. Each completed step is recorded in a state file before
// the next one starts, so `--undo` reverts exactly what was done, even after a failure halfway. Commands go through
// an injectable runner (tests record the calls instead of changing anything) and never through a shell.
import {spawn} from 'node:child_process'
import {accessSync, constants, existsSync} from 'node:fs'
import {chmod, mkdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {delimiter, dirname, join} from 'node:path'
import {ExposeLbError, firstLine} from '../errors.js'
import {mergeRouted} from './hosts.js'
import {
  formatCommand,
  planDnsSetup,
  type LinuxResolverFacts,
  type SetupAction,
  type SetupPlan,
  type SetupStep,
  type StepId,
  type TargetOs,
} from './plan.js'
import {checkState, initialState, withSteps, type CheckedState, type SetupState} from './state.js'

export type {SetupState} from './state.js'

/** A step of --apply or --undo failed; the message says which, why, and what was recorded. */
export class SetupFailedError extends ExposeLbError {
  constructor(message: string, options?: {cause?: unknown}) {
    super('setupFailed', message, undefined, options)
  }
}

export interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs one program with its arguments (no shell); `input` goes to its stdin. */
export type Runner = (argv: string[], options?: {input?: string}) => Promise<CommandResult>

/** How a PowerShell line runs: without the user's profile, never waiting for input. */
export const POWERSHELL = ['powershell.exe', '-NoProfile', '-NonInteractive', '-Command']

/** Exit status shells use for a command that was not found. */
const COMMAND_NOT_FOUND = 127

/** The real runner: stdin is the terminal (so sudo can ask for a password) unless `input` is given. */
export const spawnRunner: Runner = (argv, options = {}) =>
  new Promise((resolve) => {
    const [file, ...args] = argv
    if (!file) {
      resolve({code: COMMAND_NOT_FOUND, stdout: '', stderr: 'empty command'})
      return
    }
    const input = options.input
    const child = spawn(file, args, {stdio: [input === undefined ? 'inherit' : 'pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', (error: NodeJS.ErrnoException) =>
      resolve({
        code: COMMAND_NOT_FOUND,
        stdout,
        stderr: error.code === 'ENOENT' ? `${file}: command not found` : error.message,
      }),
    )
    child.on('close', (code) => resolve({code: code ?? 1, stdout, stderr}))
    if (input !== undefined) child.stdin?.end(input)
  })

export interface ExecOptions {
  runner: Runner
  /**
   * This process may change system settings itself (root), so no `sudo` is added. On Windows elevation cannot be
   * added to one command, so it is true there and a step run without it fails with PowerShell's own error.
   */
  privileged: boolean
  /** Prefix for the files steps write and remove (tests: a temp dir). Files under it are written directly. */
  root?: string
  /** Progress lines (stderr). */
  log?: (line: string) => void
  /** How the user runs --undo for this state file, for hints: the command adds --state-file when not the default. */
  undoCommand?: string
}

/** The hint's command when ExecOptions.undoCommand is not given. */
const UNDO_COMMAND = 'kubectl expose-lb dns-setup --undo'

/** The fix for a state file --undo will not run: what the user does instead. */
const UNDO_BY_HAND =
  "nothing was run — undo the steps it lists by hand (`kubectl expose-lb dns-setup` prints each one's undo command), then remove the file"

/** `~/.config/kubectl-expose-lb/dns-setup.json` (or under $XDG_CONFIG_HOME). */
export function defaultStateFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'kubectl-expose-lb', 'dns-setup.json')
}

/** This OS when dns-setup has steps for it. */
export function currentOs(platform: NodeJS.Platform = process.platform): TargetOs | undefined {
  return platform === 'linux' || platform === 'darwin' || platform === 'win32' ? platform : undefined
}

/** Root may change system settings itself; on Windows see ExecOptions.privileged. */
export function isPrivileged(): boolean {
  return process.platform === 'win32' || process.getuid?.() === 0
}

function onPath(program: string, env: NodeJS.ProcessEnv = process.env): boolean {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    try {
      accessSync(join(dir, program), constants.X_OK)
      return true
    } catch {
      // not in this directory
    }
  }
  return false
}

/** systemd-resolved writes its stub file while it runs. */
export const RESOLVED_STUB = '/run/systemd/resolve/stub-resolv.conf'

/** What decides the Linux resolver (see chooseResolver). */
export function detectLinuxResolverFacts(): LinuxResolverFacts {
  return {resolvedStub: existsSync(RESOLVED_STUB), resolvectl: onPath('resolvectl'), nmcli: onPath('nmcli')}
}

/** Where `path` is when files go under a test root. */
export function rebase(root: string | undefined, path: string): string {
  return root === undefined ? path : join(root, path)
}

/** The action as it runs here: `sudo` only where needed and this process is not root. */
export function displayCommand(action: SetupAction, options: Pick<ExecOptions, 'privileged' | 'root'>): string {
  const direct = options.privileged || (options.root !== undefined && !Array.isArray(action.command))
  return formatCommand({...action, sudo: action.sudo && !direct})
}

async function runChecked(argv: string[], options: ExecOptions, input?: string): Promise<void> {
  const result = await options.runner(argv, input === undefined ? {} : {input})
  if (result.code !== 0) {
    const why = firstLine(result.stderr.trim() || result.stdout.trim()) || 'no output'
    throw new Error(`\`${argv.join(' ')}\` exited with status ${result.code}: ${why}`)
  }
}

/** Runs one action; throws an Error saying what failed. */
export async function runAction(action: SetupAction, options: ExecOptions): Promise<void> {
  const c = action.command
  const sudo = action.sudo && !options.privileged
  if (Array.isArray(c)) {
    await runChecked(sudo ? ['sudo', ...c] : c, options)
    return
  }
  if ('powershell' in c) {
    await runChecked([...POWERSHELL, c.powershell], options)
    return
  }
  // Files under a test root belong to this process; elsewhere a root-owned directory needs sudo.
  const direct = !sudo || options.root !== undefined
  if ('removeFile' in c) {
    const path = rebase(options.root, c.removeFile)
    if (direct) await rm(path, {force: true})
    else await runChecked(['sudo', 'rm', '-f', path], options)
    return
  }
  const path = rebase(options.root, c.writeFile)
  // Never overwrite a file we did not write: undo would then delete someone else's settings.
  if (existsSync(path)) throw new Error(`${path} already exists; remove it first if an earlier dns-setup left it`)
  if (direct) {
    await mkdir(dirname(path), {recursive: true})
    await writeFile(path, c.content, {flag: 'wx', mode: c.mode ?? 0o644})
    if (c.mode !== undefined) await chmod(path, c.mode)
  } else {
    await runChecked(['sudo', 'mkdir', '-p', dirname(path)], options)
    await runChecked(['sudo', 'tee', path], options, c.content)
    if (c.mode !== undefined) await runChecked(['sudo', 'chmod', c.mode.toString(8), path], options)
  }
}

/** Reads the state file; undefined when there is none. */
export async function readState(stateFile: string): Promise<SetupState | undefined> {
  return (await loadState(stateFile))?.state
}

/**
 * Reads the state file and checks it against the plan its options give (state.ts): a file that is damaged, or
 * that names anything dns-setup does not plan, is refused in one line before anything runs.
 */
async function loadState(stateFile: string): Promise<CheckedState | undefined> {
  let text: string
  try {
    text = await readFile(stateFile, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new SetupFailedError(`cannot read the dns-setup state file ${stateFile}: ${firstLine(error)}`, {cause: error})
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw damagedState(stateFile, `not JSON: ${firstLine(error)}`, error)
  }
  const checked = checkState(json)
  if ('damaged' in checked) throw damagedState(stateFile, checked.damaged)
  if ('foreign' in checked) {
    throw new SetupFailedError(`refusing the dns-setup state file ${stateFile}: ${checked.foreign}; ${UNDO_BY_HAND}`)
  }
  return checked.ok
}

function damagedState(stateFile: string, what: string, cause?: unknown): SetupFailedError {
  return new SetupFailedError(
    `the dns-setup state file ${stateFile} is damaged (${what}); ${UNDO_BY_HAND}`,
    cause === undefined ? undefined : {cause},
  )
}

/** Written to a temp file and renamed, so a crash leaves the old state or the new one, never half of one. */
async function writeState(stateFile: string, state: SetupState): Promise<void> {
  await mkdir(dirname(stateFile), {recursive: true})
  const temp = `${stateFile}.tmp-${process.pid}`
  await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, {mode: 0o600})
  await rename(temp, stateFile)
}

function privilegeNote(action: SetupAction, options: ExecOptions): string {
  if (!action.sudo) return ''
  if (process.platform === 'win32')
    return ` (run PowerShell as Administrator: ${action.why ?? 'changes system DNS settings'})`
  return options.privileged ? '' : ` (sudo: ${action.why ?? 'changes system DNS settings'})`
}

/** The options of a recorded set-up equal the plan's (the hosts aside): a re-run may extend it. */
function sameSetup(state: SetupState, plan: SetupPlan): boolean {
  return (
    state.os === plan.os &&
    state.resolver === plan.resolver &&
    state.domain === plan.domain &&
    state.dnsAddress === plan.dnsAddress &&
    state.dnsPort === plan.dnsPort
  )
}

/**
 * Runs the plan's steps in order, recording each one in `stateFile` as soon as it completed. When a state file for the
 * same options exists, only what is missing runs: the steps of hosts not routed yet (their routing domains added to
 * the done steps through each step's `refresh`), and steps an earlier run did not complete; a state file for other
 * options is refused (undo first). Returns the number of actions run, steps and refreshes (0: all was done already).
 */
export async function applySetup(plan: SetupPlan, stateFile: string, options: ExecOptions): Promise<number> {
  const log = options.log ?? (() => {})
  const undoCommand = options.undoCommand ?? UNDO_COMMAND
  if (plan.blocker) throw new ExposeLbError('usage', `cannot apply: ${plan.blocker}`)
  const existing = await loadState(stateFile)
  if (existing && !sameSetup(existing.state, plan)) {
    throw new ExposeLbError(
      'usage',
      `dns-setup is already applied for ${existing.state.domain} (${existing.state.done.length} steps recorded in ${stateFile}); run \`${undoCommand}\` first`,
    )
  }
  const before = existing?.state.hosts ?? []
  const hosts = existing ? mergeRouted(before, plan.hosts ?? []) : (plan.hosts ?? [])
  const {os, resolver, domain, dnsAddress, dnsPort} = plan
  const full = existing ? planDnsSetup({os, resolver, domain, dnsAddress, dnsPort, hosts}) : plan
  const idOf = (p: SetupPlan, s: SetupStep): StepId | undefined => p.stepIds[p.steps.indexOf(s)]
  const done = new Set(existing ? existing.steps.map((s) => idOf(existing.plan, s)) : [])
  const grew = hosts.length > before.length
  if (existing && !grew && full.steps.every((s) => done.has(idOf(full, s)))) return 0
  const doneSteps = () => full.steps.filter((s) => done.has(idOf(full, s)))
  const base = existing ? existing.state : initialState(full)
  let state = withSteps({...base, ...(hosts.length > 0 ? {hosts} : {})}, full, doneSteps())
  try {
    // Written before anything changes (a new set-up, or the hosts a re-run adds, so that their steps are found again).
    await writeState(stateFile, state)
  } catch (error) {
    throw new SetupFailedError(
      `cannot write the dns-setup state file ${stateFile}: ${firstLine(error)}; nothing was changed (pass --state-file elsewhere)`,
      {cause: error},
    )
  }
  const failed = (what: string, error: unknown, sudo: boolean): SetupFailedError => {
    const count = done.size
    const recorded =
      count === 0
        ? 'nothing was changed'
        : `the ${count} completed step${count === 1 ? ' is' : 's are'} recorded in ${stateFile}: run \`${undoCommand}\` to revert ${count === 1 ? 'it' : 'them'}`
    const hint = process.platform === 'win32' && sudo ? '; run it from PowerShell started as Administrator' : ''
    return new SetupFailedError(`dns-setup ${what} failed: ${firstLine(error)}${hint}; ${recorded}`, {cause: error})
  }
  const total = full.steps.length
  let ran = 0
  for (const [i, step] of full.steps.entries()) {
    if (done.has(idOf(full, step))) {
      // Already done: brought up to date for the hosts this run adds (systemd-resolved's domain list, NetworkManager's).
      for (const action of grew ? (step.refresh ?? []) : []) {
        log(
          `[${i + 1}/${total}] ${action.description}: ${displayCommand(action, options)}${privilegeNote(action, options)}`,
        )
        try {
          await runAction(action, options)
        } catch (error) {
          throw failed(`step ${i + 1}/${total} (${action.description})`, error, action.sudo)
        }
        ran++
      }
      continue
    }
    log(`[${i + 1}/${total}] ${step.description}: ${displayCommand(step, options)}${privilegeNote(step, options)}`)
    try {
      await runAction(step, options)
    } catch (error) {
      if (done.size === 0) await rm(stateFile, {force: true})
      throw failed(`step ${i + 1}/${total} (${step.description})`, error, step.sudo)
    }
    done.add(idOf(full, step))
    ran++
    state = withSteps(state, full, doneSteps())
    await writeState(stateFile, state)
  }
  return ran
}

export interface UndoResult {
  state: SetupState
  undone: number
}

/**
 * Runs the undo actions of the recorded steps in reverse, as the plan gives them (never as the file words them),
 * and deletes the state file. Undefined when there is nothing to undo. An undo action that fails does not stop the
 * others; those that failed stay recorded for the next --undo.
 */
export async function undoSetup(stateFile: string, options: ExecOptions): Promise<UndoResult | undefined> {
  const log = options.log ?? (() => {})
  const checked = await loadState(stateFile)
  if (!checked) return undefined
  const {state, plan, steps} = checked
  if (steps.length === 0) {
    await rm(stateFile, {force: true})
    return {state, undone: 0}
  }
  const failed: SetupStep[] = []
  const reasons: string[] = []
  const total = steps.length
  for (const [k, step] of [...steps].reverse().entries()) {
    log(`[${k + 1}/${total}] ${step.undo.description}: ${displayCommand(step.undo, options)}`)
    try {
      await runAction(step.undo, options)
    } catch (error) {
      failed.unshift(step)
      reasons.push(firstLine(error))
      log(`  failed: ${firstLine(error)}`)
    }
  }
  if (failed.length === 0) {
    await rm(stateFile, {force: true})
    return {state, undone: total}
  }
  await writeState(stateFile, withSteps(state, plan, failed))
  throw new SetupFailedError(
    `could not undo ${failed.length} of ${total} dns-setup steps (first: ${reasons[0]}); they stay recorded in ${stateFile}: fix the cause and run \`${options.undoCommand ?? UNDO_COMMAND}\` again, or delete that file if what they undo is already gone (the dummy link of systemd-resolved vanishes with a reboot)`,
  )
}
