// Installing, removing and inspecting the service with a fake runner (it records the calls; nothing on this machine
// changes) and the files under a temp root.
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import type {CommandResult, ExecOptions, Runner} from '../../src/dnssetup/apply.js'
import type {TargetOs} from '../../src/dnssetup/plan.js'
import {EXIT} from '../../src/errors.js'
import {
  explicitKubeconfig,
  installService,
  requireSystemd,
  ServiceFailedError,
  serviceStatus,
  uninstallService,
} from '../../src/service/apply.js'
import {planService, type ServicePlan, type ServiceUser} from '../../src/service/plan.js'

const scratch = mkdtempSync(join(tmpdir(), 'service-apply-'))
afterAll(() => rmSync(scratch, {recursive: true, force: true}))
let counter = 0
const tempRoot = () => {
  const dir = join(scratch, `r${++counter}`)
  mkdirSync(dir)
  return dir
}

/** A runner that records each call (sudo included) and answers with `answer` (exit 0 by default). */
function fakeRunner(answer: (argv: string[]) => Partial<CommandResult> = () => ({})): {
  runner: Runner
  calls: string[]
} {
  const calls: string[] = []
  const runner: Runner = async (argv) => {
    calls.push(argv.join(' '))
    return {code: 0, stdout: '', stderr: '', ...answer(argv)}
  }
  return {runner, calls}
}

const ANA: ServiceUser = {name: 'ana', uid: 1000, home: '/home/ana'}
const ANA_MAC: ServiceUser = {name: 'ana', uid: 501, home: '/Users/ana'}
const USER_UNIT = '/home/ana/.config/systemd/user/kubectl-expose-lb.service'
const SYSTEM_UNIT = '/etc/systemd/system/kubectl-expose-lb.service'
const AGENT = '/Users/ana/Library/LaunchAgents/io.github.expose-lb.serve.plist'

function plan(os: TargetOs, scope: 'user' | 'system', serveArgs = ['--dns-port=5353']): ServicePlan {
  const p = planService({
    os,
    scope,
    reason: 'test',
    user: os === 'darwin' ? ANA_MAC : ANA,
    node: '/usr/bin/node',
    script: '/opt/expose-lb/bin/kubectl-expose_lb',
    serveArgs,
    environment: [],
  })
  if ('problem' in p) throw new Error(p.problem)
  return p
}

const USER_INSTALL = [
  'systemctl --user show-environment',
  'systemctl --user daemon-reload',
  'systemctl --user enable --now kubectl-expose-lb.service',
]
const USER_UNINSTALL = ['systemctl --user disable --now kubectl-expose-lb.service', 'systemctl --user daemon-reload']

