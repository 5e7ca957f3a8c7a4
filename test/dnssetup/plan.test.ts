// The pure dns-setup plan: per OS and resolver, the exact commands, which need sudo, and their undo steps.
import {describe, expect, it} from 'vitest'
import {planHostRouting} from '../../src/dnssetup/hosts.js'
import {
  chooseResolver,
  findStep,
  formatCommand,
  planDnsSetup,
  renderPlan,
  type SetupOptions,
  type SetupPlan,
} from '../../src/dnssetup/plan.js'

const SELF = {apply: 'kubectl expose-lb dns-setup --apply', undo: 'kubectl expose-lb dns-setup --undo'}

function options(overrides: Partial<SetupOptions>): SetupOptions {
  return {
    os: 'linux',
    resolver: 'systemd-resolved',
    domain: 'kube.internal',
    dnsAddress: '127.0.0.1',
    dnsPort: 53,
    ...overrides,
  }
}

/** Each step as [command, sudo, undo command]: what a reader checks against the docs of each tool. */
function table(plan: SetupPlan): Array<[string, boolean, string]> {
  return plan.steps.map((s) => [formatCommand({...s, sudo: false}), s.sudo, formatCommand({...s.undo, sudo: false})])
}

describe('planDnsSetup', () => {
  it('systemd-resolved: a dummy link with an address, a routing domain, no default route, then the server', () => {
    const plan = planDnsSetup(options({}))
    expect(table(plan)).toEqual([
      ['ip link add expose-lb0 type dummy', true, 'ip link delete expose-lb0'],
      ['ip address add 169.254.53.53/32 dev expose-lb0', true, 'ip address delete 169.254.53.53/32 dev expose-lb0'],
      ['ip link set expose-lb0 up', true, 'ip link set expose-lb0 down'],
      ["resolvectl domain expose-lb0 '~kube.internal'", true, 'resolvectl revert expose-lb0'],
      ['resolvectl default-route expose-lb0 false', true, 'resolvectl revert expose-lb0'],
      ['resolvectl dns expose-lb0 127.0.0.1', true, 'resolvectl revert expose-lb0'],
    ])
    expect(plan.blocker).toBeUndefined()
    expect(plan.steps.every((s) => s.why !== undefined && s.undo.sudo)).toBe(true)
    expect(plan.notes[0]).toBe('needs systemd 240 or later (`resolvectl --version`)')
    expect(plan.notes[2]).toMatch(/^not persistent: .*\n {2}\/etc\/systemd\/network\/expose-lb0\.netdev\n/)
    expect(plan.notes[2]).toContain('    Domains=~kube.internal\n    DNSDefaultRoute=no')
  })

  it.each([
    {dnsAddress: '127.0.0.1', dnsPort: 5353, server: '127.0.0.1:5353'},
    {dnsAddress: '::1', dnsPort: 5353, server: '[::1]:5353'},
    {dnsAddress: '::1', dnsPort: 53, server: '::1'},
  ])('systemd-resolved: $dnsAddress port $dnsPort is written $server', ({dnsAddress, dnsPort, server}) => {
    const plan = planDnsSetup(options({dnsAddress, dnsPort}))
    expect(plan.steps.at(-1)!.command).toEqual(['resolvectl', 'dns', 'expose-lb0', server])
    expect(plan.notes[2]).toContain(`    DNS=${server}\n`)
    if (dnsPort !== 53) expect(plan.notes[0]).toMatch(/^needs systemd 246 or later for a DNS server with a port/)
  })

  it('networkmanager: one dummy connection with the DNS server and routing domain, then up', () => {
    const plan = planDnsSetup(options({resolver: 'networkmanager', domain: 'home.lab'}))
    expect(table(plan)).toEqual([
      [
        "nmcli connection add type dummy ifname expose-lb0 con-name expose-lb0 ipv4.method manual ipv4.addresses 169.254.53.53/32 ipv4.never-default yes ipv4.dns 127.0.0.1 ipv4.dns-search '~home.lab' ipv6.method disabled",
        true,
        'nmcli connection delete expose-lb0',
      ],
      ['nmcli connection up expose-lb0', true, 'nmcli connection down expose-lb0'],
    ])
    expect(plan.blocker).toBeUndefined()
    expect(plan.notes[0]).toContain('NetworkManager 1.26')
  })

  it('networkmanager: a port other than 53 cannot be applied', () => {
    expect(planDnsSetup(options({resolver: 'networkmanager', dnsPort: 5353})).blocker).toBe(
      'NetworkManager cannot send DNS to a port other than 53 (--dns-port 5353): run serve on port 53 and pass --dns-port 53, or use --resolver systemd-resolved',
    )
  })

  it('macOS: one resolver file with nameserver and port, removed on undo', () => {
    const plan = planDnsSetup(options({os: 'darwin', resolver: 'resolver-file', dnsPort: 5353}))
    expect(plan.steps).toEqual([
      {
        description: 'write /etc/resolver/kube.internal: send names under kube.internal to 127.0.0.1:5353',
        command: {
          writeFile: '/etc/resolver/kube.internal',
          content:
            '# kubectl expose-lb dns-setup: names under kube.internal go to the DNS responder of kubectl expose-lb serve\nnameserver 127.0.0.1\nport 5353\n',
        },
        sudo: true,
        why: '/etc/resolver belongs to root',
        undo: {
          description: 'remove /etc/resolver/kube.internal',
          command: {removeFile: '/etc/resolver/kube.internal'},
          sudo: true,
          why: '/etc/resolver belongs to root',
        },
      },
    ])
    expect(plan.notes[2]).toMatch(/^per-service addresses .*: macOS answers only on\n/)
    expect(plan.notes[2]).toContain('serve adds a lo0 alias for each address it assigns')
    expect(plan.notes[2]).toContain('without sudo it runs with --ip-range none')
    expect(plan.blocker).toBeUndefined()
    expect(formatCommand(plan.steps[0]!)).toBe(
      "sudo mkdir -p /etc/resolver && printf '%s\\n' '# kubectl expose-lb dns-setup: names under kube.internal go to the DNS responder of kubectl expose-lb serve' 'nameserver 127.0.0.1' 'port 5353' | sudo tee /etc/resolver/kube.internal >/dev/null",
    )
    expect(formatCommand(plan.steps[0]!.undo)).toBe('sudo rm -f /etc/resolver/kube.internal')
  })

  it('Windows: an NRPT rule marked as ours, and an undo that removes only that rule', () => {
    const plan = planDnsSetup(options({os: 'win32', resolver: 'nrpt'}))
    expect(table(plan)).toEqual([
      [
        "Add-DnsClientNrptRule -Namespace '.kube.internal' -NameServers '127.0.0.1' -Comment 'kubectl expose-lb'",
        true,
        "Get-DnsClientNrptRule | Where-Object { $_.Namespace -eq '.kube.internal' -and $_.Comment -eq 'kubectl expose-lb' } | Remove-DnsClientNrptRule -Force",
      ],
    ])
    // PowerShell lines are printed as typed, never with sudo.
    expect(formatCommand(plan.steps[0]!)).toBe(table(plan)[0]![0])
    expect(plan.blocker).toBeUndefined()
  })

  it('Windows: the NRPT has no port, so only 53 can be applied', () => {
    expect(planDnsSetup(options({os: 'win32', resolver: 'nrpt', dnsPort: 5353})).blocker).toBe(
      'the Windows NRPT always sends to port 53 (--dns-port 5353): run serve on port 53 and pass --dns-port 53',
    )
  })

  it.each([
    [options({}), ['link-add', 'link-address', 'link-up', 'resolved-domain', 'resolved-default-route', 'resolved-dns']],
    [options({resolver: 'networkmanager'}), ['nm-connection-add', 'nm-connection-up']],
    [options({os: 'darwin', resolver: 'resolver-file'}), ['resolver-file']],
    [options({os: 'win32', resolver: 'nrpt'}), ['nrpt-rule']],
  ])('names each $resolver step with a stable id (the state file records it)', (o, ids) => {
    const plan = planDnsSetup(o)
    expect(plan.stepIds).toEqual(ids)
    expect(ids.map((id) => findStep(plan, id)?.step)).toEqual(plan.steps)
    expect(findStep(plan, 'nrpt-rule' === ids[0] ? 'link-add' : 'nrpt-rule')).toBeUndefined()
  })

  it('refuses a resolver the OS does not have', () => {
    expect(() => planDnsSetup(options({os: 'darwin', resolver: 'nrpt'}))).toThrow(
      'resolver nrpt does not exist on darwin',
    )
  })
})

