// `kubectl expose-lb dns-setup` through kubectl: printing, refusals, and --undo of a recorded state. Nothing here
// runs --apply: on the test machine that would change its DNS settings (apply.test.ts covers it with a fake runner).
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {SetupState} from '../../src/dnssetup/apply.js'
import {EXIT} from '../../src/errors.js'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {kubectl, writeKubeconfig} from '../e2e/helpers.js'

const scratch = mkdtempSync(join(tmpdir(), 'dns-setup-cmd-'))
afterAll(() => rmSync(scratch, {recursive: true, force: true}))

const dnsSetup = (...args: string[]) => kubectl(['expose-lb', 'dns-setup', ...args])

describe('dns-setup: printing', () => {
  it("prints another OS's steps with the flags to apply them", async () => {
    const run = await dnsSetup('--os', 'darwin', '--dns-port', '5353', '--domain', 'Home.Lab.')
    expect(run.code).toBe(0)
    // No cluster to read hosts from: said once, and the zone's steps print all the same (--no-hosts: not read at all).
    expect(run.stderr).toMatch(
      /^warning: could not read the cluster's Ingress and route hosts \(no kubeconfig found .*\): routing only home\.lab; run dns-setup again when the cluster can be read, or pass --no-hosts\n$/,
    )
    expect((await dnsSetup('--os', 'darwin', '--domain', 'home.lab', '--no-hosts')).stderr).toBe('')
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe("Send only home.lab to serve's DNS responder at 127.0.0.1:5353 (darwin, resolver-file):")
    expect(lines).toContain('  sudo rm -f /etc/resolver/home.lab')
    expect(lines.at(-1)).toBe(
      '`kubectl expose-lb dns-setup --domain home.lab --dns-port 5353 --apply` runs these steps on this machine and records them; `kubectl expose-lb dns-setup --undo` reverts exactly what it did.',
    )
  })

  it('prints Linux steps for a chosen resolver', async () => {
    const run = await dnsSetup('--os', 'linux', '--resolver', 'systemd-resolved')
    expect(run.code).toBe(0)
    expect(run.stdout).toContain("     sudo resolvectl domain expose-lb0 '~kube.internal'\n")
  })

  it.each([
    [
      ['--os', 'win32', '--resolver', 'systemd-resolved'],
      'error: --resolver systemd-resolved does not exist on win32; use nrpt\n',
    ],
    [
      ['--domain', 'bad..name'],
      'error: --domain "bad..name" is not a valid DNS name; use something like kube.internal\n',
    ],
    [['--dns-address', 'localhost'], 'error: --dns-address "localhost" is not an IP address; use 127.0.0.1\n'],
    [['--apply', '--undo'], 'error: --apply and --undo cannot be used together\n'],
    // Checked before the resolver is chosen: also on a machine with no split-DNS resolver.
    [
      ['--ingress-service', 'bad'],
      `error: --ingress-service "bad" is not namespace/name; give the ingress controller's Service, e.g. kube-system/traefik\n`,
    ],
  ])('refuses %j', async (args, stderr) => {
    const run = await dnsSetup(...args)
    expect(run).toEqual({code: EXIT.usage, stdout: '', stderr})
  })

  it('refuses --apply for another OS', async () => {
    const other = process.platform === 'win32' ? 'linux' : 'win32'
    const run = await dnsSetup('--os', other, '--apply')
    expect(run.code).toBe(EXIT.usage)
    expect(run.stderr).toBe(
      `error: --apply runs the steps on this machine (${process.platform}); --os ${other} can only print them (drop --apply)\n`,
    )
  })
})

