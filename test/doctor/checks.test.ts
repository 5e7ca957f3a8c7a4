// doctor's checks against real servers on loopback (port 0, cleanup registered at creation). Addresses under
// 127.0.27.200+ belong to this file: nothing listens there unless a test starts it.
import dgram from 'node:dgram'
import http from 'node:http'
import net from 'node:net'
import {describe, expect, it, onTestFinished} from 'vitest'
import {startDnsServer} from '../../src/dns/server.js'
import {
  answersAsServe,
  checkDnsPort,
  checkHttpPort,
  checkNodes,
  checkOsResolver,
  checkResponder,
  isAuthoritativeSoa,
  soaQuery,
} from '../../src/doctor/probes.js'
import {
  buildDoctorReport,
  checkCluster,
  formatDoctorReport,
  HOSTS_CHECKED,
  hostsResult,
  hostsToCheck,
  nodeProbes,
  pickProbeName,
  serviceResult,
  type DoctorOptions,
} from '../../src/doctor/report.js'
import {ExposeLbError} from '../../src/errors.js'
import {buildPlan} from '../../src/plan/plan.js'
import {serviceLocation} from '../../src/service/plan.js'
import type {Node, Service} from '../../src/plan/types.js'
import {makeNode, makeService, makeSlice, makeSnapshot, nodePortService} from '../builders.js'

const HOST = '127.0.0.1'
/** Nothing listens on this address: a port that is busy on 127.0.0.1 is free (and closed) here. */
const QUIET = '127.0.27.200'

function planOf(services: Service[], nodes: Node[]) {
  return buildPlan(makeSnapshot({services, nodes}), {domain: 'kube.internal', addressType: 'InternalIP'})
}

async function dnsServer(hosts: Array<[string, string[]]> = [['radarr.kube.internal', ['127.84.0.9']]]) {
  const server = await startDnsServer({
    address: HOST,
    port: 0,
    records: {domain: 'kube.internal', hosts: new Map(hosts), srv: new Map()},
  })
  onTestFinished(() => server.close())
  return server
}

async function tcpServer(address: string, onConnection: (s: net.Socket) => void = (s) => s.end()) {
  const server = net.createServer(onConnection)
  await new Promise<void>((resolve) => server.listen(0, address, resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as net.AddressInfo).port
}

async function udpSocket(onMessage?: (msg: Buffer, reply: (b: Buffer) => void) => void) {
  const socket = dgram.createSocket('udp4')
  if (onMessage) socket.on('message', (msg, r) => onMessage(msg, (b) => socket.send(b, r.port, r.address)))
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve))
  onTestFinished(() => new Promise<void>((resolve) => socket.close(() => resolve())))
  return socket.address().port
}

async function httpServer(handler: http.RequestListener) {
  const server = http.createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as net.AddressInfo).port
}

function options(overrides: Partial<DoctorOptions> = {}): DoctorOptions {
  return {domain: 'kube.internal', dnsAddress: HOST, dnsPort: 53, httpPort: 80, timeoutMs: 500, ...overrides}
}

