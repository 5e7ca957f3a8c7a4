// `dns-setup`: how to send only serve's zone to its DNS responder, per OS and resolver, as data. Pure: the options
// in, the steps (each with its undo) and notes out; `apply.ts` runs them and `commands/dns-setup.ts` prints them.
//
// Facts the steps rely on:
// - systemd-resolved routes a name to a link's DNS servers when the link has a matching routing domain (`~zone`),
//   and uses a link's DNS servers at all only when the link is up and has an address of global scope
//   (resolved-link.c `link_relevant`/`link_address_relevant`): hence a dummy link with one /32 address. Loopback
//   links are never used. `resolvectl default-route` needs systemd ≥ 240, a server with `:port` ≥ 246.
// - NetworkManager hands per-connection DNS and `~` routing domains to systemd-resolved or dnsmasq; its `ipv4.dns`
//   takes addresses without a port.
// - macOS: resolver(5) files in /etc/resolver/<domain> take `nameserver` and `port`.
// - Windows: the Name Resolution Policy Table (Add-DnsClientNrptRule) sends a namespace to name servers on port 53.

import {hostPort} from '../net/address.js'
import {routingDomain, type HostRouting} from './hosts.js'

export type TargetOs = 'linux' | 'darwin' | 'win32'
export type ResolverKind = 'systemd-resolved' | 'networkmanager' | 'resolver-file' | 'nrpt'

export const TARGET_OSES: readonly TargetOs[] = ['linux', 'darwin', 'win32']
export const RESOLVER_KINDS: readonly ResolverKind[] = ['systemd-resolved', 'networkmanager', 'resolver-file', 'nrpt']

/** Which resolvers each OS has. */
export const RESOLVERS_BY_OS: Record<TargetOs, readonly ResolverKind[]> = {
  linux: ['systemd-resolved', 'networkmanager'],
  darwin: ['resolver-file'],
  win32: ['nrpt'],
}

/** The dummy link (Linux) that carries the zone's DNS settings; IFNAMSIZ allows 15 characters. */
export const LINK_NAME = 'expose-lb0'
/**
 * The link's address: systemd-resolved ignores the DNS servers of a link without a global-scope address. A /32
 * from the IPv4 link-local block (RFC 3927) routes nothing else and is never forwarded off this machine.
 */
export const LINK_ADDRESS = '169.254.53.53/32'
/** The NetworkManager connection profile that carries the zone's DNS settings. */
export const NM_CONNECTION = 'expose-lb0'
/** Marks our NRPT rule, so undo removes it and not a rule someone else made for the same namespace. */
export const NRPT_COMMENT = 'kubectl expose-lb'
/** The port every resolver can send to; NetworkManager and the NRPT can send to no other. */
export const DNS_DEFAULT_PORT = 53

export const SUDO_WHY = 'changes system DNS settings'

/** A file written whole (macOS resolver files, service definitions). */
export interface FileWrite {
  writeFile: string
  content: string
  /** Its permission bits, set whatever the umask; 0o644 when left out. */
  mode?: number
}

export interface FileRemoval {
  removeFile: string
}

/** A PowerShell script line (Windows): printed as is, run with `powershell.exe -Command`. */
export interface PowerShellScript {
  powershell: string
}

/** What one step does: a program with its arguments (never through a shell), a file, or a PowerShell line. */
export type SetupCommand = string[] | FileWrite | FileRemoval | PowerShellScript

export interface SetupAction {
  description: string
  command: SetupCommand
  /** Needs root (Linux, macOS: run through sudo) or an elevated PowerShell (Windows). */
  sudo: boolean
  /** Why it needs privilege, shown next to the command. */
  why?: string
}

/** One step and how to revert it. */
export interface SetupStep extends SetupAction {
  undo: SetupAction
  /**
   * What brings this step, already done, up to date when a re-run routes more hosts (systemd-resolved sets a link's
   * routing domains as a whole; NetworkManager changes a connection in place). Its undo still reverts it all.
   */
  refresh?: SetupAction[]
}

/**
 * Stable names of the steps. The state file records them, so that --undo finds each completed step in the plan
 * again and runs the plan's own undo action; never rename or reuse one.
 */
