// The pure plan of `service install`: when serve needs privilege, where each OS keeps the service, the steps with
// their undo, the status answers, and the text of --dry-run.
import {describe, expect, it} from 'vitest'
import type {TargetOs} from '../../src/dnssetup/plan.js'
import {
  chooseScope,
  formatStatus,
  planService,
  planUninstall,
  readRunState,
  renderServicePlan,
  serviceLocation,
  statusCommand,
  type PrivilegeFacts,
  type ServeBinding,
  type ServiceOptions,
  type ServicePlan,
  type ServiceUser,
} from '../../src/service/plan.js'

const NODE = '/usr/bin/node'
const DEFAULT_PORTS: ServeBinding = {listen: '127.0.0.1', dnsPort: 53, httpPort: 80}
const HIGH_PORTS: ServeBinding = {listen: '127.0.0.1', dnsPort: 5353, httpPort: 8080}
const USER_FACTS: PrivilegeFacts = {root: false, unprivilegedPortStart: 1024, nodeCanBindLowPorts: false}

const ANA: ServiceUser = {name: 'ana', uid: 1000, home: '/home/ana'}
const ANA_MAC: ServiceUser = {name: 'ana', uid: 501, home: '/Users/ana'}
const ANA_WIN: ServiceUser = {
  name: 'HOMELAB\\ana',
  uid: -1,
  home: 'C:\\Users\\ana',
  localAppData: 'C:\\Users\\ana\\AppData\\Local',
}
const USERS: Record<TargetOs, ServiceUser> = {linux: ANA, darwin: ANA_MAC, win32: ANA_WIN}

describe('chooseScope', () => {
  it.each<{case: string; os: TargetOs; binding: ServeBinding; facts?: Partial<PrivilegeFacts>; scope: string}>([
    {case: 'Linux, ports above 1024: a user unit', os: 'linux', binding: HIGH_PORTS, scope: 'user'},
    {case: 'Linux, 53 and 80: a system unit', os: 'linux', binding: DEFAULT_PORTS, scope: 'system'},
    {
      case: 'Linux, 53 and 80 with node granted cap_net_bind_service: a user unit',
      os: 'linux',
      binding: DEFAULT_PORTS,
      facts: {nodeCanBindLowPorts: true},
      scope: 'user',
    },
    {
      case: 'Linux, 53 and 80 with ip_unprivileged_port_start lowered to 53: a user unit',
      os: 'linux',
      binding: DEFAULT_PORTS,
      facts: {unprivilegedPortStart: 53},
      scope: 'user',
    },
    {
      case: 'Linux, port 80 below a limit lowered only to 81: still a system unit',
      os: 'linux',
      binding: {...HIGH_PORTS, httpPort: 80},
      facts: {unprivilegedPortStart: 81},
      scope: 'system',
    },
    {case: 'Linux as root: a user unit', os: 'linux', binding: DEFAULT_PORTS, facts: {root: true}, scope: 'user'},
    {
      case: 'Linux, port 0 (any free port) is not low',
      os: 'linux',
      binding: {...HIGH_PORTS, dnsPort: 0},
      scope: 'user',
    },
    {case: 'macOS, 53 and 80 on 127.0.0.1: a LaunchDaemon', os: 'darwin', binding: DEFAULT_PORTS, scope: 'system'},
    {
      case: 'macOS, 53 and 80 on the wildcard address: a LaunchAgent',
      os: 'darwin',
      binding: {...DEFAULT_PORTS, listen: '0.0.0.0'},
      scope: 'user',
    },
    {
      case: 'macOS ignores the Linux sysctl',
      os: 'darwin',
      binding: DEFAULT_PORTS,
      facts: {unprivilegedPortStart: 0},
      scope: 'system',
    },
    {case: 'macOS, ports above 1024: a LaunchAgent', os: 'darwin', binding: HIGH_PORTS, scope: 'user'},
    {case: 'Windows, 53 and 80: a task of the user', os: 'win32', binding: DEFAULT_PORTS, scope: 'user'},
  ])('$case', ({os, binding, facts, scope}) => {
    expect(chooseScope(os, binding, {...USER_FACTS, ...facts}, NODE).scope).toBe(scope)
  })

  it('says why, and which ports need no sudo', () => {
    expect(chooseScope('linux', DEFAULT_PORTS, USER_FACTS, NODE).reason).toBe(
      'a system unit that starts at boot, installed with sudo: ports 53 and 80 need privilege and /usr/bin/node lacks cap_net_bind_service, so the unit runs serve as you with only the capability to bind them (--dns-port 5353 --http-port 8080 need no sudo)',
    )
    expect(chooseScope('linux', HIGH_PORTS, USER_FACTS, NODE).reason).toBe(
      'a systemd user unit that starts at your login (its ports need no privilege)',
    )
    expect(chooseScope('darwin', {...HIGH_PORTS, dnsPort: 53}, USER_FACTS, NODE).reason).toBe(
      'a LaunchDaemon that starts at boot, installed with sudo and running serve as root: macOS lets only root bind port 53 on 127.0.0.1 (--dns-port 5353 --http-port 8080 run it as you in a LaunchAgent)',
    )
  })
})