describe('pickProbeName and nodeProbes', () => {
  const nodes = [makeNode('node-a', '192.168.1.41'), makeNode('node-b', '192.168.1.42')]

  it('picks the shortest name of the first proxied Service', () => {
    const plan = planOf(
      [
        makeService('lb', {type: 'LoadBalancer', namespace: 'a', loadBalancerIngress: [{ip: '192.168.1.240'}]}),
        nodePortService('radarr', [{nodePort: 30878}], {namespace: 'media'}),
        makeService('internal'),
      ],
      nodes,
    )
    expect(pickProbeName(plan)).toBe('radarr.kube.internal')
    expect(pickProbeName(planOf([makeService('internal')], nodes))).toBeUndefined()
  })

  it('probes one TCP NodePort per node address, externalTrafficPolicy Cluster first, healthz for UDP-only', () => {
    // a-local sorts first and targets node-a, but kube-proxy drops its traffic on nodes without an endpoint.
    const plan = buildPlan(
      makeSnapshot({
        services: [
          nodePortService('a-local', [{nodePort: 31000}], {externalTrafficPolicy: 'Local'}),
          nodePortService('b-web', [{nodePort: 30080}]),
          nodePortService('c-dns', [{nodePort: 30053, protocol: 'UDP'}]),
        ],
        nodes: [...nodes, makeNode('node-u', '192.168.1.43')],
        endpointSlices: [makeSlice('a-local', [{nodeName: 'node-a'}])],
      }),
      {domain: 'kube.internal', addressType: 'InternalIP'},
    )
    expect(plan.services[0]!.ports[0]!.targets).toEqual([{node: 'node-a', address: '192.168.1.41', port: 31000}])
    const udpOnly = planOf([nodePortService('c-dns', [{nodePort: 30053, protocol: 'UDP'}])], nodes)
    expect(nodeProbes(plan)).toEqual([
      {node: 'node-a', address: '192.168.1.41', port: 30080},
      {node: 'node-b', address: '192.168.1.42', port: 30080},
      {node: 'node-u', address: '192.168.1.43', port: 30080},
    ])
    expect(nodeProbes(udpOnly)).toEqual([
      {node: 'node-a', address: '192.168.1.41', port: 10256},
      {node: 'node-b', address: '192.168.1.42', port: 10256},
    ])
  })
})

describe('checkCluster', () => {
  it('counts Services and nodes, or reports why the cluster could not be read', () => {
    const plan = planOf(
      [nodePortService('radarr', [{nodePort: 30878}]), makeService('db')],
      [makeNode('a', '10.0.0.1')],
    )
    expect(checkCluster({context: 'homelab', server: 'https://10.0.0.1:6443', plan})).toEqual({
      name: 'cluster',
      status: 'ok',
      detail: 'context "homelab" at https://10.0.0.1:6443: 2 Services (1 mapped), 1 nodes',
    })
    const error = new ExposeLbError('unreachable', 'cannot reach the API server of context "homelab": ECONNREFUSED')
    expect(checkCluster({error})).toMatchObject({
      status: 'fail',
      detail: 'cannot reach the API server of context "homelab": ECONNREFUSED',
    })
  })
})

describe('checkResponder', () => {
  it('ok: the responder answers the name', async () => {
    const server = await dnsServer()
    const {result, addresses} = await checkResponder('radarr.kube.internal', options({dnsPort: server.udpPort}))
    expect(result).toEqual({
      name: 'responder',
      status: 'ok',
      detail: `127.0.0.1:${server.udpPort} answers radarr.kube.internal with 127.84.0.9`,
    })
    expect(addresses).toEqual(['127.84.0.9'])
  })

  it('fail: the responder does not know the name', async () => {
    const server = await dnsServer()
    const {result} = await checkResponder('sonarr.kube.internal', options({dnsPort: server.udpPort}))
    expect(result).toMatchObject({
      status: 'fail',
      detail: `the responder at 127.0.0.1:${server.udpPort} does not know sonarr.kube.internal (ENOTFOUND)`,
      fix: expect.stringContaining('pass doctor the same --context, --domain, -n and -l as serve'),
    })
  })

  it('fail: a server that refuses the zone is not serve', async () => {
    const server = await dnsServer()
    const {result} = await checkResponder('radarr.other.zone', options({dnsPort: server.udpPort}))
    expect(result).toMatchObject({
      status: 'fail',
      detail: `the DNS server at 127.0.0.1:${server.udpPort} refuses radarr.other.zone: it is not serve, or serve runs with another --domain`,
    })
  })

  it('fail: nothing answers', async () => {
    const server = await dnsServer()
    const {result, addresses} = await checkResponder(
      'radarr.kube.internal',
      options({dnsAddress: QUIET, dnsPort: server.udpPort}),
    )
    expect(result).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(new RegExp(`^nothing answers DNS at 127\\.0\\.27\\.200:${server.udpPort} \\(E`)),
      fix: expect.stringMatching(/^start `kubectl expose-lb serve`/),
    })
    expect(addresses).toBeUndefined()
  })

  it('skip: no mapped Service', async () => {
    expect((await checkResponder(undefined, options())).result.status).toBe('skip')
  })
})

