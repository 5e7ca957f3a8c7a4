// Installs, removes and inspects serve's service on this machine. The facts the plan needs are gathered here; the
// plan's steps run through dns-setup's runner (tests record the calls instead of changing anything) and its files
// land under a root prefix in tests. An install that fails halfway reverts the steps it completed; the definition
// file itself records what is installed, so uninstall needs no state of its own.
import {existsSync, readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {homedir, userInfo} from 'node:os'
import {delimiter, join, resolve} from 'node:path'
import {currentOs, POWERSHELL, rebase, runAction, type ExecOptions} from '../dnssetup/apply.js'
import {formatCommand, type TargetOs} from '../dnssetup/plan.js'
import {ExposeLbError, firstLine} from '../errors.js'
import {errnoCode} from '../net/errno.js'
import {MARKER, type ServiceScope} from './definitions.js'
import {
  planUninstall,
  readRunState,
  serviceLocation,
  statusCommand,
  type PrivilegeFacts,
  type ServiceAction,
  type ServiceLocation,
  type ServicePlan,
  type ServiceStatus,
  type ServiceUser,
} from './plan.js'

/** A step of install or uninstall failed, or the service manager is missing; the message says what is left. */
export class ServiceFailedError extends ExposeLbError {
  constructor(message: string, options?: {cause?: unknown}) {
    super('serviceFailed', message, undefined, options)
  }
}

/** systemd creates this directory when it boots the machine (sd_booted(3)). */
export const SYSTEMD_BOOTED = '/run/systemd/system'
/** Linux's lowest port a user may bind without CAP_NET_BIND_SERVICE (ip-sysctl: ip_unprivileged_port_start). */
const UNPRIVILEGED_PORT_START = '/proc/sys/net/ipv4/ip_unprivileged_port_start'

/** This OS, when it has a service manager we know; a usage error otherwise. */
export function serviceOs(platform: NodeJS.Platform = process.platform): TargetOs {
  const os = currentOs(platform)
  if (!os)
    throw new ExposeLbError(
      'usage',
      `service has no service manager to use on ${platform}; start \`kubectl expose-lb serve\` from your login scripts instead`,
    )
  return os
}

/** The user running this command, with the home directory as HOME says (tests point it elsewhere). */
export function currentUser(env: NodeJS.ProcessEnv = process.env): ServiceUser {
  const info = userInfo()
  const win = process.platform === 'win32'
  return {
    name: win && env.USERDOMAIN ? `${env.USERDOMAIN}\\${info.username}` : info.username,
    uid: info.uid,
    home: homedir(),
    ...(win && env.LOCALAPPDATA ? {localAppData: env.LOCALAPPDATA} : {}),
  }
}

/**
 * Refuses `sudo kubectl expose-lb service …`: the service would be root's, with root's home and without the
 * user's KUBECONFIG; the command asks for sudo itself where a step needs it.
 */
export function refuseSudo(env: NodeJS.ProcessEnv = process.env): void {
  if (process.getuid?.() === 0 && env.SUDO_USER)
    throw new ExposeLbError(
      'usage',
      `run \`kubectl expose-lb service\` as ${env.SUDO_USER}, without sudo: the service runs as the user who installs it, and the steps that need root run through sudo themselves`,
    )
}

/** Whether `node` carries cap_net_bind_service (getcap from libcap; without it, assume not). */
async function nodeHasBindCapability(node: string, exec: ExecOptions): Promise<boolean> {
  const result = await exec.runner(['getcap', node])
  return result.code === 0 && /cap_net_bind_service/.test(result.stdout)
}

/** What decides whether serve needs privilege to bind its ports here. */
export async function privilegeFacts(os: TargetOs, node: string, exec: ExecOptions): Promise<PrivilegeFacts> {
  const root = process.getuid?.() === 0
  if (os !== 'linux') return {root, unprivilegedPortStart: 1024, nodeCanBindLowPorts: false}
  let unprivilegedPortStart = 1024
  try {
    const value = Number(readFileSync(UNPRIVILEGED_PORT_START, 'utf8').trim())
    if (Number.isInteger(value)) unprivilegedPortStart = value
  } catch {
    // Kernels before 4.11 have no such setting: 1024.
  }
  const nodeCanBindLowPorts = !root && (await nodeHasBindCapability(node, exec))
  return {root, unprivilegedPortStart, nodeCanBindLowPorts}
}

/** Whether this Linux machine runs systemd at all; a usage error naming the way out when it does not. */
export function requireSystemd(os: TargetOs, exists: (path: string) => boolean = existsSync): void {
  if (os === 'linux' && !exists(SYSTEMD_BOOTED))
    throw new ServiceFailedError(
      `this machine does not run systemd (no ${SYSTEMD_BOOTED}), so there is no service manager to install into: start \`kubectl expose-lb serve\` from your login scripts instead`,
    )
}

/** The kubeconfig the service uses, made explicit: a unit has no shell, so no KUBECONFIG and no `~`. */
export interface KubeconfigChoice {
  /** The files, absolute, in kubectl's merge order. */
  files: string[]
  /** `--kubeconfig=<file>` for one file; nothing for a list (it goes into KUBECONFIG). */
  args: string[]
  environment: Array<[string, string]>
}

/** --kubeconfig when given, else KUBECONFIG, else ~/.kube/config, with absolute paths. */
export function explicitKubeconfig(flag: string | undefined, env: NodeJS.ProcessEnv, home: string): KubeconfigChoice {
  const files = flag
    ? [resolve(flag)]
    : env.KUBECONFIG?.split(delimiter).filter(Boolean).length
      ? env.KUBECONFIG.split(delimiter)
          .filter(Boolean)
          .map((f) => resolve(f))
      : [join(home, '.kube', 'config')]
  if (files.length === 1) return {files, args: [`--kubeconfig=${files[0]}`], environment: []}
  return {files, args: [], environment: [['KUBECONFIG', files.join(delimiter)]]}
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    const code = errnoCode(error)
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw new ServiceFailedError(`cannot read ${path}: ${firstLine(error)}`, {cause: error})
  }
}

