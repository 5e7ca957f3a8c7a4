// `service install`, `uninstall` and `status` as data: whether serve needs privilege here, where its definition
// goes, the steps that install it (each with its undo), and what the service manager's answers mean. Pure: the
// options and this machine's facts in, the plan out; `apply.ts` runs it through a runner, `commands/service/` prints.
//
// Facts the plan relies on:
// - Linux: binding a port below net.ipv4.ip_unprivileged_port_start (1024 unless lowered) needs
//   CAP_NET_BIND_SERVICE (capabilities(7)). A user unit runs in `systemd --user`, which logind starts at the first
//   login and stops after the last one unless lingering is on (loginctl(1) enable-linger).
// - macOS (10.14 and later): any user binds a port below 1024 on the wildcard address, only root on a single
//   address such as 127.0.0.1 (https://apple.stackexchange.com/questions/348854). launchd has no way to hand one
//   capability to a job, so a daemon that binds 127.0.0.1:53 runs as root. `launchctl bootstrap gui/<uid>` loads an
//   agent into the user's login session, `system` a daemon.
// - Windows: any user binds any port; a scheduled task with a logon trigger starts at the user's logon.

import {formatCommand, type SetupAction, type TargetOs} from '../dnssetup/plan.js'
import {isUnspecified} from '../net/address.js'
import {
  LAUNCHD_LABEL,
  renderFiles,
  TASK_NAME,
  UNIT_NAME,
  unsafeArgument,
  unsafeWindowsArgument,
  type ServiceFile,
  type ServiceScope,
  type ServiceSpec,
} from './definitions.js'

/** Seconds between a failure and the restart. */
export const RESTART_DELAY_SECONDS = 5
/** Ports below this need privilege unless the OS says otherwise (Linux's default ip_unprivileged_port_start). */
export const PRIVILEGED_PORT_LIMIT = 1024

const SELF = 'kubectl expose-lb service'

/** The user installing the service: it runs as them, and its files go under their home. */
export interface ServiceUser {
  /** Login name; on Windows DOMAIN\name, as a task's principal names it. */
  name: string
  /** The numeric user id (launchctl's gui/<uid> domain); -1 on Windows. */
  uid: number
  home: string
  /** Windows: %LOCALAPPDATA%, where the task's files and log go. */
  localAppData?: string
}

/** What decides whether serve may bind its ports without privilege on this machine (gathered by apply.ts). */
export interface PrivilegeFacts {
  /** This process runs as root (then any port is fine, and no sudo is needed). */
  root: boolean
  /** Linux: net.ipv4.ip_unprivileged_port_start. */
  unprivilegedPortStart: number
  /** Linux: the Node.js executable carries the file capability cap_net_bind_service. */
  nodeCanBindLowPorts: boolean
}

/** Where serve will listen: its --listen address and the DNS and HTTP ports (0: any free port). */
export interface ServeBinding {
  listen: string
  dnsPort: number
  httpPort: number
}

/** A user or a system service, and why, in one sentence for the log. */
export interface ScopeChoice {
  scope: ServiceScope
  reason: string
}

function lowPorts(binding: ServeBinding, limit: number): number[] {
  return [...new Set([binding.dnsPort, binding.httpPort])].filter((p) => p > 0 && p < limit).sort((a, b) => a - b)
}

const portWords = (ports: number[]) => `port${ports.length === 1 ? '' : 's'} ${ports.join(' and ')}`
const NO_SUDO_PORTS = '--dns-port 5353 --http-port 8080'

/**
 * A user service whenever serve can bind its ports as the user; a system one (installed with sudo) only when a port
 * below the limit needs privilege. The system service still runs serve as the user on Linux (with the one
 * capability); on macOS it runs as root, which launchd cannot avoid.
 */