/** A planned Ingress host, received by Traefik's Service unless `service` is false. */
const ingressHost = (name: string, service = true) => ({
  host: name,
  source: {kind: 'Ingress' as const, namespace: 'media', name: 'web'},
  tls: false,
  ...(service ? {service: {namespace: 'kube-system', name: 'traefik'}} : {}),
  targets: [],
  warnings: [],
})

/** A plan of only these hosts. */
const hostsPlan = (hosts: ReturnType<typeof ingressHost>[]) => ({
  domain: 'kube.internal',
  nodes: [],
  services: [],
  warnings: [],
  hosts,
})

describe('hosts (Ingress and route hosts)', () => {
  it('looks up exact hosts that have a Service, at most HOSTS_CHECKED', () => {
    const host = ingressHost
    const plan = hostsPlan([
      host('a.example.com'),
      host('*.apps.example.com'),
      host('lost.example.com', false),
      host('b.example.com'),
    ])
    expect(hostsToCheck(plan)).toEqual(['a.example.com', 'b.example.com'])
    const many = {...plan, hosts: Array.from({length: HOSTS_CHECKED + 3}, (_, i) => host(`h${i}.example.com`))}
    expect(hostsToCheck(many)).toHaveLength(HOSTS_CHECKED)
  })

  it('ok when the OS resolver agrees with serve for every host; else a warning naming the others', () => {
    const ok = {name: 'os-resolver' as const, status: 'ok' as const, detail: ''}
    const failed = {name: 'os-resolver' as const, status: 'fail' as const, detail: ''}
    expect(hostsResult([{host: 'a.example.com', result: ok}])).toEqual({
      name: 'hosts',
      status: 'ok',
      detail: 'the OS resolver gives 1 Ingress/route host as serve answers them',
    })
    expect(
      hostsResult([
        {host: 'a.example.com', result: ok},
        {host: 'b.example.com', result: failed},
      ]),
    ).toEqual({
      name: 'hosts',
      status: 'warn',
      detail: 'not routed to serve yet: b.example.com',
      fix: "run serve with --hosts-file, or run `kubectl expose-lb dns-setup --apply`, which sends each host to serve's responder",
    })
  })

  it("names each host not routed yet with its fix: dns-setup (again, for new hosts), the hosts file, or serve's address", () => {
    const ok = {name: 'os-resolver' as const, status: 'ok' as const, detail: ''}
    const failed = {name: 'os-resolver' as const, status: 'fail' as const, detail: ''}
    const plan = hostsPlan(
      ['radarr.home.example.com', 'sonarr.home.example.com', 'nas', '*.apps.example.com'].map((h) => ingressHost(h)),
    )
    const options = {domain: 'kube.internal', dnsAddress: '127.0.0.1', dnsPort: 5353, httpPort: 8080}
    const outcomes = [
      {host: 'radarr.home.example.com', result: failed},
      {host: 'sonarr.home.example.com', result: failed},
      {host: 'nas', result: failed},
    ]
    // dns-setup ran before sonarr and the wildcard existed.
    expect(
      hostsResult(outcomes, {plan, options, recorded: {domain: 'kube.internal', hosts: ['radarr.home.example.com']}}),
    ).toEqual({
      name: 'hosts',
      status: 'warn',
      detail: 'not routed to serve yet: radarr.home.example.com, sonarr.home.example.com, nas, *.apps.example.com',
      fix: '`kubectl expose-lb dns-setup --apply --dns-port 5353` again adds sonarr.home.example.com, *.apps.example.com (new since it last ran); nas (a single-label name, which resolvers do not send to a DNS server): run serve with --hosts-file; dns-setup routed radarr.home.example.com, yet the OS resolver does not answer as serve: check that serve listens at the --dns-address and --dns-port dns-setup was given',
    })
    // Never ran: it routes all it can.
    expect(hostsResult(outcomes.slice(0, 1), {plan, options})).toMatchObject({
      detail: 'not routed to serve yet: radarr.home.example.com, *.apps.example.com',
      fix: '`kubectl expose-lb dns-setup --apply --dns-port 5353` routes radarr.home.example.com, *.apps.example.com (or run serve with --hosts-file)',
    })
    // Everything resolves and the wildcard is recorded: ok.
    expect(
      hostsResult([{host: 'radarr.home.example.com', result: ok}], {
        plan: {...plan, hosts: plan.hosts.filter((h) => h.host !== 'nas' && !h.host.startsWith('sonarr'))},
        options,
        recorded: {domain: 'kube.internal', hosts: ['*.apps.example.com', 'radarr.home.example.com']},
      }),
    ).toMatchObject({status: 'ok'})
  })
})