const SCOPES: Record<TargetOs, ServiceScope[]> = {
  linux: ['user', 'system'],
  darwin: ['user', 'system'],
  win32: ['user'],
}

/** A definition on disk: ours (it carries the marker) or someone else's. */
interface Found {
  location: ServiceLocation
  ours: boolean
}

/** The definitions of every scope that exist on this machine (under `root` in tests). */
async function findInstalled(os: TargetOs, user: ServiceUser, root: string | undefined): Promise<Found[]> {
  const found: Found[] = []
  for (const scope of SCOPES[os]) {
    const location = serviceLocation(os, scope, user)
    const text = await readIfExists(rebase(root, location.definition))
    if (text !== undefined) found.push({location, ours: text.includes(MARKER)})
  }
  return found
}

/** An action for the log: its description, and the command when it runs a program (a file's path is in both). */
const describe = (a: ServiceAction, exec: ExecOptions) =>
  Array.isArray(a.command) || 'powershell' in a.command
    ? `${a.description}: ${formatCommand({...a, sudo: a.sudo && !exec.privileged})}`
    : a.description

/**
 * Runs actions in order and goes on after a failure; a failure the action expects (mayFail) is logged as such.
 * Returns the failures in words.
 */
async function runAll(actions: ServiceAction[], exec: ExecOptions): Promise<string[]> {
  const log = exec.log ?? (() => {})
  const failures: string[] = []
  for (const [i, action] of actions.entries()) {
    log(`[${i + 1}/${actions.length}] ${describe(action, exec)}`)
    try {
      await runAction(action, exec)
    } catch (error) {
      if (action.mayFail) log(`  fine: ${action.mayFail} (${firstLine(error)})`)
      else {
        failures.push(`${action.description}: ${firstLine(error)}`)
        log(`  failed: ${firstLine(error)}`)
      }
    }
  }
  return failures
}