describe('chooseResolver', () => {
  const none = {resolvedStub: false, resolvectl: false, nmcli: false}
  it.each([
    ['systemd-resolved running', 'linux', {...none, resolvedStub: true, nmcli: true}, {resolver: 'systemd-resolved'}],
    ['resolvectl on PATH', 'linux', {...none, resolvectl: true}, {resolver: 'systemd-resolved'}],
    ['only NetworkManager', 'linux', {...none, nmcli: true}, {resolver: 'networkmanager'}],
    [
      'printing Linux steps elsewhere',
      'linux',
      undefined,
      {
        resolver: 'systemd-resolved',
        note: 'printed for systemd-resolved; pass --resolver networkmanager for NetworkManager',
      },
    ],
    ['macOS', 'darwin', undefined, {resolver: 'resolver-file'}],
    ['Windows', 'win32', undefined, {resolver: 'nrpt'}],
  ] as const)('%s', (_, os, facts, expected) => {
    expect(chooseResolver(os, facts)).toEqual(expected)
  })

  it('no split-DNS resolver: says so and points at serve --hosts-file', () => {
    const choice = chooseResolver('linux', none)
    expect(choice).toEqual({none: expect.stringContaining('run `kubectl expose-lb serve --hosts-file`')})
  })
})

describe('renderPlan', () => {
  it('numbers the steps, prefixes sudo with the reason, lists the undo once per command, then the notes', () => {
    const text = renderPlan(planDnsSetup(options({dnsPort: 5353})), SELF)
    const lines = text.split('\n')
    expect(lines.slice(0, 6)).toEqual([
      "Send only kube.internal to serve's DNS responder at 127.0.0.1:5353 (linux, systemd-resolved):",
      '',
      "  1. create a dummy network link expose-lb0 to carry the zone's DNS settings",
      '     sudo ip link add expose-lb0 type dummy',
      '     (sudo: creates a network link)',
      '  2. give expose-lb0 an address (systemd-resolved ignores the DNS servers of a link without one)',
    ])
    const undo = lines.indexOf('To revert it by hand:')
    expect(lines.slice(undo + 1, undo + 6)).toEqual([
      '  sudo resolvectl revert expose-lb0',
      '  sudo ip link set expose-lb0 down',
      '  sudo ip address delete 169.254.53.53/32 dev expose-lb0',
      '  sudo ip link delete expose-lb0',
      '',
    ])
    expect(lines.at(-1)).toBe(
      '`kubectl expose-lb dns-setup --apply` runs these steps on this machine and records them; `kubectl expose-lb dns-setup --undo` reverts exactly what it did.',
    )
  })

  it('ends with why the plan cannot be applied when it cannot', () => {
    const text = renderPlan(planDnsSetup(options({os: 'win32', resolver: 'nrpt', dnsPort: 5353})), SELF)
    expect(text).toContain('     (run PowerShell as Administrator: changes system DNS settings)')
    expect(text.split('\n').at(-1)).toBe(
      'Cannot be applied as asked: the Windows NRPT always sends to port 53 (--dns-port 5353): run serve on port 53 and pass --dns-port 53',
    )
  })
})

