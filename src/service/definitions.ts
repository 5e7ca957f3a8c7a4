// The definition files of `service install`, rendered from one description (ServiceSpec): a systemd unit (Linux), a
// launchd property list (macOS) and a Task Scheduler task (Windows). Pure: text in, text out.
//
// Formats:
// - systemd.unit(5), systemd.service(5), systemd.exec(5); ExecStart= quoting and specifiers: systemd.service(5)
//   "Command lines" (`%` starts a specifier, `$` a variable, so both are doubled).
// - launchd.plist(5); the property list DTD at http://www.apple.com/DTDs/PropertyList-1.0.dtd.
// - Task Scheduler schema: https://learn.microsoft.com/windows/win32/taskschd/task-scheduler-schema

import type {TargetOs} from '../dnssetup/plan.js'
import {escapeHtml} from '../markup.js'

export type ServiceScope = 'user' | 'system'

/** What runs, as whom and how, whatever the OS: the one description every definition file is rendered from. */
export interface ServiceSpec {
  os: TargetOs
  scope: ServiceScope
  /** Absolute program and its arguments: the Node.js executable, the plugin's bin script, `serve` and its flags. */
  argv: string[]
  /** Variables a login shell would have set: PATH (kubeconfig credential plugins), KUBECONFIG for a merged list. */
  environment: Array<[name: string, value: string]>
  /** The account serve runs as: its name (Windows: DOMAIN\name). */
  user: string
  /** Its home directory, the working directory. */
  home: string
  /** Where the definition goes: the unit, the property list, the task's XML. */
  definition: string
  /** Windows: the batch file the task runs (it restarts serve after a failure). */
  launcher?: string
  /** Where its output goes (macOS, Windows); on Linux it goes to the journal. */
  logFile?: string
  /** Seconds between a failure and the restart. */
  restartDelaySeconds: number
}

/** Marks a definition this command wrote: install replaces and uninstall removes only files that carry it. */
export const MARKER = 'Written by `kubectl expose-lb service install`'

/** The systemd unit's name (Linux). */
export const UNIT_NAME = 'kubectl-expose-lb.service'
/** The launchd label (macOS), reverse-DNS as launchd.plist(5) asks. */
export const LAUNCHD_LABEL = 'io.github.expose-lb.serve'
/** The scheduled task's name (Windows). */
export const TASK_NAME = 'kubectl-expose-lb'

/** serve lets open connections finish for up to 5 s after SIGTERM; the manager waits longer before it kills. */
export const STOP_TIMEOUT_SECONDS = 15

/** A character no definition format can carry in an argument (a line break would end the line of a unit). */
export function unsafeArgument(word: string): boolean {
  return /[\x00-\x1f\x7f]/.test(word)
}

/** A word for a systemd command line or assignment: bare when safe, else double-quoted; specifiers (`%`) doubled. */
function systemdWord(word: string): string {
  const escaped = word.replaceAll('%', '%%')
  if (/^[\w@%+=:,./-]+$/.test(word)) return escaped
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
}

/** One argument of ExecStart=: as systemdWord, and `$` doubled, since arguments expand variables. */
export function systemdQuote(word: string): string {
  return systemdWord(word.replaceAll('$', '$$$$'))
}

/** ExecStart=: the program path expands specifiers but not variables, its arguments both. */
export function systemdCommandLine([program, ...args]: string[]): string {
  return [systemdWord(program ?? ''), ...args.map(systemdQuote)].join(' ')
}

/**
 * The systemd unit. A user unit runs in the user's manager (started at login); a system unit starts at boot and runs
 * serve as the user with one capability, the right to bind ports below 1024 (see the comment in the unit).
 */