describe('serviceLocation', () => {
  it.each<[TargetOs, 'user' | 'system', Record<string, string | undefined>]>([
    [
      'linux',
      'user',
      {
        kind: 'systemd user unit',
        definition: '/home/ana/.config/systemd/user/kubectl-expose-lb.service',
        logs: 'journalctl --user -u kubectl-expose-lb.service',
      },
    ],
    [
      'linux',
      'system',
      {
        kind: 'systemd system unit',
        definition: '/etc/systemd/system/kubectl-expose-lb.service',
        logs: 'journalctl -u kubectl-expose-lb.service',
      },
    ],
    [
      'darwin',
      'user',
      {
        kind: 'LaunchAgent',
        definition: '/Users/ana/Library/LaunchAgents/io.github.expose-lb.serve.plist',
        logFile: '/Users/ana/Library/Logs/kubectl-expose-lb.log',
        logs: 'tail -f /Users/ana/Library/Logs/kubectl-expose-lb.log',
      },
    ],
    [
      'darwin',
      'system',
      {
        kind: 'LaunchDaemon',
        definition: '/Library/LaunchDaemons/io.github.expose-lb.serve.plist',
        logFile: '/Library/Logs/kubectl-expose-lb.log',
        logs: 'tail -f /Library/Logs/kubectl-expose-lb.log',
      },
    ],
    [
      'win32',
      'user',
      {
        kind: 'scheduled task',
        definition: 'C:\\Users\\ana\\AppData\\Local\\kubectl-expose-lb\\serve-task.xml',
        launcher: 'C:\\Users\\ana\\AppData\\Local\\kubectl-expose-lb\\serve.cmd',
        logFile: 'C:\\Users\\ana\\AppData\\Local\\kubectl-expose-lb\\serve.log',
        logs: "Get-Content -Wait 'C:\\Users\\ana\\AppData\\Local\\kubectl-expose-lb\\serve.log'",
      },
    ],
  ])('%s %s', (os, scope, expected) => {
    expect(serviceLocation(os, scope, USERS[os])).toEqual({os, scope, ...expected})
  })
})

function options(os: TargetOs, scope: 'user' | 'system', overrides: Partial<ServiceOptions> = {}): ServiceOptions {
  return {
    os,
    scope,
    reason: 'because',
    user: USERS[os],
    node: os === 'win32' ? 'C:\\Program Files\\nodejs\\node.exe' : NODE,
    script: os === 'win32' ? 'C:\\Users\\ana\\.krew\\bin\\kubectl-expose_lb' : '/opt/expose-lb/bin/kubectl-expose_lb',
    serveArgs: ['--kubeconfig=/home/ana/.kube/config', '--dns-port=5353'],
    environment: [],
    ...overrides,
  }
}

function plan(o: ServiceOptions): ServicePlan {
  const p = planService(o)
  if ('problem' in p) throw new Error(p.problem)
  return p
}

/** A step as the table shows it: its command (a file write by path and mode), sudo, and its undo commands. */
function outline(p: ServicePlan) {
  const show = (c: ServicePlan['steps'][number]['command']) =>
    Array.isArray(c)
      ? c.join(' ')
      : 'powershell' in c
        ? `ps: ${c.powershell}`
        : 'writeFile' in c
          ? `write ${c.writeFile} ${c.mode?.toString(8)}`
          : `rm ${c.removeFile}`
  return p.steps.map((s) => ({
    run: show(s.command),
    sudo: s.sudo,
    undo: s.undo.map((u) => `${show(u.command)}${u.mayFail ? ` (may fail: ${u.mayFail})` : ''}`),
  }))
}

