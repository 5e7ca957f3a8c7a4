// Safe defaults: the minimal ClusterRole is enough (and exactly what is needed), credentials never reach logs or
// errors, serve listens on loopback only unless told otherwise, and its DNS answers only its zone.
import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {DETECTION_RULES, PENDING_RULES, REQUIRED_RULES} from '../../src/kube/rbac.js'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {buildQuery, T} from '../dns/helpers.js'
import {kubectl, writeKubeconfig} from './helpers.js'
import {startServe, udpExchange} from './serve-helpers.js'

const tls = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url), 'utf8')
const SECRET = 'sekrit-token-0123456789abcdef'
let sim: SimServer

beforeAll(async () => {
  sim = await startSimServer({
    objects: loadObjectsFromYaml(HOMELAB_YAML.replaceAll('127.0.10.', '127.0.24.')),
    tls: {cert: tls('server.crt'), key: tls('server.key')},
    tokens: {[SECRET]: 'minimal', 'required-only': 'required', 'no-rights': 'nobody'},
    rbac: {minimal: [...REQUIRED_RULES, ...DETECTION_RULES, ...PENDING_RULES], required: REQUIRED_RULES, nobody: []},
  })
})
afterAll(() => sim.close())

const config = (token: string) => writeKubeconfig(sim.kubeconfig({token, caPem: tls('ca.crt')}))

describe('the minimal ClusterRole', () => {
  it('lets list read everything it uses: no forbidden read, no warning about detection', async () => {
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', config(SECRET), '-o', 'json'])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).warnings).toEqual([])
    expect(run.stderr).not.toMatch(/forbidden/)
    expect(sim.requests.filter((r) => r.user === 'minimal' && r.status === 403)).toEqual([])
  })

  it('lets serve run with only the required rules (Services, Nodes, EndpointSlices)', async () => {
    const serve = await startServe(['--kubeconfig', config('required-only'), '--ip-range', '127.80.0.0/16'])
    try {
      expect(await serve.resolver.resolve4('radarr.kube.internal')).toEqual([expect.stringMatching(/^127\.80\./)])
      expect(sim.requests.filter((r) => r.user === 'required' && r.status === 403)).toEqual([])
    } finally {
      expect(await serve.stop()).toBe(0)
    }
  })

  it('without it, serve fails with the 403 line and the role to grant', async () => {
    const run = await kubectl([
      'expose-lb',
      'serve',
      '--kubeconfig',
      config('no-rights'),
      '--dns-port',
      '0',
      '--http-port',
      '0',
    ])
    expect(run.code).toBe(8)
    expect(run.stderr).toMatch(/^error: not allowed to list .* \(403 Forbidden, context "sim"\)/)
    expect(run.stderr).toContain('kind: ClusterRole')
  })
})

describe('credentials', () => {
  it('never appear in logs or errors, even with -v', async () => {
    const runs = await Promise.all([
      kubectl(['expose-lb', 'list', '--kubeconfig', writeKubeconfig(sim.kubeconfig({token: SECRET})), '-v']), // TLS failure
      kubectl([
        'expose-lb',
        'list',
        '--kubeconfig',
        writeKubeconfig(sim.kubeconfig({token: SECRET, caPem: tls('ca.crt')}).replace(sim.url, 'https://127.0.0.1:1')),
        '-v',
      ]),
      kubectl(['expose-lb', 'list', '--kubeconfig', config(SECRET), '-v', '-o', 'yaml']),
    ])
    expect(runs.map((r) => r.code)).toEqual([6, 5, 0])
    for (const r of runs) expect(r.stdout + r.stderr).not.toContain(SECRET)
  })

  it('never appear in serve logs when the API server goes away', async () => {
    const serve = await startServe(['--kubeconfig', config(SECRET), '--ip-range', 'none', '-v'])
    try {
      sim.setFault(() => ({status: 500}))
      sim.dropWatches()
      await new Promise((r) => setTimeout(r, 1500))
      sim.setFault(undefined)
    } finally {
      await serve.stop()
    }
    expect(serve.stderr()).toMatch(/watch lost/)
    expect(serve.stdout() + serve.stderr()).not.toContain(SECRET)
  })
})