export const STEP_IDS = [
  'link-add',
  'link-address',
  'link-up',
  'resolved-domain',
  'resolved-default-route',
  'resolved-dns',
  'nm-connection-add',
  'nm-connection-up',
  'resolver-file',
  'nrpt-rule',
] as const
/** The per-host steps: `<kind>:<routing domain or host>`, so that each file or rule is undone by its own id. */
export type HostStepId = `resolver-file:${string}` | `nrpt-rule:${string}`
export type StepId = (typeof STEP_IDS)[number] | HostStepId

export interface SetupOptions {
  os: TargetOs
  resolver: ResolverKind
  /** The zone, lowercase, without the trailing dot. */
  domain: string
  /** Where serve's responder listens (serve --listen). */
  dnsAddress: string
  dnsPort: number
  /**
   * Ingress and route hosts routed besides the domain, as planHostRouting (hosts.ts) gives them: exact names, or `*.`
   * and a domain. Each gets a routing domain of its own; absent or empty: only the domain.
   */
  hosts?: string[]
}

export interface SetupPlan extends SetupOptions {
  steps: SetupStep[]
  /** The id of each step: `stepIds[i]` names `steps[i]`. */
  stepIds: StepId[]
  /** Facts worth knowing: version needs, persistence, how to check it worked. */
  notes: string[]
  /** Why these steps cannot work as asked (so --apply refuses); undefined when they can. */
  blocker?: string
}

/** What can be seen on a Linux machine about its resolvers (gathered by apply.ts). */
export interface LinuxResolverFacts {
  /** /run/systemd/resolve/stub-resolv.conf exists: systemd-resolved is running. */
  resolvedStub: boolean
  resolvectl: boolean
  nmcli: boolean
}

export type ResolverChoice = {resolver: ResolverKind; note?: string} | {none: string}

/**
 * The resolver to use when --resolver is not given. On Linux: systemd-resolved if it runs or resolvectl exists,
 * else NetworkManager, else none (with what to do instead). `facts` is undefined when printing for another OS.
 */
export function chooseResolver(os: TargetOs, facts?: LinuxResolverFacts): ResolverChoice {
  if (os === 'darwin') return {resolver: 'resolver-file'}
  if (os === 'win32') return {resolver: 'nrpt'}
  if (!facts) {
    return {
      resolver: 'systemd-resolved',
      note: 'printed for systemd-resolved; pass --resolver networkmanager for NetworkManager',
    }
  }
  if (facts.resolvedStub || facts.resolvectl) return {resolver: 'systemd-resolved'}
  if (facts.nmcli) return {resolver: 'networkmanager'}
  return {
    none:
      'this machine has no split-DNS resolver (neither systemd-resolved nor NetworkManager was found), so a zone ' +
      'cannot be sent to one DNS server alone: run `kubectl expose-lb serve --hosts-file`, which keeps the names ' +
      'in /etc/hosts while serve runs; or install systemd-resolved and run dns-setup again',
  }
}

const run = (description: string, argv: string[], why = SUDO_WHY): SetupAction => ({
  description,
  command: argv,
  sudo: true,
  why,
})

/** A step with its id, as the functions below build them; planDnsSetup splits them into steps and stepIds. */
interface IdentifiedStep {
  id: StepId
  step: SetupStep
}

/** What each resolver's function returns. */
interface PlanParts extends Pick<SetupPlan, 'notes' | 'blocker'> {
  steps: IdentifiedStep[]
}

const step = (id: StepId, action: SetupAction, undo: SetupAction, refresh?: SetupAction[]): IdentifiedStep => ({
  id,
  step: {...action, undo, ...(refresh ? {refresh} : {})},
})

/** The routing domains of the hosts, once each, in order. */
function hostDomains(o: SetupOptions): string[] {
  return [...new Set((o.hosts ?? []).map(routingDomain))]
}

/** `names under kube.internal` or `names under kube.internal and 2 Ingress/route hosts`, for descriptions. */
function zoneWords(o: SetupOptions): string {
  const n = hostDomains(o).length
  return n === 0
    ? `names under ${o.domain}`
    : `names under ${o.domain} and ${n} Ingress/route host${n === 1 ? '' : 's'}`
}

