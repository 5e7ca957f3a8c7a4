// Applying and undoing dns-setup with a fake runner (it records the calls; nothing on this machine changes) and
// temp state files; macOS resolver files land under a temp root.
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {EXIT} from '../../src/errors.js'
import {
  applySetup,
  readState,
  SetupFailedError,
  undoSetup,
  type CommandResult,
  type ExecOptions,
  type Runner,
} from '../../src/dnssetup/apply.js'
import {planDnsSetup, type SetupOptions} from '../../src/dnssetup/plan.js'

const scratch = mkdtempSync(join(tmpdir(), 'dns-setup-'))
afterAll(() => rmSync(scratch, {recursive: true, force: true}))
let counter = 0
const tempDir = () => {
  const dir = join(scratch, `t${++counter}`)
  mkdirSync(dir)
  return dir
}

interface Call {
  argv: string[]
  input?: string
}

/** A runner that records each call and answers with `answer` (exit 0 by default). */
function fakeRunner(answer: (argv: string[]) => Partial<CommandResult> = () => ({})): {runner: Runner; calls: Call[]} {
  const calls: Call[] = []
  const runner: Runner = async (argv, options = {}) => {
    calls.push({argv, ...(options.input === undefined ? {} : {input: options.input})})
    return {code: 0, stdout: '', stderr: '', ...answer(argv)}
  }
  return {runner, calls}
}

function linuxPlan(overrides: Partial<SetupOptions> = {}) {
  return planDnsSetup({
    os: 'linux',
    resolver: 'systemd-resolved',
    domain: 'kube.internal',
    dnsAddress: '127.0.0.1',
    dnsPort: 5353,
    ...overrides,
  })
}

const darwinPlan = () =>
  planDnsSetup({
    os: 'darwin',
    resolver: 'resolver-file',
    domain: 'kube.internal',
    dnsAddress: '127.0.0.1',
    dnsPort: 5353,
  })

const LINUX_COMMANDS = [
  ['sudo', 'ip', 'link', 'add', 'expose-lb0', 'type', 'dummy'],
  ['sudo', 'ip', 'address', 'add', '169.254.53.53/32', 'dev', 'expose-lb0'],
  ['sudo', 'ip', 'link', 'set', 'expose-lb0', 'up'],
  ['sudo', 'resolvectl', 'domain', 'expose-lb0', '~kube.internal'],
  ['sudo', 'resolvectl', 'default-route', 'expose-lb0', 'false'],
  ['sudo', 'resolvectl', 'dns', 'expose-lb0', '127.0.0.1:5353'],
]