describe('dns-setup --undo', () => {
  it('says there is nothing to undo without a state file, and exits 0', async () => {
    const state = join(scratch, 'none.json')
    const run = await dnsSetup('--undo', '--state-file', state)
    expect(run).toEqual({code: 0, stdout: '', stderr: `nothing to undo: no dns-setup state at ${state}\n`})
  })

  it('reverts what the state file recorded and deletes it', async () => {
    // A recorded macOS apply whose file landed under a temp root: undo only removes that file.
    const root = join(scratch, 'root')
    mkdirSync(join(root, 'etc/resolver'), {recursive: true})
    writeFileSync(join(root, 'etc/resolver/kube.internal'), 'nameserver 127.0.0.1\nport 5353\n')
    const state = join(scratch, 'state.json')
    const recorded: SetupState = {
      version: 1,
      os: 'darwin',
      resolver: 'resolver-file',
      domain: 'kube.internal',
      dnsAddress: '127.0.0.1',
      dnsPort: 5353,
      done: [
        {
          description: 'write /etc/resolver/kube.internal',
          undo: {
            description: 'remove /etc/resolver/kube.internal',
            command: {removeFile: '/etc/resolver/kube.internal'},
            sudo: true,
          },
        },
      ],
    }
    writeFileSync(state, JSON.stringify(recorded))
    const run = await dnsSetup('--undo', '--state-file', state, '--root', root)
    expect(run.code).toBe(0)
    expect(run.stderr).toBe(
      '[1/1] remove /etc/resolver/kube.internal: rm -f /etc/resolver/kube.internal\n' +
        "reverted 1 step: names under kube.internal no longer go to serve's responder\n",
    )
    expect(existsSync(join(root, 'etc/resolver/kube.internal'))).toBe(false)
    expect(existsSync(state)).toBe(false)
  })

  /** A recorded macOS apply whose file landed under a temp root, as in the test above, changed by `edit`. */
  function recordedMacState(edit: (recorded: SetupState) => void): {root: string; state: string; file: string} {
    const dir = mkdtempSync(join(scratch, 'case-'))
    const root = join(dir, 'root')
    const file = join(root, 'etc/resolver/kube.internal')
    mkdirSync(join(root, 'etc/resolver'), {recursive: true})
    writeFileSync(file, 'nameserver 127.0.0.1\nport 5353\n')
    const recorded: SetupState = {
      version: 1,
      os: 'darwin',
      resolver: 'resolver-file',
      domain: 'kube.internal',
      dnsAddress: '127.0.0.1',
      dnsPort: 5353,
      done: [
        {
          id: 'resolver-file',
          description: 'write /etc/resolver/kube.internal',
          undo: {
            description: 'remove /etc/resolver/kube.internal',
            command: {removeFile: '/etc/resolver/kube.internal'},
            sudo: true,
          },
        },
      ],
      files: ['/etc/resolver/kube.internal'],
    }
    edit(recorded)
    const state = join(dir, 'state.json')
    writeFileSync(state, JSON.stringify(recorded))
    return {root, state, file}
  }

  const BY_HAND =
    "nothing was run — undo the steps it lists by hand (`kubectl expose-lb dns-setup` prints each one's undo command), then remove the file"

  it('refuses a state file with a damaged entry in one line naming it and the fix (exit 12)', async () => {
    const {root, state, file} = recordedMacState((r) => r.done.push({description: 'x'} as SetupState['done'][0]))
    const run = await dnsSetup('--undo', '--state-file', state, '--root', root)
    expect(run).toEqual({
      code: EXIT.setupFailed,
      stdout: '',
      stderr: `error: the dns-setup state file ${state} is damaged (done[1] has no undo action); ${BY_HAND}\n`,
    })
    expect(existsSync(file)).toBe(true)
  })

  it('refuses a state file that asks to remove a file dns-setup did not write, removing nothing (exit 12)', async () => {
    const {root, state} = recordedMacState((r) => {
      r.done[0]!.undo.command = {removeFile: '/etc/passwd'}
      r.files = ['/etc/passwd']
    })
    mkdirSync(join(root, 'etc'), {recursive: true})
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n')
    const run = await dnsSetup('--undo', '--state-file', state, '--root', root)
    expect(run).toEqual({
      code: EXIT.setupFailed,
      stdout: '',
      stderr: `error: refusing the dns-setup state file ${state}: done[0] (resolver-file) undoes with {"removeFile":"/etc/passwd"}, where dns-setup plans {"removeFile":"/etc/resolver/kube.internal"}; ${BY_HAND}\n`,
    })
    expect(existsSync(join(root, 'etc/passwd'))).toBe(true)
  })

  it('names --state-file in the hint when an undo step fails', async () => {
    const {root, state, file} = recordedMacState(() => {})
    // A directory where the resolver file was: removing it fails.
    rmSync(file)
    mkdirSync(join(file, 'sub'), {recursive: true})
    const run = await dnsSetup('--undo', '--state-file', state, '--root', root)
    expect(run.code).toBe(EXIT.setupFailed)
    expect(run.stderr).toContain(
      `fix the cause and run \`kubectl expose-lb dns-setup --undo --state-file ${state}\` again`,
    )
    expect(existsSync(state)).toBe(true)
  })
})