function systemdResolvedPlan(o: SetupOptions): PlanParts {
  // Port 53 is left out so systemd before 246 accepts the address.
  const server = o.dnsPort === DNS_DEFAULT_PORT ? o.dnsAddress : hostPort(o.dnsAddress, o.dnsPort)
  const revert = run(`revert the DNS settings of ${LINK_NAME}`, ['resolvectl', 'revert', LINK_NAME])
  const routingDomains = [o.domain, ...hostDomains(o)].map((d) => `~${d}`)
  // `resolvectl domain` sets the link's whole list, so the same command brings a done step up to date.
  const domainAction = run(`route only ${zoneWords(o)} to ${LINK_NAME}`, [
    'resolvectl',
    'domain',
    LINK_NAME,
    ...routingDomains,
  ])
  const steps = [
    step(
      'link-add',
      run(
        `create a dummy network link ${LINK_NAME} to carry the zone's DNS settings`,
        ['ip', 'link', 'add', LINK_NAME, 'type', 'dummy'],
        'creates a network link',
      ),
      run(`delete the link ${LINK_NAME}`, ['ip', 'link', 'delete', LINK_NAME]),
    ),
    step(
      'link-address',
      run(
        `give ${LINK_NAME} an address (systemd-resolved ignores the DNS servers of a link without one)`,
        ['ip', 'address', 'add', LINK_ADDRESS, 'dev', LINK_NAME],
        'changes network settings',
      ),
      run(`remove the address of ${LINK_NAME}`, ['ip', 'address', 'delete', LINK_ADDRESS, 'dev', LINK_NAME]),
    ),
    step(
      'link-up',
      run(`bring ${LINK_NAME} up`, ['ip', 'link', 'set', LINK_NAME, 'up'], 'changes network settings'),
      run(`bring ${LINK_NAME} down`, ['ip', 'link', 'set', LINK_NAME, 'down']),
    ),
    // Routing domain and default-route go first: a link with a DNS server and neither would briefly receive
    // every query on the machine.
    step('resolved-domain', domainAction, revert, [domainAction]),
    step(
      'resolved-default-route',
      run(`never send other names to ${LINK_NAME}`, ['resolvectl', 'default-route', LINK_NAME, 'false']),
      revert,
    ),
    step(
      'resolved-dns',
      run(`send them to serve's responder at ${hostPort(o.dnsAddress, o.dnsPort)}`, [
        'resolvectl',
        'dns',
        LINK_NAME,
        server,
      ]),
      revert,
    ),
  ]
  const notes = [
    o.dnsPort === DNS_DEFAULT_PORT
      ? 'needs systemd 240 or later (`resolvectl --version`)'
      : `needs systemd 246 or later for a DNS server with a port (${server}); with an older one run serve on port 53`,
    'programs resolve through systemd-resolved when /etc/resolv.conf points at its stub (nameserver 127.0.0.53) or nsswitch.conf lists `resolve`; `kubectl expose-lb doctor` checks the result',
    [
      `not persistent: the link and its settings are gone after a reboot (run --apply again). For a persistent set-up, instead of the steps above let systemd-networkd create the link (it manages only links its .network files match), then \`sudo systemctl enable --now systemd-networkd\`:`,
      `  /etc/systemd/network/${LINK_NAME}.netdev`,
      '    [NetDev]',
      `    Name=${LINK_NAME}`,
      '    Kind=dummy',
      `  /etc/systemd/network/${LINK_NAME}.network`,
      '    [Match]',
      `    Name=${LINK_NAME}`,
      '    [Network]',
      `    Address=${LINK_ADDRESS}`,
      `    DNS=${server}`,
      `    Domains=${routingDomains.join(' ')}`,
      '    DNSDefaultRoute=no',
    ].join('\n'),
  ]
  return {steps, notes}
}