describe('installService', () => {
  it('a user unit: checks the user manager, writes the unit (mode 0644), reloads and enables it', async () => {
    const root = tempRoot()
    const {runner, calls} = fakeRunner()
    const log: string[] = []
    const exec: ExecOptions = {runner, privileged: false, root, log: (l) => log.push(l)}
    const p = plan('linux', 'user')

    expect(await installService(p, ANA, exec)).toEqual({replaced: false})
    expect(calls).toEqual(USER_INSTALL)
    const file = join(root, USER_UNIT)
    expect(readFileSync(file, 'utf8')).toBe(p.files[0]!.content)
    expect(statSync(file).mode & 0o777).toBe(0o644)
    expect(log).toEqual([
      `[1/3] write ${USER_UNIT}`,
      '[2/3] make systemd read the unit: systemctl --user daemon-reload',
      '[3/3] start serve now and at every login: systemctl --user enable --now kubectl-expose-lb.service',
    ])
  })

  it('a system unit through sudo, saying why', async () => {
    const root = tempRoot()
    const {runner, calls} = fakeRunner()
    const log: string[] = []
    await installService(plan('linux', 'system'), ANA, {runner, privileged: false, root, log: (l) => log.push(l)})
    // Under a test root the file is written directly; the commands keep their sudo.
    expect(calls).toEqual(['sudo systemctl daemon-reload', 'sudo systemctl enable --now kubectl-expose-lb.service'])
    expect(existsSync(join(root, SYSTEM_UNIT))).toBe(true)
    expect(log[0]).toBe(`[1/3] write ${SYSTEM_UNIT} (sudo: /etc/systemd/system belongs to root)`)
    expect(log[1]).toBe(
      '[2/3] make systemd read the unit: sudo systemctl daemon-reload (sudo: manages system services)',
    )
  })

  it('writes a root-owned unit through sudo tee and chmod outside a test root', async () => {
    const {runner, calls} = fakeRunner()
    await installService(plan('linux', 'system'), ANA, {runner, privileged: false})
    expect(calls.slice(0, 3)).toEqual([
      'sudo mkdir -p /etc/systemd/system',
      `sudo tee ${SYSTEM_UNIT}`,
      `sudo chmod 644 ${SYSTEM_UNIT}`,
    ])
  })

  it('stops before changing anything when systemd --user does not answer', async () => {
    const root = tempRoot()
    const {runner, calls} = fakeRunner((argv) =>
      argv.includes('show-environment') ? {code: 1, stderr: 'Failed to connect to bus: No medium found\n'} : {},
    )
    const error = await installService(plan('linux', 'user'), ANA, {runner, privileged: false, root}).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(ServiceFailedError)
    expect(EXIT[(error as ServiceFailedError).code]).toBe(EXIT.serviceFailed)
    expect((error as Error).message).toBe(
      'systemd --user is not available on this machine (no user session bus): log in through a desktop or ssh session, which starts it (`su` and `sudo -i` do not), then run this again (systemctl --user show-environment: Failed to connect to bus: No medium found)',
    )
    expect(calls).toEqual(['systemctl --user show-environment'])
    expect(existsSync(join(root, USER_UNIT))).toBe(false)
  })

  it('reverts the completed steps when one fails, leaving nothing behind', async () => {
    const root = tempRoot()
    const {runner, calls} = fakeRunner((argv) =>
      argv.includes('enable') ? {code: 1, stderr: 'Failed to enable unit: Unit file is masked.\n'} : {},
    )
    await expect(installService(plan('linux', 'user'), ANA, {runner, privileged: false, root})).rejects.toThrow(
      'service install step 3/3 (start serve now and at every login) failed: `systemctl --user enable --now kubectl-expose-lb.service` exited with status 1: Failed to enable unit: Unit file is masked.; the 2 completed steps were reverted',
    )
    // The reload has no undo; the write's undo removes the unit and reloads again.
    expect(calls).toEqual([...USER_INSTALL, 'systemctl --user daemon-reload'])
    expect(existsSync(join(root, USER_UNIT))).toBe(false)
  })

  it('says nothing was changed when the first step fails', async () => {
    const root = tempRoot()
    mkdirSync(join(root, 'home'))
    writeFileSync(join(root, 'home/ana'), 'a file where a directory should be')
    const {runner} = fakeRunner()
    await expect(installService(plan('linux', 'user'), ANA, {runner, privileged: false, root})).rejects.toThrow(
      /^service install step 1\/3 \(write \/home\/ana\/.config\/systemd\/user\/kubectl-expose-lb.service\) failed: .*; nothing was changed$/,
    )
  })

  it('replaces a service it installed earlier, in either scope', async () => {
    const root = tempRoot()
    const {runner, calls} = fakeRunner()
    const exec: ExecOptions = {runner, privileged: false, root}
    await installService(plan('linux', 'system'), ANA, exec)
    calls.length = 0

    const p = plan('linux', 'user', ['--dns-port=5353', '--http-port=8080'])
    expect(await installService(p, ANA, exec)).toEqual({replaced: true})
    expect(calls).toEqual([
      'systemctl --user show-environment',
      'sudo systemctl disable --now kubectl-expose-lb.service',
      'sudo systemctl daemon-reload',
      'systemctl --user daemon-reload',
      'systemctl --user enable --now kubectl-expose-lb.service',
    ])
    expect(existsSync(join(root, SYSTEM_UNIT))).toBe(false)
    expect(readFileSync(join(root, USER_UNIT), 'utf8')).toContain('--http-port=8080')
  })

  it('refuses to replace a unit it did not write', async () => {
    const root = tempRoot()
    mkdirSync(dirname(join(root, SYSTEM_UNIT)), {recursive: true})
    writeFileSync(join(root, SYSTEM_UNIT), '[Service]\nExecStart=/usr/local/bin/my-own-serve\n')
    const {runner, calls} = fakeRunner()
    await expect(installService(plan('linux', 'user'), ANA, {runner, privileged: false, root})).rejects.toThrow(
      `${SYSTEM_UNIT} exists and was not written by kubectl expose-lb; move it away (it may run serve already), then run this again`,
    )
    expect(calls).toEqual(['systemctl --user show-environment'])
  })
})