export function chooseScope(os: TargetOs, binding: ServeBinding, facts: PrivilegeFacts, node: string): ScopeChoice {
  if (os === 'win32')
    return {scope: 'user', reason: 'a task that starts at your logon (Windows lets any user bind any port)'}
  const limit = os === 'linux' ? facts.unprivilegedPortStart : PRIVILEGED_PORT_LIMIT
  const low = lowPorts(binding, limit)
  const user =
    os === 'linux' ? 'a systemd user unit that starts at your login' : 'a LaunchAgent that starts at your login'
  if (low.length === 0) return {scope: 'user', reason: `${user} (its ports need no privilege)`}
  if (facts.root) return {scope: 'user', reason: `${user} (you are root, so ${portWords(low)} need nothing more)`}
  if (os === 'linux') {
    if (facts.nodeCanBindLowPorts)
      return {scope: 'user', reason: `${user} (${node} has cap_net_bind_service, so it binds ${portWords(low)})`}
    return {
      scope: 'system',
      reason: `a system unit that starts at boot, installed with sudo: ${portWords(low)} need privilege and ${node} lacks cap_net_bind_service, so the unit runs serve as you with only the capability to bind them (${NO_SUDO_PORTS} need no sudo)`,
    }
  }
  if (isUnspecified(binding.listen))
    return {scope: 'user', reason: `${user} (macOS lets any user bind ${portWords(low)} on ${binding.listen})`}
  return {
    scope: 'system',
    reason: `a LaunchDaemon that starts at boot, installed with sudo and running serve as root: macOS lets only root bind ${portWords(low)} on ${binding.listen} (${NO_SUDO_PORTS} run it as you in a LaunchAgent)`,
  }
}

/** Where a service's files go and how to read its logs. */
export interface ServiceLocation {
  os: TargetOs
  scope: ServiceScope
  /** What it is, in words: "systemd user unit", "LaunchDaemon", … */
  kind: string
  /** The unit, the property list, the task's XML: its presence means installed. */
  definition: string
  /** Windows: the batch file the task runs. */
  launcher?: string
  /** Where the output goes; undefined on Linux (the journal). */
  logFile?: string
  /** How to read the logs. */
  logs: string
}

/** The service's files and logs for one OS and scope. */
export function serviceLocation(os: TargetOs, scope: ServiceScope, user: ServiceUser): ServiceLocation {
  if (os === 'linux') {
    const perUser = scope === 'user'
    return {
      os,
      scope,
      kind: `systemd ${scope} unit`,
      definition: perUser ? `${user.home}/.config/systemd/user/${UNIT_NAME}` : `/etc/systemd/system/${UNIT_NAME}`,
      logs: `journalctl ${perUser ? '--user ' : ''}-u ${UNIT_NAME}`,
    }
  }
  if (os === 'darwin') {
    const base = scope === 'user' ? `${user.home}/Library` : '/Library'
    const logFile = `${base}/Logs/kubectl-expose-lb.log`
    return {
      os,
      scope,
      kind: scope === 'user' ? 'LaunchAgent' : 'LaunchDaemon',
      definition: `${base}/${scope === 'user' ? 'LaunchAgents' : 'LaunchDaemons'}/${LAUNCHD_LABEL}.plist`,
      logFile,
      logs: `tail -f ${logFile}`,
    }
  }
  const dir = `${user.localAppData ?? `${user.home}\\AppData\\Local`}\\kubectl-expose-lb`
  return {
    os,
    scope,
    kind: 'scheduled task',
    definition: `${dir}\\serve-task.xml`,
    launcher: `${dir}\\serve.cmd`,
    logFile: `${dir}\\serve.log`,
    logs: `Get-Content -Wait '${dir}\\serve.log'`,
  }
}

/** One action of install or uninstall: a dns-setup action (program, file, PowerShell line), maybe allowed to fail. */
export interface ServiceAction extends SetupAction {
  /** Why a failure here is expected and harmless (stopping what is not running): it is logged, not an error. */
  mayFail?: string
}

/** One step of install, and the actions that revert it (run in order, after those of later steps). */
export interface ServiceStep extends ServiceAction {
  undo: ServiceAction[]
}

/** A check run before anything changes. */
export interface Preflight {
  description: string
  command: string[]
  /** The error when the check fails: what is missing and how to fix it. */
  problem: string
}