function networkManagerPlan(o: SetupOptions): PlanParts {
  const search = [o.domain, ...hostDomains(o)].map((d) => `~${d}`).join(',')
  const steps = [
    step(
      'nm-connection-add',
      run(`create a NetworkManager dummy connection ${NM_CONNECTION} that sends ${zoneWords(o)} to serve`, [
        'nmcli',
        'connection',
        'add',
        'type',
        'dummy',
        'ifname',
        LINK_NAME,
        'con-name',
        NM_CONNECTION,
        'ipv4.method',
        'manual',
        'ipv4.addresses',
        LINK_ADDRESS,
        'ipv4.never-default',
        'yes',
        'ipv4.dns',
        o.dnsAddress,
        'ipv4.dns-search',
        search,
        'ipv6.method',
        'disabled',
      ]),
      run(`delete the connection ${NM_CONNECTION}`, ['nmcli', 'connection', 'delete', NM_CONNECTION]),
    ),
    step(
      'nm-connection-up',
      run(`activate ${NM_CONNECTION}`, ['nmcli', 'connection', 'up', NM_CONNECTION]),
      run(`deactivate ${NM_CONNECTION}`, ['nmcli', 'connection', 'down', NM_CONNECTION]),
    ),
  ]
  steps[0]!.step.refresh = [
    run(`send ${zoneWords(o)} through ${NM_CONNECTION}`, [
      'nmcli',
      'connection',
      'modify',
      NM_CONNECTION,
      'ipv4.dns-search',
      search,
    ]),
  ]
  steps[1]!.step.refresh = [run(`activate ${NM_CONNECTION} again`, ['nmcli', 'connection', 'up', NM_CONNECTION])]
  const notes = [
    'needs NetworkManager 1.26 or later for the routing domain (~); check with `nmcli --version`',
    'NetworkManager splits DNS only when it hands DNS to systemd-resolved or dnsmasq (`dns=` in NetworkManager.conf); with a plain /etc/resolv.conf every name goes to the first nameserver',
    `persistent: the connection comes back after a reboot; --undo (or \`sudo nmcli connection delete ${NM_CONNECTION}\`) removes it`,
  ]
  const blocker =
    o.dnsPort === DNS_DEFAULT_PORT
      ? undefined
      : `NetworkManager cannot send DNS to a port other than 53 (--dns-port ${o.dnsPort}): run serve on port 53 and pass --dns-port 53, or use --resolver systemd-resolved`
  return {steps, notes, ...(blocker ? {blocker} : {})}
}

/** One /etc/resolver file: names under `domain` go to serve's responder. */
function resolverFileStep(o: SetupOptions, id: StepId, domain: string, what: string): IdentifiedStep {
  const path = `/etc/resolver/${domain}`
  const content = [
    `# kubectl expose-lb dns-setup: ${what} go to the DNS responder of kubectl expose-lb serve`,
    `nameserver ${o.dnsAddress}`,
    `port ${o.dnsPort}`,
    '',
  ].join('\n')
  return step(
    id,
    {
      description: `write ${path}: send ${what} to ${hostPort(o.dnsAddress, o.dnsPort)}`,
      command: {writeFile: path, content},
      sudo: true,
      why: '/etc/resolver belongs to root',
    },
    {description: `remove ${path}`, command: {removeFile: path}, sudo: true, why: '/etc/resolver belongs to root'},
  )
}

function resolverFilePlan(o: SetupOptions): PlanParts {
  // resolver(5): the file's name is the domain it answers, names below it included; one file per host domain.
  const steps = [
    resolverFileStep(o, 'resolver-file', o.domain, `names under ${o.domain}`),
    ...hostDomains(o).map((d) => resolverFileStep(o, `resolver-file:${d}`, d, `${d} (an Ingress/route host)`)),
  ]
  const notes = [
    'macOS reads /etc/resolver at once; `scutil --dns` lists it as a resolver for the domain',
    `dig and nslookup ignore /etc/resolver (they read only /etc/resolv.conf): check with \`dscacheutil -q host -a name <svc>.${o.domain}\` or \`kubectl expose-lb doctor\``,
    // src/serve/lo-alias-plan.ts (chooseIpRange) and src/serve/lo-aliases.ts do what this note says.
    [
      'per-service addresses (TCP and UDP Services on their own ports, e.g. MQTT on 1883): macOS answers only on',
      'the addresses lo0 carries, and only root may add one. Started with sudo (`sudo kubectl expose-lb serve`),',
      'serve adds a lo0 alias for each address it assigns (ifconfig lo0 alias <address>) and removes it when the',
      'Service goes and when serve stops; after a crash the next start removes the ones it recorded. Started',
      'without sudo it runs with --ip-range none and says so: names still answer, HTTP Services are reached',
      'through the router, TCP and UDP Services get no address.',
    ].join('\n'),
  ]
  return {steps, notes}
}