/** Removes every service of ours on this machine; returns where they were (none: nothing was installed). */
export async function uninstallService(os: TargetOs, user: ServiceUser, exec: ExecOptions): Promise<ServiceLocation[]> {
  const log = exec.log ?? (() => {})
  const removed: ServiceLocation[] = []
  for (const {location, ours} of await findInstalled(os, user, exec.root)) {
    if (!ours) {
      log(`left alone: ${location.definition} was not written by kubectl expose-lb`)
      continue
    }
    log(`removing the ${location.kind} ${location.definition}`)
    const failures = await runAll(planUninstall(os, location.scope, user), exec)
    if (failures.length > 0)
      throw new ServiceFailedError(
        `could not remove all of the ${location.kind} (first: ${failures[0]}); fix the cause and run \`kubectl expose-lb service uninstall\` again`,
      )
    removed.push(location)
  }
  return removed
}

/**
 * Installs the plan: checks first, then replaces a service of ours installed earlier (in either scope), then runs
 * the steps. A step that fails reverts the completed ones, so a failed install leaves nothing behind.
 */
export async function installService(
  plan: ServicePlan,
  user: ServiceUser,
  exec: ExecOptions,
): Promise<{replaced: boolean}> {
  const log = exec.log ?? (() => {})
  const {os} = plan.location
  for (const check of plan.preflight) {
    const result = await exec.runner(check.command)
    if (result.code !== 0) {
      const said = firstLine(result.stderr.trim() || result.stdout.trim())
      throw new ServiceFailedError(`${check.problem}${said ? ` (${check.command.join(' ')}: ${said})` : ''}`)
    }
  }
  const found = await findInstalled(os, user, exec.root)
  const foreign = found.find((f) => !f.ours)
  if (foreign)
    throw new ServiceFailedError(
      `${foreign.location.definition} exists and was not written by kubectl expose-lb; move it away (it may run serve already), then run this again`,
    )
  const replaced = found.length > 0
  if (replaced) {
    log('replacing the service installed earlier')
    await uninstallService(os, user, exec)
  }

  const total = plan.steps.length
  const done: typeof plan.steps = []
  for (const [i, step] of plan.steps.entries()) {
    log(
      `[${i + 1}/${total}] ${describe(step, exec)}${step.sudo && !exec.privileged ? ` (sudo: ${step.why ?? 'needs root'})` : ''}`,
    )
    try {
      await runAction(step, exec)
    } catch (error) {
      const undo = [...done].reverse().flatMap((s) => s.undo)
      if (undo.length > 0) log(`step ${i + 1} failed; reverting the ${done.length} completed`)
      const failures = await runAll(undo, exec)
      const left =
        done.length === 0
          ? 'nothing was changed'
          : failures.length === 0
            ? `the ${done.length} completed step${done.length === 1 ? ' was' : 's were'} reverted`
            : `reverting failed too (${failures[0]}): run \`kubectl expose-lb service uninstall\``
      throw new ServiceFailedError(
        `service install step ${i + 1}/${total} (${step.description}) failed: ${firstLine(error)}; ${left}`,
        {
          cause: error,
        },
      )
    }
    done.push(step)
  }
  return {replaced}
}

/** Installed or not, and if so whether the service manager runs it. */
export async function serviceStatus(
  os: TargetOs,
  user: ServiceUser,
  exec: Pick<ExecOptions, 'runner' | 'root'>,
): Promise<ServiceStatus> {
  const ours = (await findInstalled(os, user, exec.root)).find((f) => f.ours)
  if (!ours) return {installed: false}
  const query = statusCommand(ours.location, user)
  const argv = Array.isArray(query) ? query : [...POWERSHELL, query.powershell]
  const result = await exec.runner(argv)
  return {installed: true, location: ours.location, ...readRunState(os, result)}
}