describe('uninstallService', () => {
  it('finds nothing to remove', async () => {
    const {runner, calls} = fakeRunner()
    expect(await uninstallService('linux', ANA, {runner, privileged: false, root: tempRoot()})).toEqual([])
    expect(calls).toEqual([])
  })

  it('stops, disables and removes what install put in place', async () => {
    const root = tempRoot()
    const {runner, calls} = fakeRunner()
    const exec: ExecOptions = {runner, privileged: false, root}
    await installService(plan('linux', 'user'), ANA, exec)
    calls.length = 0
    const removed = await uninstallService('linux', ANA, exec)
    expect(removed.map((l) => l.definition)).toEqual([USER_UNIT])
    expect(calls).toEqual(USER_UNINSTALL)
    expect(existsSync(join(root, USER_UNIT))).toBe(false)
  })

  it('an agent that launchd no longer has loaded is fine: bootout may fail', async () => {
    const root = tempRoot()
    const {runner, calls} = fakeRunner((argv) =>
      argv[1] === 'bootout' ? {code: 3, stderr: 'Boot-out failed: 3: No such process\n'} : {},
    )
    const log: string[] = []
    const exec: ExecOptions = {runner, privileged: false, root, log: (l) => log.push(l)}
    await installService(plan('darwin', 'user'), ANA_MAC, exec)
    calls.length = 0
    log.length = 0
    expect((await uninstallService('darwin', ANA_MAC, exec)).map((l) => l.kind)).toEqual(['LaunchAgent'])
    expect(calls).toEqual(['launchctl bootout gui/501/io.github.expose-lb.serve'])
    expect(log).toEqual([
      `removing the LaunchAgent ${AGENT}`,
      '[1/2] unload it and stop serve: launchctl bootout gui/501/io.github.expose-lb.serve',
      '  fine: it was not loaded (`launchctl bootout gui/501/io.github.expose-lb.serve` exited with status 3: Boot-out failed: 3: No such process)',
      `[2/2] remove ${AGENT}`,
    ])
    expect(existsSync(join(root, AGENT))).toBe(false)
  })

  it('goes on after a failure, then says what failed', async () => {
    const root = tempRoot()
    const {runner} = fakeRunner((argv) => (argv.includes('disable') ? {code: 1, stderr: 'Access denied\n'} : {}))
    const exec: ExecOptions = {runner, privileged: false, root}
    await installService(plan('linux', 'user'), ANA, exec)
    await expect(uninstallService('linux', ANA, exec)).rejects.toThrow(
      'could not remove all of the systemd user unit (first: stop serve and no longer start it: `systemctl --user disable --now kubectl-expose-lb.service` exited with status 1: Access denied); fix the cause and run `kubectl expose-lb service uninstall` again',
    )
    expect(existsSync(join(root, USER_UNIT))).toBe(false)
  })

  it('leaves a file it did not write alone', async () => {
    const root = tempRoot()
    mkdirSync(dirname(join(root, USER_UNIT)), {recursive: true})
    writeFileSync(join(root, USER_UNIT), '[Service]\n')
    const {runner, calls} = fakeRunner()
    expect(await uninstallService('linux', ANA, {runner, privileged: false, root})).toEqual([])
    expect(calls).toEqual([])
    expect(existsSync(join(root, USER_UNIT))).toBe(true)
  })
})