/** What `service install` does. */
export interface ServicePlan {
  location: ServiceLocation
  /** Why this scope, for the log. */
  reason: string
  spec: ServiceSpec
  /** The files written by the steps, with content and mode. */
  files: ServiceFile[]
  preflight: Preflight[]
  steps: ServiceStep[]
  notes: string[]
}

/** What the plan needs to know. */
export interface ServiceOptions {
  os: TargetOs
  scope: ServiceScope
  reason: string
  user: ServiceUser
  /**
   * The Node.js executable (process.execPath) and the plugin's bin script, both absolute; or the single executable
   * (Node with the plugin inside, scripts/sea.mjs) as `node` and no script.
   */
  node: string
  script?: string
  /**
   * Node options before `script` (serve's young generation, src/serve/heap-growth.ts startFlags: a service runs
   * Node itself, not the launcher kubectl runs, bin/kubectl-expose_lb). The single executable carries its own.
   */
  nodeOptions?: string[]
  /** serve's flags, with absolute paths. */
  serveArgs: string[]
  environment: Array<[name: string, value: string]>
}

/** PowerShell's single-quoted string. */
function psQuote(text: string): string {
  return `'${text.replaceAll("'", "''")}'`
}

/**
 * The steps for one OS and scope, each with its undo. The file contents are only needed to install: uninstall runs
 * the undo actions of steps planned with no files.
 */
function serviceSteps(location: ServiceLocation, user: ServiceUser, files: ServiceFile[]): ServiceStep[] {
  const {os, scope} = location
  const sudo = scope === 'system'
  const writes = files.map((f): ServiceStep => ({
    description: `write ${f.path}`,
    command: {writeFile: f.path, content: f.content, mode: f.mode},
    sudo,
    ...(sudo ? {why: `${f.path.slice(0, f.path.lastIndexOf('/'))} belongs to root`} : {}),
    undo: [{description: `remove ${f.path}`, command: {removeFile: f.path}, sudo}],
  }))
  if (os === 'linux') {
    const ctl = sudo ? ['systemctl'] : ['systemctl', '--user']
    const why = sudo ? {why: 'manages system services'} : {}
    const reload = (description: string): ServiceAction => ({
      description,
      command: [...ctl, 'daemon-reload'],
      sudo,
      ...why,
    })
    const [write] = writes
    return [
      ...(write ? [{...write, undo: [...write.undo, reload('make systemd forget the unit')]}] : []),
      {...reload('make systemd read the unit'), undo: []},
      {
        description: `start serve now and at every ${sudo ? 'boot' : 'login'}`,
        command: [...ctl, 'enable', '--now', UNIT_NAME],
        sudo,
        ...why,
        undo: [
          {
            description: 'stop serve and no longer start it',
            command: [...ctl, 'disable', '--now', UNIT_NAME],
            sudo,
            ...why,
          },
        ],
      },
    ]
  }
  if (os === 'darwin') {
    const domain = sudo ? 'system' : `gui/${user.uid}`
    const why = sudo ? {why: 'manages system daemons'} : {}
    return [
      ...writes,
      {
        description: 'let launchd load the label (clears a `launchctl disable` of an earlier install)',
        command: ['launchctl', 'enable', `${domain}/${LAUNCHD_LABEL}`],
        sudo,
        ...why,
        undo: [],
      },
      {
        description: `load it: serve starts now and at every ${sudo ? 'boot' : 'login'}`,
        command: ['launchctl', 'bootstrap', domain, location.definition],
        sudo,
        ...why,
        undo: [
          {
            description: 'unload it and stop serve',
            command: ['launchctl', 'bootout', `${domain}/${LAUNCHD_LABEL}`],
            sudo,
            ...why,
            mayFail: 'it was not loaded',
          },
        ],
      },
    ]
  }
  const task = psQuote(TASK_NAME)
  return [
    ...writes,
    {
      description: 'register the task, which starts serve at every logon',
      command: {
        powershell: `Register-ScheduledTask -TaskName ${task} -Xml ([IO.File]::ReadAllText(${psQuote(location.definition)})) -Force | Out-Null`,
      },
      sudo: false,
      undo: [
        {
          description: 'unregister the task',
          command: {powershell: `Unregister-ScheduledTask -TaskName ${task} -Confirm:$false`},
          sudo: false,
          mayFail: 'it was not registered',
        },
      ],
    },
    {
      description: 'start serve now',
      command: {powershell: `Start-ScheduledTask -TaskName ${task}`},
      sudo: false,
      undo: [
        {
          description: 'stop serve',
          command: {powershell: `Stop-ScheduledTask -TaskName ${task}`},
          sudo: false,
          mayFail: 'it was not running',
        },
      ],
    },
  ]
}

