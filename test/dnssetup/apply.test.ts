// Applying and undoing dns-setup with a fake runner (it records the calls; nothing on this machine changes) and
// temp state files; macOS resolver files land under a temp root.
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
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
  type SetupState,
} from '../../src/dnssetup/apply.js'
import {planDnsSetup, type SetupOptions, type SetupPlan} from '../../src/dnssetup/plan.js'

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

  it('applying the same again runs nothing; other options are refused, and so is a plan with a blocker', async () => {
    const state = join(tempDir(), 'state.json')
    const {runner, calls} = fakeRunner()
    await applySetup(linuxPlan(), state, {runner, privileged: true})
    calls.length = 0
    await expect(applySetup(linuxPlan(), state, {runner, privileged: true})).resolves.toBe(0)
    await expect(applySetup(linuxPlan({domain: 'home.arpa'}), state, {runner, privileged: true})).rejects.toThrow(
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

/** A state file as applySetup wrote it for `plan`, then changed by `edit` (its parsed JSON) and written back. */
async function editedState(plan: SetupPlan, edit: (state: SetupState) => void): Promise<string> {
  const state = join(tempDir(), 'state.json')
  await applySetup(plan, state, {runner: fakeRunner().runner, privileged: true, root: tempDir()})
  const json = JSON.parse(readFileSync(state, 'utf8')) as SetupState
  edit(json)
  writeFileSync(state, JSON.stringify(json, null, 2))
  return state
}

const BY_HAND =
  "nothing was run — undo the steps it lists by hand (`kubectl expose-lb dns-setup` prints each one's undo command), then remove the file"

describe('the state file', () => {
  it('records the id of each completed step and the files the steps created', async () => {
    const linux = join(tempDir(), 'state.json')
    await applySetup(linuxPlan(), linux, {runner: fakeRunner().runner, privileged: true})
    const recorded = JSON.parse(readFileSync(linux, 'utf8')) as SetupState
    expect(recorded.done.map((d) => d.id)).toEqual([
      'link-add',
      'link-address',
      'link-up',
      'resolved-domain',
      'resolved-default-route',
      'resolved-dns',
    ])
    expect(recorded.files).toEqual([])

    const darwin = join(tempDir(), 'state.json')
    await applySetup(darwinPlan(), darwin, {runner: fakeRunner().runner, privileged: false, root: tempDir()})
    expect(JSON.parse(readFileSync(darwin, 'utf8'))).toMatchObject({
      done: [{id: 'resolver-file'}],
      files: ['/etc/resolver/kube.internal'],
    })
  })

  const damaged: {name: string; plan: () => SetupPlan; edit: (s: SetupState) => void; what: string}[] = [
    {
      name: 'an entry without its undo action',
      plan: linuxPlan,
      edit: (s) => Object.assign(s.done, {1: {description: 'x'}}),
      what: 'done[1] has no undo action',
    },
    {
      name: 'done that is not a list',
      plan: linuxPlan,
      edit: (s) => Object.assign(s, {done: {}}),
      what: 'done is not a list',
    },
    {
      name: 'an undo command that is neither a program nor a file',
      plan: linuxPlan,
      edit: (s) => Object.assign(s.done[0]!.undo, {command: 42}),
      what: 'done[0].undo.command is not a command',
    },
    {
      name: 'an undo without its sudo flag',
      plan: linuxPlan,
      edit: (s) => Reflect.deleteProperty(s.done[2]!.undo, 'sudo'),
      what: 'done[2].undo.sudo is not true or false',
    },
    {
      name: 'a port that is a string',
      plan: linuxPlan,
      edit: (s) => Object.assign(s, {dnsPort: '53'}),
      what: 'dnsPort is not a number',
    },
    {
      name: 'a missing domain',
      plan: linuxPlan,
      edit: (s) => Reflect.deleteProperty(s, 'domain'),
      what: 'domain is not a string',
    },
    {
      name: 'files that are not a list of paths',
      plan: darwinPlan,
      edit: (s) => Object.assign(s, {files: '/etc/resolver/kube.internal'}),
      what: 'files is not a list of paths',
    },
    {
      name: 'another version',
      plan: linuxPlan,
      edit: (s) => Object.assign(s, {version: 2}),
      what: 'not a dns-setup state (version 1)',
    },
  ]
  it.each(damaged)('--undo refuses a state file with $name, naming it and the fix, running nothing', async (c) => {
    const state = await editedState(c.plan(), c.edit)
    const before = readFileSync(state, 'utf8')
    const {runner, calls} = fakeRunner()
    const error = await undoSetup(state, {runner, privileged: true, root: tempDir()}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SetupFailedError)
    expect((error as Error).message).toBe(`the dns-setup state file ${state} is damaged (${c.what}); ${BY_HAND}`)
    expect(calls).toEqual([])
    expect(readFileSync(state, 'utf8')).toBe(before)
  })

  const foreign: {name: string; plan: () => SetupPlan; edit: (s: SetupState) => void; what: string}[] = [
    {
      name: 'an undo command changed to another program',
      plan: linuxPlan,
      edit: (s) => (s.done[0]!.undo.command = ['rm', '-rf', '/']),
      what: 'done[0] (link-add) undoes with ["rm","-rf","/"], where dns-setup plans ["ip","link","delete","expose-lb0"]',
    },
    {
      name: 'an undo that drops sudo',
      plan: linuxPlan,
      edit: (s) => (s.done[0]!.undo.sudo = false),
      what: 'done[0] (link-add) undoes without sudo, where dns-setup plans it with sudo',
    },
    {
      name: 'a step id the resolver does not have',
      plan: linuxPlan,
      edit: (s) => (s.done[5]!.id = 'nrpt-rule'),
      what: 'done[5] names the step "nrpt-rule", which systemd-resolved\'s steps do not have',
    },
    {
      name: 'a step id dns-setup never had',
      plan: linuxPlan,
      edit: (s) => Object.assign(s.done[0]!, {id: 'format-disk'}),
      what: 'done[0] names the step "format-disk", which systemd-resolved\'s steps do not have',
    },
    {
      name: 'a step recorded twice',
      plan: linuxPlan,
      edit: (s) => s.done.push(s.done[0]!),
      what: 'done[6] (link-add) comes after resolved-dns: recorded twice, or out of order',
    },
    {
      name: 'an entry without an id whose undo matches no planned step',
      plan: linuxPlan,
      edit: (s) => (s.done = [{description: 'x', undo: {description: 'y', command: ['rm', '-rf', '/'], sudo: true}}]),
      what: 'done[0] undoes with ["rm","-rf","/"], which no remaining systemd-resolved step does',
    },
    {
      name: 'a domain that leaves /etc/resolver, with the undo edited to match',
      plan: darwinPlan,
      edit: (s) => {
        s.domain = '../../etc/passwd'
        s.done[0]!.undo.command = {removeFile: '/etc/resolver/../../etc/passwd'}
      },
      what: 'domain "../../etc/passwd" is not a DNS name',
    },
    {
      name: 'a file its steps did not create',
      plan: darwinPlan,
      edit: (s) => (s.files = ['/etc/passwd']),
      what: 'files ["/etc/passwd"] are not the files its steps created (["/etc/resolver/kube.internal"])',
    },
    {
      name: 'a resolver of another OS',
      plan: linuxPlan,
      edit: (s) => (s.resolver = 'nrpt'),
      what: 'resolver "nrpt" is not one of linux\'s (systemd-resolved, networkmanager)',
    },
    {
      name: 'an OS dns-setup has no steps for',
      plan: linuxPlan,
      edit: (s) => Object.assign(s, {os: 'plan9'}),
      what: 'os "plan9" is not linux, darwin or win32',
    },
    {
      name: 'a port out of range',
      plan: linuxPlan,
      edit: (s) => (s.dnsPort = 0),
      what: 'dnsPort 0 is not a port (1-65535)',
    },
  ]
  it.each(foreign)('--undo refuses a state file with $name, running nothing', async (c) => {
    const state = await editedState(c.plan(), c.edit)
    const before = readFileSync(state, 'utf8')
    const {runner, calls} = fakeRunner()
    const root = tempDir()
    mkdirSync(join(root, 'etc/resolver'), {recursive: true})
    writeFileSync(join(root, 'etc/resolver/kube.internal'), 'nameserver 127.0.0.1\n')
    const error = await undoSetup(state, {runner, privileged: true, root}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SetupFailedError)
    expect((error as Error).message).toBe(`refusing the dns-setup state file ${state}: ${c.what}; ${BY_HAND}`)
    expect(calls).toEqual([])
    expect(existsSync(join(root, 'etc/resolver/kube.internal'))).toBe(true)
    expect(readFileSync(state, 'utf8')).toBe(before)
  })

  it('undoes a state file written before steps had ids, by the plan of each recorded undo', async () => {
    const state = await editedState(linuxPlan(), (s) => {
      for (const d of s.done) delete d.id
      delete s.files
    })
    const {runner, calls} = fakeRunner()
    expect((await undoSetup(state, {runner, privileged: true}))?.undone).toBe(6)
    expect(calls.map((c) => c.argv)).toEqual(
      linuxPlan()
        .steps.map((s) => s.undo.command)
        .reverse(),
    )
  })

  it('runs the undo actions of the plan, not the text of the file', async () => {
    const state = await editedState(linuxPlan(), (s) => (s.done[0]!.undo.description = '\u001b[2Jcleared'))
    const log: string[] = []
    const {runner} = fakeRunner()
    await undoSetup(state, {runner, privileged: true, log: (l) => log.push(l)})
    expect(log.at(-1)).toBe('[6/6] delete the link expose-lb0: ip link delete expose-lb0')
  })
})

describe('hints name the state file in use', () => {
  const undoCommand = 'kubectl expose-lb dns-setup --undo --state-file /tmp/my-state.json'

  it('after a failed step, and when applied already for other options; the same options resume', async () => {
    const state = join(tempDir(), 'state.json')
    const {runner} = fakeRunner((argv) => (argv.includes('up') ? {code: 1, stderr: 'no'} : {}))
    await expect(applySetup(linuxPlan(), state, {runner, privileged: true, undoCommand})).rejects.toThrow(
      `the 2 completed steps are recorded in ${state}: run \`${undoCommand}\` to revert them`,
    )
    await expect(applySetup(linuxPlan({dnsPort: 53}), state, {runner, privileged: true, undoCommand})).rejects.toThrow(
      `dns-setup is already applied for kube.internal (2 steps recorded in ${state}); run \`${undoCommand}\` first`,
    )
    const again = fakeRunner()
    await expect(applySetup(linuxPlan(), state, {runner: again.runner, privileged: true, undoCommand})).resolves.toBe(4)
    expect(again.calls.map((c) => c.argv.slice(0, 3).join(' '))).toEqual([
      'ip link set',
      'resolvectl domain expose-lb0',
      'resolvectl default-route expose-lb0',
      'resolvectl dns expose-lb0',
    ])
  })

  it('after an undo step failed', async () => {
    const state = join(tempDir(), 'state.json')
    await applySetup(linuxPlan(), state, {runner: fakeRunner().runner, privileged: true})
    const {runner} = fakeRunner((argv) => (argv[0] === 'ip' ? {code: 1, stderr: 'no'} : {}))
    await expect(undoSetup(state, {runner, privileged: true, undoCommand})).rejects.toThrow(
      `fix the cause and run \`${undoCommand}\` again`,
    )
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

describe('applySetup and undoSetup: Ingress and route hosts', () => {
  it('macOS: a re-run with a new host writes only its file; --undo removes every file it wrote', async () => {
    const root = tempDir()
    const state = join(root, 'state.json')
    const first = fakeRunner()
    const withHosts = (hosts: string[]) => planDnsSetup({...darwinPlan(), hosts})
    await expect(
      applySetup(withHosts(['radarr.home.example.com']), state, {runner: first.runner, privileged: false, root}),
    ).resolves.toBe(2)
    expect(readFileSync(join(root, 'etc/resolver/radarr.home.example.com'), 'utf8')).toBe(
      '# kubectl expose-lb dns-setup: radarr.home.example.com (an Ingress/route host) go to the DNS responder of kubectl expose-lb serve\nnameserver 127.0.0.1\nport 5353\n',
    )
    // The cluster now also has *.apps.example.com; radarr is still listed (the host list is whatever the cluster has).
    const next = withHosts(['*.apps.example.com', 'radarr.home.example.com'])
    await expect(applySetup(next, state, {runner: first.runner, privileged: false, root})).resolves.toBe(1)
    expect(existsSync(join(root, 'etc/resolver/apps.example.com'))).toBe(true)
    expect(await readState(state)).toMatchObject({
      hosts: ['*.apps.example.com', 'radarr.home.example.com'],
      done: [
        {id: 'resolver-file'},
        {id: 'resolver-file:apps.example.com'},
        {id: 'resolver-file:radarr.home.example.com'},
      ],
      files: ['/etc/resolver/kube.internal', '/etc/resolver/apps.example.com', '/etc/resolver/radarr.home.example.com'],
    })
    // A host gone from the cluster stays routed (and recorded) until --undo: a re-run only adds.
    await expect(
      applySetup(withHosts(['*.apps.example.com']), state, {runner: first.runner, privileged: false, root}),
    ).resolves.toBe(0)
    await expect(undoSetup(state, {runner: first.runner, privileged: false, root})).resolves.toMatchObject({undone: 3})
    expect(readdirSync(join(root, 'etc/resolver'))).toEqual([])
    expect(existsSync(state)).toBe(false)
    expect(first.calls).toEqual([])
  })

  it('systemd-resolved: a re-run with a new host sets the link routing domains again, and runs nothing else', async () => {
    const state = join(tempDir(), 'state.json')
    const {runner, calls} = fakeRunner()
    await applySetup(linuxPlan({hosts: ['radarr.home.example.com']}), state, {runner, privileged: true})
    expect(calls.map((c) => c.argv.join(' '))).toContain(
      'resolvectl domain expose-lb0 ~kube.internal ~radarr.home.example.com',
    )
    calls.length = 0
    await expect(
      applySetup(linuxPlan({hosts: ['blog.khuedoan.com']}), state, {runner, privileged: true}),
    ).resolves.toBe(1)
    expect(calls.map((c) => c.argv.join(' '))).toEqual([
      'resolvectl domain expose-lb0 ~kube.internal ~blog.khuedoan.com ~radarr.home.example.com',
    ])
    expect((await readState(state))?.hosts).toEqual(['blog.khuedoan.com', 'radarr.home.example.com'])
    calls.length = 0
    await applySetup(linuxPlan({hosts: ['blog.khuedoan.com']}), state, {runner, privileged: true})
    expect(calls).toEqual([])
    await expect(undoSetup(state, {runner, privileged: true})).resolves.toMatchObject({undone: 6})
  })

  it.each([
    ['../../etc/passwd', 'hosts entry "../../etc/passwd" is not a host dns-setup routes'],
    ['grafana.kube.internal', 'hosts entry "grafana.kube.internal" is not a host dns-setup routes'],
    ['nas', 'hosts entry "nas" is not a host dns-setup routes'],
  ])('a state file whose hosts name %s is refused before anything runs', async (host, why) => {
    const root = tempDir()
    const state = join(root, 'state.json')
    await applySetup(planDnsSetup({...darwinPlan(), hosts: ['radarr.home.example.com']}), state, {
      runner: fakeRunner().runner,
      privileged: false,
      root,
    })
    const recorded = JSON.parse(readFileSync(state, 'utf8')) as SetupState
    writeFileSync(state, JSON.stringify({...recorded, hosts: [host]}))
    const {runner, calls} = fakeRunner()
    await expect(undoSetup(state, {runner, privileged: false, root})).rejects.toThrow(
      `refusing the dns-setup state file ${state}: ${why}`,
    )
    expect(calls).toEqual([])
    expect(existsSync(join(root, 'etc/resolver/radarr.home.example.com'))).toBe(true)
  })
})