describe('applySetup and undoSetup: commands', () => {
  it('runs every step through sudo when not root, records them, and undoes them in reverse', async () => {
    const state = join(tempDir(), 'sub', 'dns-setup.json')
    const {runner, calls} = fakeRunner()
    const log: string[] = []
    const exec: ExecOptions = {runner, privileged: false, log: (l) => log.push(l)}

    expect(await applySetup(linuxPlan(), state, exec)).toBe(6)
    expect(calls.map((c) => c.argv)).toEqual(LINUX_COMMANDS)
    expect(log[0]).toBe(
      "[1/6] create a dummy network link expose-lb0 to carry the zone's DNS settings: sudo ip link add expose-lb0 type dummy (sudo: creates a network link)",
    )
    const recorded = await readState(state)
    expect(recorded).toMatchObject({version: 1, os: 'linux', resolver: 'systemd-resolved', domain: 'kube.internal'})
    expect(recorded!.done.map((d) => d.undo.command)).toEqual(linuxPlan().steps.map((s) => s.undo.command))

    calls.length = 0
    const undone = await undoSetup(state, exec)
    expect(undone?.undone).toBe(6)
    expect(calls.map((c) => c.argv)).toEqual([
      ['sudo', 'resolvectl', 'revert', 'expose-lb0'],
      ['sudo', 'resolvectl', 'revert', 'expose-lb0'],
      ['sudo', 'resolvectl', 'revert', 'expose-lb0'],
      ['sudo', 'ip', 'link', 'set', 'expose-lb0', 'down'],
      ['sudo', 'ip', 'address', 'delete', '169.254.53.53/32', 'dev', 'expose-lb0'],
      ['sudo', 'ip', 'link', 'delete', 'expose-lb0'],
    ])
    expect(existsSync(state)).toBe(false)
  })

  it('adds no sudo when running as root', async () => {
    const {runner, calls} = fakeRunner()
    await applySetup(linuxPlan(), join(tempDir(), 'state.json'), {runner, privileged: true})
    expect(calls.map((c) => c.argv)).toEqual(LINUX_COMMANDS.map((argv) => argv.slice(1)))
  })

  it('records each step before the next: after a failure halfway, undo reverts only the completed steps', async () => {
    const state = join(tempDir(), 'state.json')
    const {runner, calls} = fakeRunner((argv) =>
      argv.includes('default-route') ? {code: 1, stderr: 'Failed to set default route: Access denied\n'} : {},
    )
    const exec: ExecOptions = {runner, privileged: false}

    const error = await applySetup(linuxPlan(), state, exec).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SetupFailedError)
    expect(EXIT[(error as SetupFailedError).code]).toBe(EXIT.setupFailed)
    expect((error as Error).message).toBe(
      `dns-setup step 5/6 (never send other names to expose-lb0) failed: \`sudo resolvectl default-route expose-lb0 false\` exited with status 1: Failed to set default route: Access denied; the 4 completed steps are recorded in ${state}: run \`kubectl expose-lb dns-setup --undo\` to revert them`,
    )
    expect(calls.map((c) => c.argv)).toEqual(LINUX_COMMANDS.slice(0, 5))
    expect((await readState(state))!.done.map((d) => d.description)).toEqual(
      linuxPlan()
        .steps.slice(0, 4)
        .map((s) => s.description),
    )

    calls.length = 0
    expect((await undoSetup(state, exec))?.undone).toBe(4)
    expect(calls.map((c) => c.argv)).toEqual([
      ['sudo', 'resolvectl', 'revert', 'expose-lb0'],
      ['sudo', 'ip', 'link', 'set', 'expose-lb0', 'down'],
      ['sudo', 'ip', 'address', 'delete', '169.254.53.53/32', 'dev', 'expose-lb0'],
      ['sudo', 'ip', 'link', 'delete', 'expose-lb0'],
    ])
    expect(existsSync(state)).toBe(false)
  })

  it('leaves no state when the first step fails: nothing was changed', async () => {
    const state = join(tempDir(), 'state.json')
    const {runner} = fakeRunner(() => ({code: 127, stderr: 'sudo: ip: command not found'}))
    await expect(applySetup(linuxPlan(), state, {runner, privileged: false})).rejects.toThrow(
      /^dns-setup step 1\/6 .*: sudo: ip: command not found; nothing was changed$/,
    )
    expect(existsSync(state)).toBe(false)
    expect(await undoSetup(state, {runner, privileged: false})).toBeUndefined()
  })

  it('refuses to apply twice, and refuses a plan with a blocker before running anything', async () => {
    const state = join(tempDir(), 'state.json')
    const {runner, calls} = fakeRunner()
    await applySetup(linuxPlan(), state, {runner, privileged: true})
    calls.length = 0
    await expect(applySetup(linuxPlan(), state, {runner, privileged: true})).rejects.toThrow(
      `dns-setup is already applied for kube.internal (6 steps recorded in ${state}); run \`kubectl expose-lb dns-setup --undo\` first`,
    )
    const blocked = linuxPlan({resolver: 'networkmanager'})
    await expect(applySetup(blocked, join(tempDir(), 'state.json'), {runner, privileged: true})).rejects.toThrow(
      /^cannot apply: NetworkManager cannot send DNS to a port other than 53/,
    )
    expect(calls).toEqual([])
  })

  it('keeps undo steps that fail recorded for the next --undo, and runs the others', async () => {
    const state = join(tempDir(), 'state.json')
    const ok = fakeRunner()
    await applySetup(linuxPlan(), state, {runner: ok.runner, privileged: true})
    const gone = fakeRunner((argv) =>
      argv[0] === 'resolvectl' ? {code: 1, stderr: 'Failed to resolve interface "expose-lb0"'} : {},
    )
    await expect(undoSetup(state, {runner: gone.runner, privileged: true})).rejects.toThrow(
      /^could not undo 3 of 6 dns-setup steps \(first: `resolvectl revert expose-lb0` exited with status 1: Failed to resolve interface "expose-lb0"\)/,
    )
    expect(gone.calls).toHaveLength(6)
    expect((await readState(state))!.done.map((d) => d.undo.command)).toEqual([
      ['resolvectl', 'revert', 'expose-lb0'],
      ['resolvectl', 'revert', 'expose-lb0'],
      ['resolvectl', 'revert', 'expose-lb0'],
    ])
  })

  it('says nothing to undo without a state file, and explains a damaged one', async () => {
    const {runner} = fakeRunner()
    expect(await undoSetup(join(tempDir(), 'none.json'), {runner, privileged: true})).toBeUndefined()
    const damaged = join(tempDir(), 'state.json')
    writeFileSync(damaged, '{"version": 7')
    await expect(undoSetup(damaged, {runner, privileged: true})).rejects.toThrow(/is damaged/)
  })
})