describe('checkOsResolver', () => {
  const lookupGives = (addresses: string[]) => () => Promise.resolve(addresses)
  const FIX =
    "send kube.internal to serve's responder with `kubectl expose-lb dns-setup --apply --dns-port 5353`, or run serve with --hosts-file"

  it.each([
    {
      case: 'the OS resolver gives serve’s address',
      lookup: lookupGives(['127.84.0.9']),
      expected: {status: 'ok', detail: 'the OS resolver gives radarr.kube.internal → 127.84.0.9, as serve does'},
    },
    {
      case: 'something else answers first',
      lookup: lookupGives(['10.1.2.3']),
      expected: {
        status: 'fail',
        detail: 'the OS resolver gives radarr.kube.internal → 10.1.2.3, but serve answers 127.84.0.9',
        fix: `something else answers first (a stale hosts-file entry, another DNS server): check /etc/hosts, then ${FIX}`,
      },
    },
    {
      case: 'the OS resolver does not know the name',
      lookup: () => Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), {code: 'ENOTFOUND'})),
      expected: {status: 'fail', detail: 'the OS resolver does not know radarr.kube.internal (ENOTFOUND)', fix: FIX},
    },
    {
      case: 'the OS resolver hangs',
      lookup: () => new Promise<string[]>(() => {}),
      expected: {
        status: 'fail',
        detail: 'the OS resolver does not know radarr.kube.internal (no answer in 0.05 s)',
        fix: FIX,
      },
    },
  ])('$case', async ({lookup, expected}) => {
    const result = await checkOsResolver(
      'radarr.kube.internal',
      ['127.84.0.9'],
      options({dnsPort: 5353, lookup, lookupTimeoutMs: 50}),
    )
    expect(result).toEqual({name: 'os-resolver', ...expected})
  })

  it('is skipped when serve did not answer', async () => {
    expect((await checkOsResolver('radarr.kube.internal', undefined, options())).status).toBe('skip')
  })
})

describe('checkNodes', () => {
  it('names the nodes that refuse a connection; warn while some answer, fail when none do', async () => {
    const port = await tcpServer('127.0.27.201')
    const nodes = [makeNode('node-a', '127.0.27.201'), makeNode('node-b', '127.0.27.202')]
    const result = await checkNodes(planOf([nodePortService('web', [{nodePort: port}])], nodes), {timeoutMs: 500})
    expect(result).toEqual({
      name: 'nodes',
      status: 'warn',
      detail: `unreachable from here: node-b (127.0.27.202:${port}: connection refused); reachable: node-a`,
      fix: expect.stringContaining('--address-type ExternalIP'),
    })
    const none = await checkNodes(planOf([nodePortService('web', [{nodePort: port}])], nodes.slice(1)), {})
    expect(none.status).toBe('fail')
    const all = await checkNodes(planOf([nodePortService('web', [{nodePort: port}])], nodes.slice(0, 1)), {})
    expect(all).toEqual({name: 'nodes', status: 'ok', detail: '1 node address reachable on a NodePort: node-a'})
  })

  it('is skipped without node targets', async () => {
    expect((await checkNodes(planOf([makeService('db')], []), {})).status).toBe('skip')
  })
})