export function systemdUnit(spec: ServiceSpec): string {
  const system = spec.scope === 'system'
  // Environment= takes quoted assignments and expands specifiers, not variables.
  const env = spec.environment.map(([name, value]) => `Environment=${systemdWord(`${name}=${value}`)}`)
  return [
    `# ${MARKER}; \`kubectl expose-lb service uninstall\` removes it.`,
    '[Unit]',
    "Description=kubectl expose-lb serve: friendly names for the cluster's Services",
    // A user manager cannot order itself after system targets; a system unit waits for the network.
    ...(system ? ['Wants=network-online.target', 'After=network-online.target'] : []),
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${systemdCommandLine(spec.argv)}`,
    ...env,
    // The home directory of the user it runs as.
    'WorkingDirectory=~',
    'Restart=on-failure',
    `RestartSec=${spec.restartDelaySeconds}`,
    `TimeoutStopSec=${STOP_TIMEOUT_SECONDS}`,
    ...(system
      ? [
          // Serve binds DNS and HTTP below 1024, which needs privilege. Rather than run it as root (it holds the
          // user's cluster credentials) or give node itself a file capability (every script it runs would get it),
          // it runs as the user with only CAP_NET_BIND_SERVICE: granted as an ambient capability, the bounding set
          // cut to that one, and no way to gain more through setuid programs.
          '# Ports below 1024 need privilege: serve runs as the user, with only the capability to bind them.',
          `User=${spec.user}`,
          'AmbientCapabilities=CAP_NET_BIND_SERVICE',
          'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
          'NoNewPrivileges=yes',
        ]
      : []),
    '',
    '[Install]',
    `WantedBy=${system ? 'multi-user.target' : 'default.target'}`,
    '',
  ].join('\n')
}

const plistString = (value: string, indent: string) => `${indent}<string>${escapeHtml(value)}</string>`
const plistKey = (key: string, indent: string) => `${indent}<key>${escapeHtml(key)}</key>`

/**
 * The launchd property list. RunAtLoad starts serve when the agent is loaded (at login for a LaunchAgent, at boot
 * for a LaunchDaemon); KeepAlive with SuccessfulExit false restarts it when it exits with a failure, not after a
 * clean stop; ThrottleInterval spaces the restarts.
 */
export function launchdPlist(spec: ServiceSpec): string {
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    `<!-- ${MARKER}; \`kubectl expose-lb service uninstall\` removes it. -->`,
    '<plist version="1.0">',
    '<dict>',
    plistKey('Label', '  '),
    plistString(LAUNCHD_LABEL, '  '),
    plistKey('ProgramArguments', '  '),
    '  <array>',
    ...spec.argv.map((a) => plistString(a, '    ')),
    '  </array>',
  ]
  if (spec.environment.length > 0) {
    lines.push(plistKey('EnvironmentVariables', '  '), '  <dict>')
    for (const [name, value] of spec.environment) lines.push(plistKey(name, '    '), plistString(value, '    '))
    lines.push('  </dict>')
  }
  lines.push(plistKey('WorkingDirectory', '  '), plistString(spec.home, '  '))
  // A LaunchDaemon without UserName runs as root: see planService for why a daemon cannot run as the user.
  lines.push(
    plistKey('RunAtLoad', '  '),
    '  <true/>',
    plistKey('KeepAlive', '  '),
    '  <dict>',
    plistKey('SuccessfulExit', '    '),
    '    <false/>',
    '  </dict>',
    plistKey('ThrottleInterval', '  '),
    `  <integer>${spec.restartDelaySeconds}</integer>`,
    plistKey('ExitTimeOut', '  '),
    `  <integer>${STOP_TIMEOUT_SECONDS}</integer>`,
  )
  if (spec.logFile) {
    lines.push(plistKey('StandardOutPath', '  '), plistString(spec.logFile, '  '))
    lines.push(plistKey('StandardErrorPath', '  '), plistString(spec.logFile, '  '))
  }
  lines.push('</dict>', '</plist>', '')
  return lines.join('\n')
}

/** Task Scheduler retries a task that could not start no sooner than a minute later (schema: Interval ≥ PT1M). */
export const TASK_RESTART_INTERVAL = 'PT1M'
/** The most retries the schema allows (RestartOnFailure Count ≤ 999). */
export const TASK_RESTART_COUNT = 999

/**
 * One word on a batch file's command line, double-quoted: a backslash run before the closing quote is doubled (the C
 * runtime's argv rules), `%` doubled (a batch file expands `%NAME%` even inside quotes). A word with `"` cannot be
 * quoted at all (unsafeWindowsArgument refuses it first).
 */
export function batchQuote(word: string): string {
  return `"${word.replaceAll('%', '%%').replace(/(\\+)$/, '$1$1')}"`
}

/** A word a batch file cannot carry inside double quotes: `"` would end the quoting. */
export function unsafeWindowsArgument(word: string): boolean {
  return word.includes('"') || unsafeArgument(word)
}