describe('network exposure', () => {
  it('listens on loopback only by default and warns when --listen names another address', async () => {
    const local = await startServe(['--kubeconfig', config(SECRET), '--ip-range', 'none'])
    await local.stop()
    expect(local.stderr()).not.toMatch(/not a loopback address/)
    const wide = await startServe(
      // 0.0.0.0 needs an address to give other machines (LAN mode); 192.0.2.10 is TEST-NET-1, never contacted.
      ['--kubeconfig', config(SECRET), '--ip-range', 'none', '--listen', '0.0.0.0', '--advertise', '192.0.2.10'],
      '0.0.0.0',
    )
    await wide.stop()
    expect(wide.stderr()).toMatch(
      /^warning: --listen 0\.0\.0\.0 is not a loopback address: anyone on that network reaches the cluster's Services through it$/m,
    )
  })

  it('answers only its zone: REFUSED and no answer for outside names, and no amplification', async () => {
    const serve = await startServe(['--kubeconfig', config(SECRET), '--ip-range', 'none'])
    try {
      for (const [name, type] of [
        ['example.com', T.A],
        ['kube.internal.example.com', T.ANY],
        ['.', T.NS],
        ['internal', T.ANY],
      ] as const) {
        const query = buildQuery(name, type, {edns: [{udpPayloadSize: 4096}]})
        const reply = await udpExchange('127.0.0.1', serve.dnsPort, query)
        expect(reply[3]! & 0x0f).toBe(5) // REFUSED
        expect(reply.readUInt16BE(6)).toBe(0) // no answer section
        expect(reply.readUInt16BE(8)).toBe(0) // no authority either
        expect(reply.length).toBeLessThanOrEqual(query.length + 16)
      }
      const inZone = buildQuery('kube.internal', T.ANY, {edns: [{udpPayloadSize: 4096}]})
      expect((await udpExchange('127.0.0.1', serve.dnsPort, inZone)).length).toBeLessThan(inZone.length * 8)
    } finally {
      await serve.stop()
    }
  })
})

describe('DNS rebinding', () => {
  let demo: Demo
  beforeAll(async () => {
    demo = await startDemo({nodePrefix: '127.0.32.'})
  })
  afterAll(() => demo?.close())

  /** curl's body and status code for `url` with this Host header. */
  const curl = async (url: string, host: string, ...args: string[]): Promise<string> =>
    (
      await promisify(execFile)('curl', [
        '-s',
        '--max-time',
        '5',
        '-H',
        `Host: ${host}`,
        '-w',
        ' %{http_code}',
        ...args,
        url,
      ])
    ).stdout

  it('a per-service address answers 421 to a request for another site, unless serve runs with --no-host-check', async () => {
    for (const [flags, evil] of [
      [
        [],
        /^misdirected request: "rebind\.evil\.example:7878" is not a name of media\/radarr \(serve --no-host-check allows any\)\n 421$/,
      ],
      [['--no-host-check'], /"service":"media\/radarr"[\s\S]* 200$/],
    ] as const) {
      const serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', '127.81.0.0/16', ...flags])
      try {
        const [address] = await serve.resolver.resolve4('radarr.kube.internal')
        const url = `http://${address}:7878/`
        expect(await curl(url, 'rebind.evil.example:7878')).toMatch(evil)
        for (const host of ['radarr.kube.internal:7878', 'radarr.media.localhost', `${address}:7878`]) {
          expect([host, await curl(url, host)]).toEqual([
            host,
            expect.stringMatching(/"service":"media\/radarr"[\s\S]* 200$/),
          ])
        }
      } finally {
        expect(await serve.stop()).toBe(0)
      }
    }
  })

  it('the router lists the names on its 404 page to loopback and zone names only', async () => {
    const serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', 'none'])
    try {
      const url = `http://127.0.0.1:${serve.httpPort}/`
      const json = ['-H', 'Accept: application/json']
      expect(await curl(url, 'rebind.evil.example', ...json)).toBe(
        '{"error":"no service is named \\"rebind.evil.example\\""}\n 404',
      )
      for (const host of [`localhost:${serve.httpPort}`, 'nope.localhost', 'nope.kube.internal']) {
        expect([host, await curl(url, host, ...json)]).toEqual([
          host,
          expect.stringMatching(/"names":\[[^\]]*"radarr\.kube\.internal"[\s\S]* 404$/),
        ])
      }
    } finally {
      expect(await serve.stop()).toBe(0)
    }
  })
})