/** One NRPT rule sending `namespace` (`.suffix`, or an exact name) to serve's responder. */
function nrptStep(o: SetupOptions, id: StepId, namespace: string): IdentifiedStep {
  const why = SUDO_WHY
  return step(
    id,
    {
      description: `add a Name Resolution Policy Table rule sending ${namespace} to ${o.dnsAddress}`,
      command: {
        powershell: `Add-DnsClientNrptRule -Namespace '${namespace}' -NameServers '${o.dnsAddress}' -Comment '${NRPT_COMMENT}'`,
      },
      sudo: true,
      why,
    },
    {
      description: `remove the NRPT rule for ${namespace}`,
      command: {
        powershell: `Get-DnsClientNrptRule | Where-Object { $_.Namespace -eq '${namespace}' -and $_.Comment -eq '${NRPT_COMMENT}' } | Remove-DnsClientNrptRule -Force`,
      },
      sudo: true,
      why,
    },
  )
}

function nrptPlan(o: SetupOptions): PlanParts {
  // An NRPT namespace is a suffix when it starts with a dot, else one exact name
  // (https://learn.microsoft.com/en-us/powershell/module/dnsclient/add-dnsclientnrptrule).
  const steps = [
    nrptStep(o, 'nrpt-rule', `.${o.domain}`),
    ...(o.hosts ?? []).map((h) => nrptStep(o, `nrpt-rule:${h}`, h.startsWith('*.') ? h.slice(1) : h)),
  ]
  const notes = [
    `check with \`Resolve-DnsName <svc>.${o.domain}\` or \`kubectl expose-lb doctor\`; the rule stays after a reboot`,
  ]
  const blocker =
    o.dnsPort === DNS_DEFAULT_PORT
      ? undefined
      : `the Windows NRPT always sends to port 53 (--dns-port ${o.dnsPort}): run serve on port 53 and pass --dns-port 53`
  return {steps, notes, ...(blocker ? {blocker} : {})}
}

/** The steps that send only `domain` to serve's responder, for one OS and resolver. */
export function planDnsSetup(options: SetupOptions): SetupPlan {
  if (!RESOLVERS_BY_OS[options.os].includes(options.resolver)) {
    throw new Error(`resolver ${options.resolver} does not exist on ${options.os}`)
  }
  const {steps, ...parts} =
    options.resolver === 'systemd-resolved'
      ? systemdResolvedPlan(options)
      : options.resolver === 'networkmanager'
        ? networkManagerPlan(options)
        : options.resolver === 'resolver-file'
          ? resolverFilePlan(options)
          : nrptPlan(options)
  return {...options, ...parts, steps: steps.map((s) => s.step), stepIds: steps.map((s) => s.id)}
}

/** The step a state file's id names, or undefined when this plan has no such step. */
export function findStep(plan: SetupPlan, id: string): {index: number; step: SetupStep} | undefined {
  const index = plan.stepIds.indexOf(id as StepId)
  const found = plan.steps[index]
  return found ? {index, step: found} : undefined
}

/** The files a step creates (its writeFile), which its undo removes. */
export function filesCreated(step: SetupAction): string[] {
  const c = step.command
  return !Array.isArray(c) && 'writeFile' in c ? [c.writeFile] : []
}