describe('planService', () => {
  it('runs the single executable itself, with no script, and says to reinstall when that file moves', () => {
    const p = plan(options('linux', 'user', {node: '/home/ana/.krew/bin/kubectl-expose_lb', script: undefined}))
    expect(p.spec.argv).toEqual([
      '/home/ana/.krew/bin/kubectl-expose_lb',
      'serve',
      '--kubeconfig=/home/ana/.kube/config',
      '--dns-port=5353',
    ])
    expect(p.notes.at(-1)).toBe(
      'it runs /home/ana/.krew/bin/kubectl-expose_lb: if that file moves, run `kubectl expose-lb service install` again',
    )
  })

  it("starts Node with the node options before the plugin's script (serve's young generation), none for the single executable", () => {
    const options_ = {nodeOptions: ['--max-semi-space-size=8']}
    expect(plan(options('darwin', 'user', options_)).spec.argv.slice(0, 4)).toEqual([
      NODE,
      '--max-semi-space-size=8',
      '/opt/expose-lb/bin/kubectl-expose_lb',
      'serve',
    ])
    const single = plan(options('linux', 'user', {...options_, node: '/opt/kubectl-expose_lb', script: undefined}))
    expect(single.spec.argv.slice(0, 2)).toEqual(['/opt/kubectl-expose_lb', 'serve'])
  })

  it('Linux user unit: write, reload, enable --now; undo disables, removes and reloads', () => {
    const p = plan(options('linux', 'user'))
    expect(p.spec).toEqual({
      os: 'linux',
      scope: 'user',
      argv: [
        NODE,
        '/opt/expose-lb/bin/kubectl-expose_lb',
        'serve',
        '--kubeconfig=/home/ana/.kube/config',
        '--dns-port=5353',
      ],
      environment: [],
      user: 'ana',
      home: '/home/ana',
      definition: '/home/ana/.config/systemd/user/kubectl-expose-lb.service',
      restartDelaySeconds: 5,
    })
    expect(outline(p)).toEqual([
      {
        run: 'write /home/ana/.config/systemd/user/kubectl-expose-lb.service 644',
        sudo: false,
        undo: ['rm /home/ana/.config/systemd/user/kubectl-expose-lb.service', 'systemctl --user daemon-reload'],
      },
      {run: 'systemctl --user daemon-reload', sudo: false, undo: []},
      {
        run: 'systemctl --user enable --now kubectl-expose-lb.service',
        sudo: false,
        undo: ['systemctl --user disable --now kubectl-expose-lb.service'],
      },
    ])
    expect(p.preflight).toEqual([
      {
        description: 'systemd --user answers',
        command: ['systemctl', '--user', 'show-environment'],
        problem: expect.stringMatching(/^systemd --user is not available on this machine \(no user session bus\): /),
      },
    ])
    expect(p.files).toEqual([
      {path: p.location.definition, content: expect.stringContaining('WantedBy=default.target'), mode: 0o644},
    ])
    expect(p.notes[0]).toBe(
      'a user unit runs while you are logged in; to start it at boot and keep it after you log out: sudo loginctl enable-linger ana',
    )
  })

  it('Linux system unit: the same through sudo, without the --user manager and without a preflight', () => {
    const p = plan(options('linux', 'system'))
    expect(outline(p)).toEqual([
      {
        run: 'write /etc/systemd/system/kubectl-expose-lb.service 644',
        sudo: true,
        undo: ['rm /etc/systemd/system/kubectl-expose-lb.service', 'systemctl daemon-reload'],
      },
      {run: 'systemctl daemon-reload', sudo: true, undo: []},
      {
        run: 'systemctl enable --now kubectl-expose-lb.service',
        sudo: true,
        undo: ['systemctl disable --now kubectl-expose-lb.service'],
      },
    ])
    expect(p.steps[0]!.why).toBe('/etc/systemd/system belongs to root')
    expect(p.preflight).toEqual([])
  })

  it('macOS LaunchAgent: write, enable, bootstrap into gui/<uid>; bootout may fail when not loaded', () => {
    expect(outline(plan(options('darwin', 'user', {user: ANA_MAC})))).toEqual([
      {
        run: 'write /Users/ana/Library/LaunchAgents/io.github.expose-lb.serve.plist 644',
        sudo: false,
        undo: ['rm /Users/ana/Library/LaunchAgents/io.github.expose-lb.serve.plist'],
      },
      {run: 'launchctl enable gui/501/io.github.expose-lb.serve', sudo: false, undo: []},
      {
        run: 'launchctl bootstrap gui/501 /Users/ana/Library/LaunchAgents/io.github.expose-lb.serve.plist',
        sudo: false,
        undo: ['launchctl bootout gui/501/io.github.expose-lb.serve (may fail: it was not loaded)'],
      },
    ])
  })

  it('macOS LaunchDaemon: the system domain, through sudo, and a note that serve runs as root', () => {
    const p = plan(options('darwin', 'system'))
    expect(outline(p).map((s) => [s.run, s.sudo])).toEqual([
      ['write /Library/LaunchDaemons/io.github.expose-lb.serve.plist 644', true],
      ['launchctl enable system/io.github.expose-lb.serve', true],
      ['launchctl bootstrap system /Library/LaunchDaemons/io.github.expose-lb.serve.plist', true],
    ])
    expect(p.notes[0]).toMatch(/^serve runs as root: /)
  })

  it('Windows task: write the launcher and the XML, register, start', () => {
    const dir = 'C:\\Users\\ana\\AppData\\Local\\kubectl-expose-lb'
    expect(outline(plan(options('win32', 'user')))).toEqual([
      {run: `write ${dir}\\serve.cmd 644`, sudo: false, undo: [`rm ${dir}\\serve.cmd`]},
      {run: `write ${dir}\\serve-task.xml 644`, sudo: false, undo: [`rm ${dir}\\serve-task.xml`]},
      {
        run: `ps: Register-ScheduledTask -TaskName 'kubectl-expose-lb' -Xml ([IO.File]::ReadAllText('${dir}\\serve-task.xml')) -Force | Out-Null`,
        sudo: false,
        undo: [
          "ps: Unregister-ScheduledTask -TaskName 'kubectl-expose-lb' -Confirm:$false (may fail: it was not registered)",
        ],
      },
      {
        run: "ps: Start-ScheduledTask -TaskName 'kubectl-expose-lb'",
        sudo: false,
        undo: ["ps: Stop-ScheduledTask -TaskName 'kubectl-expose-lb' (may fail: it was not running)"],
      },
    ])
  })

  it('refuses arguments a definition cannot carry', () => {
    expect(planService(options('linux', 'user', {serveArgs: ['--kubeconfig=/tmp/a\nb']}))).toEqual({
      problem:
        '"--kubeconfig=/tmp/a\\nb" cannot be written into a service definition: it holds a control character; rename the file or pick another value',
    })
    expect(planService(options('win32', 'user', {serveArgs: ['--kubeconfig=C:\\"x"']}))).toEqual({
      problem:
        '"--kubeconfig=C:\\\\\\"x\\"" cannot be written into a task: it holds a double quote; rename the file or pick another value',
    })
  })
})