describe("dns-setup: the cluster's Ingress and route hosts", () => {
  const fixture = (file: string) => readFileSync(new URL(`../fixtures/ingress/${file}`, import.meta.url), 'utf8')
  // Hosts no resolver sends to a DNS server by name, and one whose class has no Service (serve does not answer it).
  const EXTRA = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: lan-names, namespace: default}
spec:
  ingressClassName: traefik
  rules: [{host: nas}, {host: printer.local}, {host: sonarr.apps.example.com}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: orphan, namespace: default}
spec:
  ingressClassName: missing
  rules: [{host: orphan.example.com}]
`
  let sim: SimServer
  let config: string
  beforeAll(async () => {
    const yaml = [
      fixture('serve-cluster.yaml'),
      fixture('01-k3s-bundled-traefik-nodeport-ytdl.yaml'),
      fixture('07-ingress-nginx-tls-anchors-khuedoan.yaml'),
      EXTRA,
    ].join('\n---\n')
    sim = await startSimServer({objects: loadObjectsFromYaml(yaml)})
    config = writeKubeconfig(sim.kubeconfig())
  })
  afterAll(() => sim.close())

  it('systemd-resolved: one routing domain per host (a wildcard: the domain below it), never the parent domain', async () => {
    const run = await dnsSetup('--kubeconfig', config, '--os', 'linux', '--resolver', 'systemd-resolved')
    expect(run.code).toBe(0)
    expect(run.stderr).toBe('')
    const lines = run.stdout.split('\n')
    expect(lines[0]).toBe(
      "Send only kube.internal and 6 Ingress/route hosts to serve's DNS responder at 127.0.0.1:53 (linux, systemd-resolved):",
    )
    expect(lines).toContain(
      "     sudo resolvectl domain expose-lb0 '~kube.internal' '~apps.example.com' '~blog.khuedoan.com' '~radarr.home.example.com' '~tekton.khuedoan.com' '~vault.tls.example.com' '~ytdl.mink.lan'",
    )
    expect(run.stdout).not.toContain("'~home.example.com'")
    expect(lines).toContain(
      '  Ingress/route hosts routed (each alone, not its parent domain): *.apps.example.com, blog.khuedoan.com, radarr.home.example.com, tekton.khuedoan.com, vault.tls.example.com, ytdl.mink.lan',
    )
    expect(lines).toContain('  Ingress/route hosts covered by the names above: sonarr.apps.example.com')
    expect(lines).toContain(
      '  not routed yet: nas (a single-label name, which resolvers do not send to a DNS server), orphan.example.com (no Service receives it, so serve does not answer it), printer.local (a .local name, which resolvers send to multicast DNS (RFC 6762)) — run `kubectl expose-lb serve --hosts-file`, which keeps exact names in /etc/hosts while it runs',
    )
  })

  it('macOS: a resolver file per host; Windows: an NRPT rule per host (a suffix rule for a wildcard)', async () => {
    const mac = await dnsSetup('--kubeconfig', config, '--os', 'darwin', '--dns-port', '5353')
    expect(mac.stdout).toContain('  sudo rm -f /etc/resolver/radarr.home.example.com\n')
    expect(mac.stdout).toContain('  sudo rm -f /etc/resolver/apps.example.com\n')
    expect(mac.stdout).not.toContain('/etc/resolver/home.example.com')
    const win = await dnsSetup('--kubeconfig', config, '--os', 'win32')
    expect(win.stdout).toContain(
      "Add-DnsClientNrptRule -Namespace 'radarr.home.example.com' -NameServers '127.0.0.1' -Comment 'kubectl expose-lb'",
    )
    expect(win.stdout).toContain(
      "Add-DnsClientNrptRule -Namespace '.apps.example.com' -NameServers '127.0.0.1' -Comment 'kubectl expose-lb'",
    )
  })

  it('--no-hosts routes only --domain', async () => {
    const run = await dnsSetup('--kubeconfig', config, '--os', 'linux', '--resolver', 'systemd-resolved', '--no-hosts')
    expect(run.stdout).toContain("     sudo resolvectl domain expose-lb0 '~kube.internal'\n")
    // The apply hint repeats the flags that chose these names, the cluster's included.
    expect(run.stdout).toContain(
      `\`kubectl expose-lb dns-setup --resolver systemd-resolved --no-hosts --kubeconfig ${config} --apply\``,
    )
  })
})
