// The generated definitions: systemd units checked by `systemd-analyze verify` (Debian package systemd), the launchd
// property list read back by a strict plist reader, the task XML and its launcher read as the formats define them.
import {execFile} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir, userInfo} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {
  batchQuote,
  launchdPlist,
  renderFiles,
  systemdQuote,
  systemdUnit,
  taskLauncher,
  taskXml,
  unsafeWindowsArgument,
  type ServiceSpec,
} from '../../src/service/definitions.js'
import {ROOT} from '../e2e/helpers.js'
import {child, elements, parseXml, readPlist, text} from './xml.js'

const scratch = mkdtempSync(join(tmpdir(), 'service-definitions-'))
afterAll(() => rmSync(scratch, {recursive: true, force: true}))
let counter = 0

const SCRIPT = join(ROOT, 'bin', 'kubectl-expose_lb')

function spec(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    os: 'linux',
    scope: 'user',
    argv: ['/usr/bin/node', '/opt/expose-lb/bin/kubectl-expose_lb', 'serve', '--kubeconfig=/home/ana/.kube/config'],
    environment: [['PATH', '/usr/local/bin:/usr/bin:/bin']],
    user: 'ana',
    home: '/home/ana',
    definition: '/home/ana/.config/systemd/user/kubectl-expose-lb.service',
    restartDelaySeconds: 5,
    ...overrides,
  }
}

interface Verified {
  code: number
  stderr: string
}

/** `systemd-analyze [--user] verify` on the unit, written as kubectl-expose-lb.service in a fresh directory. */
function verify(unit: string, scope: 'user' | 'system'): Promise<Verified> {
  const dir = join(scratch, `v${++counter}`)
  mkdirSync(join(dir, 'runtime'), {recursive: true})
  const file = join(dir, 'kubectl-expose-lb.service')
  writeFileSync(file, unit)
  // A user manager needs a runtime directory; a fresh one keeps the check off this machine's session.
  const env = {...process.env, XDG_RUNTIME_DIR: join(dir, 'runtime'), SYSTEMD_LOG_COLOR: '0'}
  const args = [...(scope === 'user' ? ['--user'] : []), 'verify', file]
  return new Promise((resolve) => {
    execFile('systemd-analyze', args, {env, timeout: 20_000}, (error, _stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr})
    })
  })
}

describe('systemd units', () => {
  it('a user unit: serve by absolute paths, restarted on failure, started with the user manager', () => {
    expect(systemdUnit(spec())).toBe(
      [
        '# Written by `kubectl expose-lb service install`; `kubectl expose-lb service uninstall` removes it.',
        '[Unit]',
        "Description=kubectl expose-lb serve: friendly names for the cluster's Services",
        '',
        '[Service]',
        'Type=simple',
        'ExecStart=/usr/bin/node /opt/expose-lb/bin/kubectl-expose_lb serve --kubeconfig=/home/ana/.kube/config',
        'Environment=PATH=/usr/local/bin:/usr/bin:/bin',
        'WorkingDirectory=~',
        'Restart=on-failure',
        'RestartSec=5',
        'TimeoutStopSec=15',
        '',
        '[Install]',
        'WantedBy=default.target',
        '',
      ].join('\n'),
    )
  })

  it('a system unit runs serve as the user with only CAP_NET_BIND_SERVICE, after the network, at boot', () => {
    const unit = systemdUnit(spec({scope: 'system', definition: '/etc/systemd/system/kubectl-expose-lb.service'}))
    const lines = unit.split('\n')
    expect(lines).toEqual(expect.arrayContaining(['Wants=network-online.target', 'After=network-online.target']))
    expect(lines.filter((l) => /^(User|AmbientCapabilities|CapabilityBoundingSet|NoNewPrivileges)=/.test(l))).toEqual([
      'User=ana',
      'AmbientCapabilities=CAP_NET_BIND_SERVICE',
      'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
      'NoNewPrivileges=yes',
    ])
    expect(lines).toContain('WantedBy=multi-user.target')
  })

  it.each([
    ['/usr/bin/node', '/usr/bin/node'],
    ['--domain=home.lab', '--domain=home.lab'],
    ['/home/ana/my configs/kube', '"/home/ana/my configs/kube"'],
    ['/home/ana/100%/kube', '/home/ana/100%%/kube'],
    ['/home/ana/$HOME/kube', '"/home/ana/$$HOME/kube"'],
    ['C:\\odd "name"', '"C:\\\\odd \\"name\\""'],
  ])('quotes %j for ExecStart as %s', (word, quoted) => {
    expect(systemdQuote(word)).toBe(quoted)
  })

  describe('systemd-analyze verify', () => {
    // verify also checks that ExecStart's program exists and is executable: the real node and bin script.
    const real = (overrides: Partial<ServiceSpec> = {}) =>
      spec({argv: [process.execPath, SCRIPT, 'serve', '--dns-port=5353', '--http-port=8080'], ...overrides})

    it('accepts the user unit', async () => {
      expect(await verify(systemdUnit(real()), 'user')).toEqual({code: 0, stderr: ''})
    })

    it('accepts the system unit, User= and the capability settings included', async () => {
      const unit = systemdUnit(real({scope: 'system', user: userInfo().username}))
      expect(await verify(unit, 'system')).toEqual({code: 0, stderr: ''})
    })

    it('reads a program path with a space, % and $ as one path (quoting and specifiers escaped)', async () => {
      const dir = join(scratch, 'odd dir 100% $HOME')
      mkdirSync(dir)
      symlinkSync(process.execPath, join(dir, 'node'))
      const unit = systemdUnit(
        real({
          argv: [join(dir, 'node'), SCRIPT, 'serve', `--kubeconfig=${join(dir, 'config')}`],
          environment: [['PATH', `${dir}:/usr/bin`]],
        }),
      )
      expect(unit).toContain(`ExecStart="${scratch}/odd dir 100%% $HOME/node"`)
      expect(await verify(unit, 'user')).toEqual({code: 0, stderr: ''})
    })

    it('catches a broken unit (the check is not a no-op)', async () => {
      const broken = systemdUnit(real()).replace('Restart=on-failure', 'Restart=on-failure\nRestartEvery=5')
      const result = await verify(broken, 'user')
      expect(result.stderr).toContain("Unknown key 'RestartEvery' in section [Service]")
    })
  })
})