describe('planUninstall', () => {
  it.each<[TargetOs, 'user' | 'system', string[]]>([
    [
      'linux',
      'user',
      [
        'systemctl --user disable --now kubectl-expose-lb.service',
        'rm -f /home/ana/.config/systemd/user/kubectl-expose-lb.service',
        'systemctl --user daemon-reload',
      ],
    ],
    [
      'linux',
      'system',
      [
        'sudo systemctl disable --now kubectl-expose-lb.service',
        'sudo rm -f /etc/systemd/system/kubectl-expose-lb.service',
        'sudo systemctl daemon-reload',
      ],
    ],
    [
      'darwin',
      'user',
      [
        'launchctl bootout gui/501/io.github.expose-lb.serve',
        'rm -f /Users/ana/Library/LaunchAgents/io.github.expose-lb.serve.plist',
      ],
    ],
    [
      'win32',
      'user',
      [
        "Stop-ScheduledTask -TaskName 'kubectl-expose-lb'",
        "Unregister-ScheduledTask -TaskName 'kubectl-expose-lb' -Confirm:$false",
        "rm -f 'C:\\Users\\ana\\AppData\\Local\\kubectl-expose-lb\\serve-task.xml'",
        "rm -f 'C:\\Users\\ana\\AppData\\Local\\kubectl-expose-lb\\serve.cmd'",
      ],
    ],
  ])('%s %s: the undo of every install step, last step first', async (os, scope, commands) => {
    const {formatCommand} = await import('../../src/dnssetup/plan.js')
    expect(planUninstall(os, scope, USERS[os]).map(formatCommand)).toEqual(commands)
  })
})