describe('serve identification', () => {
  it('an authoritative SOA answer for the zone apex is serve; REFUSED or silence is not', async () => {
    const server = await dnsServer()
    expect(await answersAsServe(HOST, server.udpPort, 'kube.internal', 1000)).toBe(true)
    expect(await answersAsServe(HOST, server.udpPort, 'other.zone', 1000)).toBe(false)
    const silent = await udpSocket()
    expect(await answersAsServe(HOST, silent, 'kube.internal', 100)).toBe(false)
  })

  it('isAuthoritativeSoa reads the header, skips the question and checks the first answer type', () => {
    const query = soaQuery(0x1234, 'kube.internal')
    expect(query.toString('hex')).toBe('123400000001000000000000046b75626508696e7465726e616c0000060001')
    const answer = Buffer.concat([
      Buffer.from('1234 8400 0001 0001 0000 0000'.replaceAll(' ', ''), 'hex'),
      query.subarray(12),
      Buffer.from('c00c 0006 0001 00000005 0000'.replaceAll(' ', ''), 'hex'),
    ])
    expect(isAuthoritativeSoa(answer, 0x1234)).toBe(true)
    expect(isAuthoritativeSoa(answer, 0x1235)).toBe(false)
    const notAuthoritative = Buffer.from(answer)
    notAuthoritative.writeUInt16BE(0x8000, 2)
    expect(isAuthoritativeSoa(notAuthoritative, 0x1234)).toBe(false)
    expect(isAuthoritativeSoa(answer.subarray(0, answer.length - 12), 0x1234)).toBe(false)
  })
})

describe('checkDnsPort and checkHttpPort', () => {
  it('ok: held by serve', async () => {
    const dns = await dnsServer()
    const result = await checkDnsPort(options({dnsPort: dns.udpPort}))
    expect(result).toEqual({
      name: 'dns-port',
      status: 'ok',
      detail: `127.0.0.1:${dns.udpPort} (udp, tcp) is held by serve`,
    })
    const web = await httpServer((_req, res) => {
      res.writeHead(404, {'content-type': 'application/json'})
      res.end(JSON.stringify({error: 'no service is named "x"', names: ['radarr.kube.internal']}))
    })
    expect(await checkHttpPort(options({httpPort: web}))).toEqual({
      name: 'http-port',
      status: 'ok',
      detail: `127.0.0.1:${web} (tcp) is held by serve`,
    })
  })

  it('ok: free', async () => {
    // Busy on 127.0.0.1 only, so the same number is free on another loopback address.
    const busy = await tcpServer(HOST)
    expect(await checkHttpPort(options({dnsAddress: QUIET, httpPort: busy}))).toEqual({
      name: 'http-port',
      status: 'ok',
      detail: `127.0.27.200:${busy} (tcp) is free for serve`,
    })
  })

  it('fail: used by another program, with how to find it and the other port to use', async () => {
    const other = await udpSocket((msg, reply) => reply(msg)) // echoes: not a DNS answer
    const result = await checkDnsPort(options({dnsPort: other}))
    expect(result).toMatchObject({
      status: 'fail',
      detail: `127.0.0.1:${other} (udp, tcp) is used by another program`,
      fix: expect.stringContaining(
        `use --dns-port 5353 for serve, dns-setup and doctor (systemd-resolved's stub on 127.0.0.53 is fine, but 127.0.0.1:${other} must be free)`,
      ),
    })
    const web = await httpServer((_req, res) => res.end('hello'))
    expect(await checkHttpPort(options({httpPort: web}))).toMatchObject({
      status: 'fail',
      detail: `127.0.0.1:${web} (tcp) is used by another program`,
      fix: expect.stringContaining('or use --http-port 8080 for serve and doctor'),
    })
    const api = await httpServer((_req, res) => {
      res.writeHead(404, {'content-type': 'application/json'})
      res.end(JSON.stringify({error: 'not found'}))
    })
    expect(await checkHttpPort(options({httpPort: api}))).toMatchObject({
      status: 'fail',
      detail: `127.0.0.1:${api} (tcp) is used by another program`,
    })
  })

  it('ok: held by serve, whose 404 leaves the names out for the probe’s name', async () => {
    const web = await httpServer((_req, res) => {
      res.writeHead(404, {'content-type': 'application/json'})
      res.end(JSON.stringify({error: 'no service is named "expose-lb-doctor.invalid"'}))
    })
    expect(await checkHttpPort(options({httpPort: web}))).toMatchObject({
      status: 'ok',
      detail: `127.0.0.1:${web} (tcp) is held by serve`,
    })
  })

  it('fail: the address is not on this machine', async () => {
    expect(await checkHttpPort(options({dnsAddress: '192.0.2.1', httpPort: 8080}))).toMatchObject({
      status: 'fail',
      detail: '192.0.2.1 is not an address of this machine',
    })
  })
})