describe('launchd property list', () => {
  const darwin = (overrides: Partial<ServiceSpec> = {}) =>
    spec({
      os: 'darwin',
      argv: ['/opt/homebrew/bin/node', '/Users/ana/.krew/bin/kubectl-expose_lb', 'serve', '--context=home'],
      environment: [['PATH', '/opt/homebrew/bin:/usr/bin:/bin']],
      home: '/Users/ana',
      definition: '/Users/ana/Library/LaunchAgents/io.github.expose-lb.serve.plist',
      logFile: '/Users/ana/Library/Logs/kubectl-expose-lb.log',
      ...overrides,
    })

  it('reads back as the job: label, arguments, environment, keep-alive on failure, logs', () => {
    expect(readPlist(launchdPlist(darwin()))).toEqual({
      Label: 'io.github.expose-lb.serve',
      ProgramArguments: ['/opt/homebrew/bin/node', '/Users/ana/.krew/bin/kubectl-expose_lb', 'serve', '--context=home'],
      EnvironmentVariables: {PATH: '/opt/homebrew/bin:/usr/bin:/bin'},
      WorkingDirectory: '/Users/ana',
      RunAtLoad: true,
      KeepAlive: {SuccessfulExit: false},
      ThrottleInterval: 5,
      ExitTimeOut: 15,
      StandardOutPath: '/Users/ana/Library/Logs/kubectl-expose-lb.log',
      StandardErrorPath: '/Users/ana/Library/Logs/kubectl-expose-lb.log',
    })
  })

  it('carries markup characters in arguments through unchanged', () => {
    const odd = `--kubeconfig=/Users/ana/<kube> & "configs"/it's`
    const plist = launchdPlist(darwin({argv: ['/usr/local/bin/node', odd], environment: []}))
    expect(readPlist(plist)).toMatchObject({ProgramArguments: ['/usr/local/bin/node', odd]})
    expect(readPlist(plist)).not.toHaveProperty('EnvironmentVariables')
  })

  it('the reader is strict: it refuses what launchd would', () => {
    const plist = launchdPlist(darwin())
    expect(() => readPlist(plist.replace('<true/>', '<yes/>'))).toThrow('<yes> is not a property list element')
    expect(() => readPlist(plist.replace('<!-- ', '<!-- -- '))).toThrow('"--" inside a comment')
    expect(() => readPlist(plist.replace('</array>', ''))).toThrow()
    expect(() => readPlist(plist.replace('<key>RunAtLoad</key>', '<key>Label</key>'))).toThrow('twice')
    expect(() => readPlist(plist.replace('serve</string>', 'a & b</string>'))).toThrow('bare &')
  })
})