/** Quotes a word for POSIX shells when it holds anything but safe characters (`~` would be expanded). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}

/** An action as a user would type it: `sudo` in front where needed on Linux and macOS; PowerShell lines as they are. */
export function formatCommand(action: SetupAction): string {
  const sudo = action.sudo ? 'sudo ' : ''
  const c = action.command
  if (Array.isArray(c)) return `${sudo}${c.map(shellQuote).join(' ')}`
  if ('powershell' in c) return c.powershell
  if ('removeFile' in c) return `${sudo}rm -f ${shellQuote(c.removeFile)}`
  const dir = c.writeFile.slice(0, c.writeFile.lastIndexOf('/')) || '/'
  const lines = c.content.replace(/\n$/, '').split('\n').map(shellQuote).join(' ')
  return `${sudo}mkdir -p ${shellQuote(dir)} && printf '%s\\n' ${lines} | ${sudo}tee ${shellQuote(c.writeFile)} >/dev/null`
}

/** What needs privilege and why, for the line under a command. */
function privilegeNote(plan: SetupOptions, action: SetupAction): string | undefined {
  if (!action.sudo) return undefined
  return plan.os === 'win32'
    ? `run PowerShell as Administrator: ${action.why ?? SUDO_WHY}`
    : `sudo: ${action.why ?? SUDO_WHY}`
}

/** How the user runs this plan and its undo (with the same flags), for the last line of the text. */
export interface SelfCommands {
  apply: string
  undo: string
}

/** The fix for hosts dns-setup does not route: exact lines in /etc/hosts while serve runs. */
export const HOSTS_FILE_FIX =
  'run `kubectl expose-lb serve --hosts-file`, which keeps exact names in /etc/hosts while it runs'

/**
 * What dns-setup does with the cluster's Ingress and route hosts, as lines: the ones routed (each with a routing
 * domain of its own), and the ones not routed yet with why and what to do instead. Empty without hosts.
 */
export function renderHostRouting(routing: HostRouting): string[] {
  const lines: string[] = []
  if (routing.routed.length > 0)
    lines.push(`Ingress/route hosts routed (each alone, not its parent domain): ${routing.routed.join(', ')}`)
  if (routing.covered.length > 0)
    lines.push(`Ingress/route hosts covered by the names above: ${routing.covered.join(', ')}`)
  if (routing.notRouted.length > 0) {
    const names = routing.notRouted.map((n) => `${n.host} (${n.why})`).join(', ')
    lines.push(`not routed yet: ${names} — ${HOSTS_FILE_FIX}`)
  }
  return lines
}

/** The plan as text for stdout: numbered steps with their commands, how to undo them, and the notes. */
export function renderPlan(plan: SetupPlan, self: SelfCommands, routing?: HostRouting): string {
  const target = hostPort(plan.dnsAddress, plan.dnsPort)
  const what = plan.hosts?.length
    ? `${plan.domain} and ${plan.hosts.length} Ingress/route host${plan.hosts.length === 1 ? '' : 's'}`
    : plan.domain
  const lines = [`Send only ${what} to serve's DNS responder at ${target} (${plan.os}, ${plan.resolver}):`, '']
  const hostLines = routing ? renderHostRouting(routing) : []
  if (hostLines.length > 0) lines.push(...hostLines.map((l) => `  ${l}`), '')
  plan.steps.forEach((s, i) => {
    lines.push(`  ${i + 1}. ${s.description}`, `     ${formatCommand(s)}`)
    const why = privilegeNote(plan, s)
    if (why) lines.push(`     (${why})`)
  })
  const undo: string[] = []
  for (const s of [...plan.steps].reverse()) {
    const text = formatCommand(s.undo)
    if (!undo.includes(text)) undo.push(text)
  }
  lines.push('', 'To revert it by hand:', ...undo.map((u) => `  ${u}`))
  if (plan.notes.length > 0) {
    lines.push('', 'Notes:')
    for (const note of plan.notes) {
      const [first, ...rest] = note.split('\n')
      lines.push(`  - ${first}`, ...rest.map((r) => `    ${r}`))
    }
  }
  lines.push('')
  if (plan.blocker) lines.push(`Cannot be applied as asked: ${plan.blocker}`)
  else
    lines.push(
      `\`${self.apply}\` runs these steps on this machine and records them; \`${self.undo}\` reverts exactly what it did.`,
    )
  return lines.join('\n')
}