describe('applySetup and undoSetup: files (macOS)', () => {
  it('writes the resolver file under the root and removes it on undo', async () => {
    const root = tempDir()
    const state = join(root, 'state.json')
    const {runner, calls} = fakeRunner()
    await applySetup(darwinPlan(), state, {runner, privileged: false, root})
    expect(readFileSync(join(root, 'etc/resolver/kube.internal'), 'utf8')).toBe(
      '# kubectl expose-lb dns-setup: names under kube.internal go to the DNS responder of kubectl expose-lb serve\nnameserver 127.0.0.1\nport 5353\n',
    )
    await undoSetup(state, {runner, privileged: false, root})
    expect(existsSync(join(root, 'etc/resolver/kube.internal'))).toBe(false)
    expect(existsSync(state)).toBe(false)
    expect(calls).toEqual([])
  })

  it('never overwrites a resolver file it did not write', async () => {
    const root = tempDir()
    mkdirSync(join(root, 'etc/resolver'), {recursive: true})
    writeFileSync(join(root, 'etc/resolver/kube.internal'), 'nameserver 10.0.0.1\n')
    const state = join(root, 'state.json')
    const {runner} = fakeRunner()
    await expect(applySetup(darwinPlan(), state, {runner, privileged: false, root})).rejects.toThrow(
      'already exists; remove it first if an earlier dns-setup left it; nothing was changed',
    )
    expect(readFileSync(join(root, 'etc/resolver/kube.internal'), 'utf8')).toBe('nameserver 10.0.0.1\n')
    expect(existsSync(state)).toBe(false)
  })

  it('without a root and not root: writes through sudo tee and removes through sudo rm', async () => {
    const state = join(tempDir(), 'state.json')
    const plan = planDnsSetup({
      os: 'darwin',
      resolver: 'resolver-file',
      // A zone no machine has a resolver file for, so the existence check finds nothing.
      domain: `expose-lb-test-${process.pid}.invalid`,
      dnsAddress: '127.0.0.1',
      dnsPort: 5353,
    })
    const {runner, calls} = fakeRunner()
    await applySetup(plan, state, {runner, privileged: false})
    await undoSetup(state, {runner, privileged: false})
    const path = `/etc/resolver/expose-lb-test-${process.pid}.invalid`
    expect(calls).toEqual([
      {argv: ['sudo', 'mkdir', '-p', '/etc/resolver']},
      {argv: ['sudo', 'tee', path], input: (plan.steps[0]!.command as {content: string}).content},
      {argv: ['sudo', 'rm', '-f', path]},
    ])
  })
})

describe('applySetup: Windows', () => {
  it('runs PowerShell lines through powershell.exe, never with sudo', async () => {
    const plan = planDnsSetup({
      os: 'win32',
      resolver: 'nrpt',
      domain: 'kube.internal',
      dnsAddress: '127.0.0.1',
      dnsPort: 53,
    })
    const {runner, calls} = fakeRunner()
    await applySetup(plan, join(tempDir(), 'state.json'), {runner, privileged: false})
    expect(calls).toEqual([
      {
        argv: [
          'powershell.exe',
          '-NoProfile',
          '-NonInteractive',
          '-Command',
          "Add-DnsClientNrptRule -Namespace '.kube.internal' -NameServers '127.0.0.1' -Comment 'kubectl expose-lb'",
        ],
      },
    ])
  })
})