describe('Windows scheduled task', () => {
  const dir = 'C:\\Users\\ana\\AppData\\Local\\kubectl-expose-lb'
  const win = (overrides: Partial<ServiceSpec> = {}) =>
    spec({
      os: 'win32',
      argv: [
        'C:\\Program Files\\nodejs\\node.exe',
        'C:\\Users\\ana\\.krew\\bin\\kubectl-expose_lb',
        'serve',
        '--kubeconfig=C:\\Users\\ana\\.kube\\config',
      ],
      environment: [],
      user: 'HOMELAB\\ana',
      home: 'C:\\Users\\ana',
      definition: `${dir}\\serve-task.xml`,
      launcher: `${dir}\\serve.cmd`,
      logFile: `${dir}\\serve.log`,
      ...overrides,
    })

  it('the task starts the launcher at the user’s logon, as the user, without a time limit', () => {
    const task = parseXml(taskXml(win(), `${dir}\\serve.cmd`))
    expect(task.name).toBe('Task')
    expect(task.attributes).toEqual({version: '1.2', xmlns: 'http://schemas.microsoft.com/windows/2004/02/mit/task'})
    const read = (path: string) => text(child(task, path))
    expect({
      uri: read('RegistrationInfo/URI'),
      triggers: elements(child(task, 'Triggers')).map((e) => e.name),
      trigger: read('Triggers/LogonTrigger/UserId'),
      principal: read('Principals/Principal/UserId'),
      logonType: read('Principals/Principal/LogonType'),
      runLevel: read('Principals/Principal/RunLevel'),
      timeLimit: read('Settings/ExecutionTimeLimit'),
      restart: [read('Settings/RestartOnFailure/Interval'), read('Settings/RestartOnFailure/Count')],
      batteries: [read('Settings/DisallowStartIfOnBatteries'), read('Settings/StopIfGoingOnBatteries')],
      command: read('Actions/Exec/Command'),
      arguments: read('Actions/Exec/Arguments'),
    }).toEqual({
      uri: '\\kubectl-expose-lb',
      triggers: ['LogonTrigger'],
      trigger: 'HOMELAB\\ana',
      principal: 'HOMELAB\\ana',
      logonType: 'InteractiveToken',
      runLevel: 'LeastPrivilege',
      timeLimit: 'PT0S',
      restart: ['PT1M', '999'],
      batteries: ['false', 'false'],
      command: 'cmd.exe',
      arguments: `/d /c "${dir}\\serve.cmd"`,
    })
  })

  it('the launcher runs serve with its output in the log, and again 5 s after a failure', () => {
    expect(taskLauncher(win({environment: [['KUBECONFIG', 'C:\\a\\one;C:\\b\\100%']]})).split('\r\n')).toEqual([
      '@echo off',
      'rem Written by `kubectl expose-lb service install`; `kubectl expose-lb service uninstall` removes it.',
      'chcp 65001 >nul',
      'set "KUBECONFIG=C:\\a\\one;C:\\b\\100%%"',
      ':run',
      '"C:\\Program Files\\nodejs\\node.exe" "C:\\Users\\ana\\.krew\\bin\\kubectl-expose_lb" "serve" ' +
        `"--kubeconfig=C:\\Users\\ana\\.kube\\config" >> "${dir}\\serve.log" 2>&1`,
      'if %errorlevel% equ 0 exit /b 0',
      'ping -n 6 127.0.0.1 >nul',
      'goto run',
      '',
    ])
  })

  it.each([
    ['serve', '"serve"', false],
    ['C:\\Users\\ana\\100%\\config', '"C:\\Users\\ana\\100%%\\config"', false],
    ['C:\\dir\\', '"C:\\dir\\\\"', false],
    ['say "hi"', undefined, true],
    ['two\nlines', undefined, true],
  ])('%j: quoted %j, refused %s', (word, quoted, refused) => {
    expect(unsafeWindowsArgument(word)).toBe(refused)
    if (quoted) expect(batchQuote(word)).toBe(quoted)
  })

  it('renders the launcher first, then the task that runs it, both mode 0644', () => {
    expect(renderFiles(win()).map((f) => [f.path, f.mode])).toEqual([
      [`${dir}\\serve.cmd`, 0o644],
      [`${dir}\\serve-task.xml`, 0o644],
    ])
  })
})