/** The actions that remove a service of this OS and scope, in the order they run. */
export function planUninstall(os: TargetOs, scope: ServiceScope, user: ServiceUser): ServiceAction[] {
  const location = serviceLocation(os, scope, user)
  const files: ServiceFile[] = [location.launcher, location.definition]
    .filter((p): p is string => p !== undefined)
    .map((path) => ({path, content: '', mode: 0}))
  return [...serviceSteps(location, user, files)].reverse().flatMap((s) => s.undo)
}

/** Why these arguments cannot go into a definition file, or undefined. */
export function argumentProblem(os: TargetOs, argv: string[]): string | undefined {
  const bad = argv.find((a) => (os === 'win32' ? unsafeWindowsArgument(a) : unsafeArgument(a)))
  if (bad === undefined) return undefined
  return `${JSON.stringify(bad)} cannot be written into a ${os === 'win32' ? 'task' : 'service definition'}: it holds ${bad.includes('"') ? 'a double quote' : 'a control character'}; rename the file or pick another value`
}

/** The preflight checks of one OS and scope. */
function preflight(location: ServiceLocation): Preflight[] {
  if (location.os !== 'linux' || location.scope !== 'user') return []
  return [
    {
      description: 'systemd --user answers',
      command: ['systemctl', '--user', 'show-environment'],
      problem:
        'systemd --user is not available on this machine (no user session bus): log in through a desktop or ssh session, which starts it (`su` and `sudo -i` do not), then run this again',
    },
  ]
}

function notes(o: ServiceOptions, location: ServiceLocation): string[] {
  const notes: string[] = []
  if (location.os === 'linux' && location.scope === 'user')
    notes.push(
      `a user unit runs while you are logged in; to start it at boot and keep it after you log out: sudo loginctl enable-linger ${o.user.name}`,
    )
  if (location.os === 'darwin' && location.scope === 'system')
    notes.push(
      `serve runs as root: launchd cannot give a job just the right to bind ports below 1024 on one address; ${NO_SUDO_PORTS} run it as you`,
    )
  if (location.os === 'win32')
    notes.push(
      'the task runs in a console window of its own at logon; closing the window stops serve until the next logon',
    )
  notes.push(
    o.script === undefined
      ? `it runs ${o.node}: if that file moves, run \`${SELF} install\` again`
      : `it runs ${o.node}: when Node.js moves (an upgrade through nvm or Homebrew), run \`${SELF} install\` again`,
  )
  return notes
}

/** The plan that installs serve as a service, or a usage problem when the arguments cannot be written. */
export function planService(o: ServiceOptions): ServicePlan | {problem: string} {
  const argv = [
    o.node,
    ...(o.script === undefined ? [] : [...(o.nodeOptions ?? []), o.script]),
    'serve',
    ...o.serveArgs,
  ]
  const problem = argumentProblem(o.os, [...argv, ...o.environment.map(([, v]) => v)])
  if (problem) return {problem}
  const location = serviceLocation(o.os, o.scope, o.user)
  const spec: ServiceSpec = {
    os: o.os,
    scope: o.scope,
    argv,
    environment: o.environment,
    user: o.user.name,
    home: o.user.home,
    definition: location.definition,
    ...(location.launcher ? {launcher: location.launcher} : {}),
    ...(location.logFile ? {logFile: location.logFile} : {}),
    restartDelaySeconds: RESTART_DELAY_SECONDS,
  }
  const files = renderFiles(spec)
  return {
    location,
    reason: o.reason,
    spec,
    files,
    preflight: preflight(location),
    steps: serviceSteps(location, o.user, files),
    notes: notes(o, location),
  }
}