describe('status', () => {
  it('asks each manager its own way', () => {
    expect(statusCommand(serviceLocation('linux', 'user', ANA), ANA)).toEqual([
      'systemctl',
      '--user',
      'is-active',
      'kubectl-expose-lb.service',
    ])
    expect(statusCommand(serviceLocation('darwin', 'system', ANA_MAC), ANA_MAC)).toEqual([
      'launchctl',
      'print',
      'system/io.github.expose-lb.serve',
    ])
    expect(statusCommand(serviceLocation('win32', 'user', ANA_WIN), ANA_WIN)).toEqual({
      powershell: "(Get-ScheduledTask -TaskName 'kubectl-expose-lb').State",
    })
  })

  it.each<{
    case: string
    os: TargetOs
    code: number
    stdout?: string
    stderr?: string
    running: boolean
    state: string
  }>([
    {case: 'systemd: active', os: 'linux', code: 0, stdout: 'active\n', running: true, state: 'active'},
    {case: 'systemd: failed', os: 'linux', code: 3, stdout: 'failed\n', running: false, state: 'failed'},
    {case: 'systemd: restarting', os: 'linux', code: 3, stdout: 'activating\n', running: false, state: 'activating'},
    {
      case: 'systemd: no bus',
      os: 'linux',
      code: 1,
      stderr: 'Failed to connect to bus: No medium found\n',
      running: false,
      state: 'unknown: Failed to connect to bus: No medium found',
    },
    {
      case: 'launchd: running',
      os: 'darwin',
      code: 0,
      stdout: 'gui/501/io.github.expose-lb.serve = {\n\tactive count = 1\n\tstate = running\n\tpid = 812\n}\n',
      running: true,
      state: 'running',
    },
    {
      case: 'launchd: loaded, waiting to restart',
      os: 'darwin',
      code: 0,
      stdout: 'gui/501/io.github.expose-lb.serve = {\n\tstate = not running\n}\n',
      running: false,
      state: 'not running',
    },
    {
      case: 'launchd: not loaded',
      os: 'darwin',
      code: 113,
      stderr: 'Could not find service "io.github.expose-lb.serve" in domain for port\n',
      running: false,
      state: 'not loaded',
    },
    {case: 'task: running', os: 'win32', code: 0, stdout: 'Running\r\n', running: true, state: 'Running'},
    {case: 'task: ready', os: 'win32', code: 0, stdout: 'Ready\r\n', running: false, state: 'Ready'},
    {
      case: 'task: gone',
      os: 'win32',
      code: 1,
      stderr: 'Get-ScheduledTask : No MSFT_ScheduledTask objects found\r\n',
      running: false,
      state: 'not registered: Get-ScheduledTask : No MSFT_ScheduledTask objects found',
    },
  ])('$case', ({os, code, stdout = '', stderr = '', running, state}) => {
    expect(readRunState(os, {code, stdout, stderr})).toEqual({running, state})
  })

  it('formats installed and not installed', () => {
    expect(formatStatus({installed: false})).toBe(
      'not installed: `kubectl expose-lb service install [serve flags]` runs serve at login, restarted when it fails',
    )
    expect(
      formatStatus({installed: true, location: serviceLocation('linux', 'user', ANA), running: false, state: 'failed'}),
    ).toBe(
      [
        'installed  systemd user unit /home/ana/.config/systemd/user/kubectl-expose-lb.service',
        'running    no (failed)',
        'logs       journalctl --user -u kubectl-expose-lb.service',
      ].join('\n'),
    )
  })
})

describe('renderServicePlan', () => {
  it('prints why, the checks, the steps, each file with its mode, how to remove it, and the notes', () => {
    const text = renderServicePlan(plan(options('linux', 'system', {reason: 'a system unit (ports 53 and 80)'})))
    const lines = text.split('\n')
    expect(lines.slice(0, 9)).toEqual([
      'Run serve as a system unit (ports 53 and 80):',
      '',
      '  1. write /etc/systemd/system/kubectl-expose-lb.service',
      '  2. make systemd read the unit',
      '     sudo systemctl daemon-reload',
      '  3. start serve now and at every boot',
      '     sudo systemctl enable --now kubectl-expose-lb.service',
      '',
      '/etc/systemd/system/kubectl-expose-lb.service (mode 0644):',
    ])
    expect(lines).toContain('  NoNewPrivileges=yes')
    expect(text).toContain(
      [
        'To remove it:',
        '  sudo systemctl disable --now kubectl-expose-lb.service',
        '  sudo rm -f /etc/systemd/system/kubectl-expose-lb.service',
        '  sudo systemctl daemon-reload',
      ].join('\n'),
    )
    expect(lines.at(-1)).toBe('Logs: journalctl -u kubectl-expose-lb.service')
  })
})
