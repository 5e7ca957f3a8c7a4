// `kubectl expose-lb service …` through kubectl: help, --dry-run, refusals, status and uninstall with nothing
// installed. Nothing here installs a service on the test machine: apply.test.ts covers that with a fake runner, and
// the one install run here has no session bus to reach (and a temp HOME and root), so it stops at the first check.
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {EXIT} from '../../src/errors.js'
import {SEMI_SPACE_MB} from '../../src/serve/heap-growth.js'
import {BIN_DIR, kubectl, scratchDir, writeKubeconfig} from '../e2e/helpers.js'

const KUBECONFIG = writeKubeconfig(`apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: ana
  user: {token: abc}
contexts:
- name: homelab
  context: {cluster: lab, user: ana}
current-context: homelab
`)

/** Two contexts whose names make one cluster label. */
const TWO_CONTEXTS = writeKubeconfig(
  readFileSync(KUBECONFIG, 'utf8').replace(
    'current-context: homelab',
    '- name: HomeLab\n  context: {cluster: lab, user: ana}\ncurrent-context: homelab',
  ),
)

const service = (args: string[], env: NodeJS.ProcessEnv = {}) => kubectl(['expose-lb', 'service', ...args], env)

describe('kubectl expose-lb service: help', () => {
  it('--help lists the service topic, and the topic its three commands', async () => {
    const root = await kubectl(['expose-lb', '--help'])
    expect(root.stdout).toMatch(/^TOPICS\n {2}service {2}Run serve at login as a service of this machine/m)
    const topic = await kubectl(['expose-lb', 'service', '--help'])
    expect(topic.code).toBe(0)
    expect(topic.stdout.match(/^ {2}service \w+/gm)).toEqual([
      '  service install',
      '  service status',
      '  service uninstall',
    ])
  })
})

describe.skipIf(process.platform !== 'linux')('service install --dry-run (Linux)', () => {
  it("prints the unit: this node with serve's young generation and the bin script, serve with the given flags and the kubeconfig made explicit", async () => {
    const run = await service(
      ['install', '--dry-run', '--context', 'homelab', '--dns-port', '5353', '--http-port', '8080', '-n', 'media'],
      {KUBECONFIG},
    )
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe('Run serve as a systemd user unit that starts at your login (its ports need no privilege):')
    expect(lines).toContain(
      `  ExecStart=${process.execPath} --max-semi-space-size=${SEMI_SPACE_MB} ${join(BIN_DIR, 'kubectl-expose_lb')} serve --kubeconfig=${KUBECONFIG} --context=homelab --namespace=media --dns-port=5353 --http-port=8080`,
    )
    expect(lines).toContain('  Restart=on-failure')
    expect(lines.at(-1)).toBe('Logs: journalctl --user -u kubectl-expose-lb.service')
  })

  it('passes a default-on flag the user turned off (--no-host-check) to the service', async () => {
    const run = await service(
      ['install', '--dry-run', '--context', 'homelab', '--dns-port', '5353', '--http-port', '8080', '--no-host-check'],
      {KUBECONFIG},
    )
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^ {2}ExecStart=.* serve .*--dns-port=5353 --http-port=8080 --no-host-check$/m)
  })

  it('takes flags before the topic, as kubectl passes them', async () => {
    const run = await kubectl([
      'expose-lb',
      '--kubeconfig',
      KUBECONFIG,
      'service',
      'install',
      '--dry-run',
      '--dns-port=5353',
      '--http-port=0',
    ])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain(`serve --kubeconfig=${KUBECONFIG} --dns-port=5353 --http-port=0\n`)
  })

  it.each([
    [
      ['--context', 'nowhere'],
      EXIT.unknownContext,
      /^error: context "nowhere" not found in kubeconfig .*; available: homelab\n$/,
    ],
    [['--domain', 'com'], EXIT.usage, /^error: --domain "com" is a single label.*\n$/],
    [['--listen', 'localhost'], EXIT.usage, /^error: --listen "localhost" is not an IP address; use 127\.0\.0\.1\n$/],
    [['--demo'], EXIT.usage, /^error: Nonexistent flag: --demo/],
  ])('refuses %j before writing anything', async (args, code, stderr) => {
    const run = await service(['install', '--dry-run', '--kubeconfig', KUBECONFIG, ...args])
    expect(run.code).toBe(code)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(stderr)
  })

  it.each([
    [
      ['--context', 'homelab', '--context', 'HomeLab'],
      /^error: contexts "homelab" and "HomeLab" both become the cluster name "homelab" — give one its own with --cluster-name HomeLab=<label>\n$/,
    ],
    [
      ['--context', 'homelab', '--cluster-name', 'homelab=home'],
      /^error: --cluster-name applies to several contexts: .*\n$/,
    ],
  ])('refuses cluster names serve would refuse at start: %j', async (args, stderr) => {
    const run = await service(['install', '--dry-run', '--kubeconfig', TWO_CONTEXTS, ...args])
    expect(run.code).toBe(EXIT.usage)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(stderr)
  })

  it('refuses a kubeconfig that does not exist', async () => {
    const run = await service(['install', '--dry-run', '--kubeconfig', '/nonexistent/config'])
    expect(run).toEqual({
      code: EXIT.noKubeconfig,
      stdout: '',
      stderr: 'error: kubeconfig /nonexistent/config does not exist; check the --kubeconfig path\n',
    })
  })
})