describe('serviceStatus', () => {
  it('not installed: asks no manager', async () => {
    const {runner, calls} = fakeRunner()
    expect(await serviceStatus('linux', ANA, {runner, root: tempRoot()})).toEqual({installed: false})
    expect(calls).toEqual([])
  })

  it('installed: asks the manager whether it runs', async () => {
    const root = tempRoot()
    const {runner, calls} = fakeRunner((argv) => (argv.includes('is-active') ? {code: 3, stdout: 'failed\n'} : {}))
    await installService(plan('linux', 'system'), ANA, {runner, privileged: false, root})
    calls.length = 0
    expect(await serviceStatus('linux', ANA, {runner, root})).toMatchObject({
      installed: true,
      location: {scope: 'system', definition: SYSTEM_UNIT},
      running: false,
      state: 'failed',
    })
    expect(calls).toEqual(['systemctl is-active kubectl-expose-lb.service'])
  })

  it('Windows: asks through PowerShell', async () => {
    const root = tempRoot()
    const win: ServiceUser = {name: 'H\\ana', uid: -1, home: 'C:\\Users\\ana', localAppData: 'C:\\L'}
    mkdirSync(root, {recursive: true})
    // Under a Linux test root the Windows path is one file name.
    writeFileSync(
      join(root, 'C:\\L\\kubectl-expose-lb\\serve-task.xml'),
      '<!-- Written by `kubectl expose-lb service install` -->',
    )
    const {runner, calls} = fakeRunner(() => ({stdout: 'Running\r\n'}))
    expect(await serviceStatus('win32', win, {runner, root})).toMatchObject({installed: true, running: true})
    expect(calls).toEqual([
      "powershell.exe -NoProfile -NonInteractive -Command (Get-ScheduledTask -TaskName 'kubectl-expose-lb').State",
    ])
  })
})

describe('facts', () => {
  it('makes the kubeconfig explicit: the flag, else KUBECONFIG (one file or a list), else ~/.kube/config', () => {
    const cwd = process.cwd()
    expect(explicitKubeconfig('kc', {KUBECONFIG: '/x'}, '/home/ana')).toEqual({
      files: [join(cwd, 'kc')],
      args: [`--kubeconfig=${join(cwd, 'kc')}`],
      environment: [],
    })
    expect(explicitKubeconfig(undefined, {KUBECONFIG: '/a/one'}, '/home/ana').args).toEqual(['--kubeconfig=/a/one'])
    expect(explicitKubeconfig(undefined, {KUBECONFIG: '/a/one:b/two:'}, '/home/ana')).toEqual({
      files: ['/a/one', join(cwd, 'b/two')],
      args: [],
      environment: [['KUBECONFIG', `/a/one:${join(cwd, 'b/two')}`]],
    })
    expect(explicitKubeconfig(undefined, {}, '/home/ana').args).toEqual(['--kubeconfig=/home/ana/.kube/config'])
  })

  it('a Linux machine without systemd has nothing to install into', () => {
    expect(() => requireSystemd('linux', () => false)).toThrow(
      'this machine does not run systemd (no /run/systemd/system), so there is no service manager to install into: start `kubectl expose-lb serve` from your login scripts instead',
    )
    expect(() => requireSystemd('linux', () => true)).not.toThrow()
    expect(() => requireSystemd('darwin', () => false)).not.toThrow()
  })
})