/** The command that asks the service manager whether serve runs: a program with its arguments, or PowerShell. */
export function statusCommand(location: ServiceLocation, user: ServiceUser): string[] | {powershell: string} {
  if (location.os === 'linux')
    return ['systemctl', ...(location.scope === 'user' ? ['--user'] : []), 'is-active', UNIT_NAME]
  if (location.os === 'darwin')
    return ['launchctl', 'print', `${location.scope === 'user' ? `gui/${user.uid}` : 'system'}/${LAUNCHD_LABEL}`]
  // Get-ScheduledTask's State is an enum name; schtasks /Query prints the status in the system's language.
  return {powershell: `(Get-ScheduledTask -TaskName ${psQuote(TASK_NAME)}).State`}
}

/** What the service manager said. */
export interface RunState {
  running: boolean
  /** Its word for the state (active, failed, running, Ready, …), or why it could not say. */
  state: string
}

/** The manager's answer to statusCommand, read. */
export function readRunState(os: TargetOs, result: {code: number; stdout: string; stderr: string}): RunState {
  const out = result.stdout.trim()
  const why = (result.stderr.trim() || out).split('\n', 1)[0] || `exit status ${result.code}`
  if (os === 'linux') {
    // is-active prints the state and exits 0 only for active (systemctl(1)); a bus error prints nothing.
    const word = out.split('\n', 1)[0] ?? ''
    if (/^[a-z-]+$/.test(word)) return {running: result.code === 0 && word === 'active', state: word}
    return {running: false, state: `unknown: ${why}`}
  }
  if (os === 'darwin') {
    if (result.code !== 0) return {running: false, state: 'not loaded'}
    const state = /^\s*state = (.+?)\s*$/m.exec(out)?.[1] ?? 'loaded'
    return {running: state === 'running', state}
  }
  if (result.code !== 0) return {running: false, state: `not registered: ${why}`}
  return {running: out === 'Running', state: out || 'unknown'}
}

/** What `service status` found. */
export type ServiceStatus = {installed: false} | ({installed: true; location: ServiceLocation} & RunState)

/** The status as lines for stdout. */
export function formatStatus(status: ServiceStatus): string {
  if (!status.installed)
    return `not installed: \`${SELF} install [serve flags]\` runs serve at login, restarted when it fails`
  const {location} = status
  return [
    `installed  ${location.kind} ${location.definition}`,
    `running    ${status.running ? 'yes' : 'no'} (${status.state})`,
    `logs       ${location.logs}`,
  ].join('\n')
}

/** The plan as text for stdout (--dry-run): why this scope, the checks, the files, the steps and the notes. */
export function renderServicePlan(plan: ServicePlan): string {
  const lines = [`Run serve as ${plan.reason}:`, '']
  for (const check of plan.preflight) lines.push(`  check: ${check.description}: ${check.command.join(' ')}`)
  plan.steps.forEach((s, i) => {
    lines.push(`  ${i + 1}. ${s.description}`)
    if (!('writeFile' in s.command)) lines.push(`     ${formatCommand(s)}`)
  })
  for (const file of plan.files) {
    lines.push('', `${file.path} (mode ${file.mode.toString(8).padStart(4, '0')}):`)
    lines.push(
      ...file.content
        .replace(/\r?\n$/, '')
        .split(/\r?\n/)
        .map((l) => (l ? `  ${l}` : '')),
    )
  }
  lines.push(
    '',
    'To remove it:',
    ...[...plan.steps].reverse().flatMap((s) => s.undo.map((u) => `  ${formatCommand(u)}`)),
  )
  lines.push('', 'Notes:', ...plan.notes.map((n) => `  - ${n}`), '', `Logs: ${plan.location.logs}`)
  return lines.join('\n')
}