describe('Ingress and route hosts', () => {
  const served = (host: string) => ({host, service: {namespace: 'kube-system', name: 'traefik'}})

  it('planHostRouting: each host alone; a wildcard by the domain below it, covering the hosts under it; the rest said', () => {
    expect(
      planHostRouting(
        [
          served('radarr.home.example.com'),
          served('*.apps.example.com'),
          served('sonarr.apps.example.com'),
          served('grafana.kube.internal'),
          served('nas'),
          served('printer.local'),
          served('Radarr.Home.Example.com.'),
          served('khuedoan.com'),
          served('*.co.uk'),
          {host: 'orphan.example.com'},
        ],
        'kube.internal',
      ),
    ).toEqual({
      routed: ['*.apps.example.com', 'radarr.home.example.com'],
      covered: ['grafana.kube.internal', 'sonarr.apps.example.com'],
      notRouted: [
        {host: '*.co.uk', why: 'a wildcard over co.uk, which would send names that belong to others to serve'},
        {
          host: 'khuedoan.com',
          why: 'a registrable domain: routing it would send every name under it to serve, which refuses those it does not know',
        },
        {host: 'nas', why: 'a single-label name, which resolvers do not send to a DNS server'},
        {host: 'orphan.example.com', why: 'no Service receives it, so serve does not answer it'},
        {host: 'printer.local', why: 'a .local name, which resolvers send to multicast DNS (RFC 6762)'},
      ],
    })
  })

  it('the steps route each host, never its parent domain, per resolver', () => {
    const hosts = ['*.apps.example.com', 'apps.example.com', 'radarr.home.example.com']
    const resolved = planDnsSetup(options({hosts}))
    expect(table(resolved)[3]).toEqual([
      "resolvectl domain expose-lb0 '~kube.internal' '~apps.example.com' '~radarr.home.example.com'",
      true,
      'resolvectl revert expose-lb0',
    ])
    expect(resolved.steps[3]!.refresh?.map((a) => formatCommand({...a, sudo: false}))).toEqual([table(resolved)[3]![0]])
    const nm = planDnsSetup(options({resolver: 'networkmanager', hosts}))
    expect(formatCommand(nm.steps[0]!)).toContain(
      " ipv4.dns-search '~kube.internal,~apps.example.com,~radarr.home.example.com' ",
    )
    expect(nm.steps.flatMap((s) => s.refresh ?? []).map((a) => formatCommand({...a, sudo: false}))).toEqual([
      "nmcli connection modify expose-lb0 ipv4.dns-search '~kube.internal,~apps.example.com,~radarr.home.example.com'",
      'nmcli connection up expose-lb0',
    ])
    const mac = planDnsSetup(options({os: 'darwin', resolver: 'resolver-file', hosts}))
    expect(mac.stepIds).toEqual([
      'resolver-file',
      'resolver-file:apps.example.com',
      'resolver-file:radarr.home.example.com',
    ])
    expect(table(mac).map((row) => row[2])).toEqual([
      'rm -f /etc/resolver/kube.internal',
      'rm -f /etc/resolver/apps.example.com',
      'rm -f /etc/resolver/radarr.home.example.com',
    ])
    const win = planDnsSetup(options({os: 'win32', resolver: 'nrpt', hosts}))
    expect(win.stepIds).toEqual([
      'nrpt-rule',
      'nrpt-rule:*.apps.example.com',
      'nrpt-rule:apps.example.com',
      'nrpt-rule:radarr.home.example.com',
    ])
    expect(win.steps.map((s) => (s.command as {powershell: string}).powershell.split("'")[1])).toEqual([
      '.kube.internal',
      '.apps.example.com',
      'apps.example.com',
      'radarr.home.example.com',
    ])
  })

  it('renderPlan names the hosts routed and those not routed yet, with the fix', () => {
    const text = renderPlan(planDnsSetup(options({hosts: ['radarr.home.example.com']})), SELF, {
      routed: ['radarr.home.example.com'],
      covered: [],
      notRouted: [{host: 'nas', why: 'a single-label name, which resolvers do not send to a DNS server'}],
    })
    expect(text.split('\n').slice(0, 4)).toEqual([
      "Send only kube.internal and 1 Ingress/route host to serve's DNS responder at 127.0.0.1:53 (linux, systemd-resolved):",
      '',
      '  Ingress/route hosts routed (each alone, not its parent domain): radarr.home.example.com',
      '  not routed yet: nas (a single-label name, which resolvers do not send to a DNS server) — run `kubectl expose-lb serve --hosts-file`, which keeps exact names in /etc/hosts while it runs',
    ])
  })
})