describe('serviceResult', () => {
  const unit = serviceLocation('linux', 'user', {name: 'ana', uid: 1000, home: '/home/ana'})
  it.each([
    {
      case: 'ok: installed and running',
      found: {installed: true as const, location: unit, running: true, state: 'active'},
      options: {},
      result: {
        name: 'service',
        status: 'ok',
        detail: 'the systemd user unit /home/ana/.config/systemd/user/kubectl-expose-lb.service runs serve (active)',
      },
    },
    {
      case: 'skip: not installed, with the install command for the ports doctor checked',
      found: {installed: false as const},
      options: {dnsPort: 5353, httpPort: 8080},
      result: {
        name: 'service',
        status: 'skip',
        detail: 'serve is not installed to run at login',
        fix: 'kubectl expose-lb service install --dns-port 5353 --http-port 8080',
      },
    },
    {
      case: 'warn: installed but not running, with where to read why',
      found: {installed: true as const, location: unit, running: false, state: 'failed'},
      options: {domain: 'home.lab'},
      result: {
        name: 'service',
        status: 'warn',
        detail:
          'the systemd user unit /home/ana/.config/systemd/user/kubectl-expose-lb.service is installed but serve does not run (failed)',
        fix: 'see why with `journalctl --user -u kubectl-expose-lb.service`; once fixed, `kubectl expose-lb service install --domain home.lab` starts it again',
      },
    },
    {
      case: 'warn: the manager could not be asked',
      found: {error: new Error('cannot read /etc/systemd/system/kubectl-expose-lb.service: EACCES')},
      options: {},
      result: {
        name: 'service',
        status: 'warn',
        detail:
          'could not tell whether serve runs as a service: cannot read /etc/systemd/system/kubectl-expose-lb.service: EACCES',
      },
    },
  ])('$case', ({found, options: overrides, result}) => {
    expect(serviceResult(found, options(overrides))).toEqual(result)
  })
})

describe('formatDoctorReport', () => {
  it('one line per check, the fix under those not ok, and the failures counted', () => {
    const report = buildDoctorReport(
      [
        {name: 'cluster', status: 'ok', detail: 'context "demo"'},
        {name: 'os-resolver', status: 'fail', detail: 'does not know radarr.kube.internal', fix: 'run dns-setup'},
        {name: 'nodes', status: 'skip', detail: 'needs the cluster'},
        {name: 'service', status: 'skip', detail: 'not installed', fix: 'kubectl expose-lb service install'},
      ],
      options(),
    )
    expect(report).toMatchObject({kind: 'DoctorReport', dns: '127.0.0.1:53', http: '127.0.0.1:80', failed: 1})
    expect(formatDoctorReport(report)).toBe(
      [
        'ok    cluster      context "demo"',
        'FAIL  os-resolver  does not know radarr.kube.internal',
        '                   fix: run dns-setup',
        'skip  nodes        needs the cluster',
        'skip  service      not installed',
        '                   fix: kubectl expose-lb service install',
      ].join('\n'),
    )
  })
  it('escapes control characters that node names from the cluster carry', () => {
    const report = buildDoctorReport(
      [
        {
          name: 'nodes',
          status: 'warn',
          detail: 'unreachable from here: node\u001b]0;x\u0007 (10.0.0.1:30080)',
          fix: 'a\u202eb',
        },
      ],
      options(),
    )
    expect(formatDoctorReport(report)).toBe(
      ['warn  nodes  unreachable from here: node\\x1b]0;x\\x07 (10.0.0.1:30080)', '             fix: a\\u202eb'].join(
        '\n',
      ),
    )
  })
})