/**
 * The batch file the task runs: it sets the environment, runs serve with its output appended to the log file (a
 * task has no output of its own), and runs it again 5 s after a failure, since Task Scheduler's RestartOnFailure
 * only retries a task that could not start, whatever the exit status of one that did. `chcp 65001` lets the UTF-8
 * lines below it carry paths outside the OEM code page; `ping` waits because `timeout` refuses redirected input.
 */
export function taskLauncher(spec: ServiceSpec): string {
  const log = spec.logFile ? ` >> ${batchQuote(spec.logFile)} 2>&1` : ''
  return [
    '@echo off',
    `rem ${MARKER}; \`kubectl expose-lb service uninstall\` removes it.`,
    'chcp 65001 >nul',
    ...spec.environment.map(([name, value]) => `set "${name}=${value.replaceAll('%', '%%')}"`),
    ':run',
    `${spec.argv.map(batchQuote).join(' ')}${log}`,
    'if %errorlevel% equ 0 exit /b 0',
    `ping -n ${spec.restartDelaySeconds + 1} 127.0.0.1 >nul`,
    'goto run',
    '',
  ].join('\r\n')
}

/**
 * The scheduled task: started at the user's logon, as the user without elevation (InteractiveToken, so no password
 * is stored), with no time limit (the default stops a task after 72 hours). It runs the launcher, which restarts
 * serve after a failure.
 */
export function taskXml(spec: ServiceSpec, launcher: string): string {
  const user = escapeHtml(spec.user)
  return [
    '<?xml version="1.0"?>',
    `<!-- ${MARKER}; \`kubectl expose-lb service uninstall\` removes it. -->`,
    '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">',
    '  <RegistrationInfo>',
    `    <Description>kubectl expose-lb serve: friendly names for the cluster's Services</Description>`,
    `    <URI>\\${TASK_NAME}</URI>`,
    '  </RegistrationInfo>',
    '  <Triggers>',
    '    <LogonTrigger>',
    '      <Enabled>true</Enabled>',
    `      <UserId>${user}</UserId>`,
    '    </LogonTrigger>',
    '  </Triggers>',
    '  <Principals>',
    '    <Principal id="Author">',
    `      <UserId>${user}</UserId>`,
    '      <LogonType>InteractiveToken</LogonType>',
    '      <RunLevel>LeastPrivilege</RunLevel>',
    '    </Principal>',
    '  </Principals>',
    '  <Settings>',
    '    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>',
    '    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>',
    '    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>',
    '    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>',
    '    <RestartOnFailure>',
    `      <Interval>${TASK_RESTART_INTERVAL}</Interval>`,
    `      <Count>${TASK_RESTART_COUNT}</Count>`,
    '    </RestartOnFailure>',
    '    <AllowStartOnDemand>true</AllowStartOnDemand>',
    '    <Enabled>true</Enabled>',
    '  </Settings>',
    '  <Actions Context="Author">',
    '    <Exec>',
    '      <Command>cmd.exe</Command>',
    // cmd.exe keeps the quotes of `/c "<file>"` when they enclose one existing file and nothing special.
    `      <Arguments>${escapeHtml(`/d /c "${launcher}"`)}</Arguments>`,
    `      <WorkingDirectory>${escapeHtml(spec.home)}</WorkingDirectory>`,
    '    </Exec>',
    '  </Actions>',
    '</Task>',
    '',
  ].join('\n')
}

/** A file to write: its content and mode. */
export interface ServiceFile {
  path: string
  content: string
  mode: number
}

/** Readable by the manager and by everyone, writable by the owner only: launchd refuses a daemon's plist otherwise. */
export const DEFINITION_MODE = 0o644

/** The files of the spec's OS: its definition, and on Windows first the launcher the task runs. */
export function renderFiles(spec: ServiceSpec): ServiceFile[] {
  const file = (path: string, content: string): ServiceFile => ({path, content, mode: DEFINITION_MODE})
  if (spec.os === 'linux') return [file(spec.definition, systemdUnit(spec))]
  if (spec.os === 'darwin') return [file(spec.definition, launchdPlist(spec))]
  const launcher = spec.launcher
  if (!launcher) throw new Error('a Windows service spec needs the path of its launcher')
  return [file(launcher, taskLauncher(spec)), file(spec.definition, taskXml(spec, launcher))]
}