describe.skipIf(process.platform !== 'linux')('service install, status and uninstall on this machine (Linux)', () => {
  it('install stops at its first check without a user manager to talk to, and writes nothing', async () => {
    const root = scratchDir()
    // No XDG_RUNTIME_DIR and no DBUS_SESSION_BUS_ADDRESS: systemctl --user cannot reach a manager on any machine.
    const run = await service(
      ['install', '--kubeconfig', KUBECONFIG, '--dns-port', '5353', '--http-port', '8080', '--root', root],
      {XDG_RUNTIME_DIR: '', DBUS_SESSION_BUS_ADDRESS: ''},
    )
    expect(run.code).toBe(EXIT.serviceFailed)
    expect(run.stdout).toBe('')
    const message = existsSync('/run/systemd/system')
      ? /^error: systemd --user is not available on this machine \(no user session bus\): log in .*, then run this again \(systemctl --user show-environment: .*\)\n$/
      : /^error: this machine does not run systemd \(no \/run\/systemd\/system\), so there is no service manager to install into: start `kubectl expose-lb serve` from your login scripts instead\n$/
    expect(run.stderr.split('\n').at(-2)! + '\n').toMatch(message)
    expect(readdirSync(root)).toEqual([])
  })

  it('status and uninstall with nothing installed', async () => {
    expect(await service(['status'])).toEqual({
      code: 0,
      stdout:
        'not installed: `kubectl expose-lb service install [serve flags]` runs serve at login, restarted when it fails\n',
      stderr: '',
    })
    expect(await service(['uninstall'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'nothing to uninstall: no service of kubectl expose-lb is installed\n',
    })
  })

  it('status of an installed unit names it and asks systemd whether it runs', async () => {
    const root = scratchDir()
    const home = scratchDir()
    const unit = join(root, home, '.config/systemd/user/kubectl-expose-lb.service')
    mkdirSync(join(unit, '..'), {recursive: true})
    writeFileSync(unit, '# Written by `kubectl expose-lb service install`; …\n')
    const run = await service(['status', '--root', root], {
      HOME: home,
      XDG_RUNTIME_DIR: '',
      DBUS_SESSION_BUS_ADDRESS: '',
    })
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(`installed  systemd user unit ${home}/.config/systemd/user/kubectl-expose-lb.service`)
    // Without a session bus systemctl cannot say (or, with one, the unit is not loaded): not running either way.
    expect(lines[1]).toMatch(/^running {4}no \(/)
    expect(lines[2]).toBe('logs       journalctl --user -u kubectl-expose-lb.service')
  })
})
