// Ingress and Gateway API hosts through `serve`, end to end: the real executable against the simulated API server
// with real manifests (test/fixtures/ingress), loopback nodes whose controller ports serve HTTPS with a certificate
// made here by openssl, and real clients: dig, curl (by Host, --resolve), openssl s_client.
import {execFile} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {chromium} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {kubectl, writeKubeconfig} from './helpers.js'
import {startServe, waitFor, type ServeProcess} from './serve-helpers.js'

const run = promisify(execFile)
const NODES = '127.0.31.' // this file's loopback nodes
const fixture = (file: string) => readFileSync(new URL(`../fixtures/ingress/${file}`, import.meta.url), 'utf8')
const MANIFESTS = [
  fixture('serve-cluster.yaml'),
  fixture('01-k3s-bundled-traefik-nodeport-ytdl.yaml'),
  fixture('07-ingress-nginx-tls-anchors-khuedoan.yaml'),
].join('\n---\n')

let dir: string
let demo: Demo
let serve: ServeProcess
let httpsPort: number

/** A test CA and one node certificate for every host the tests open over TLS (openssl, at test time). */
async function makeCertificates(into: string): Promise<{cert: string; key: string}> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await run(
    'openssl',
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=expose-lb test CA'],
    {cwd: into},
  )
  await run('openssl', ['req', ...ec, '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=ingress'], {cwd: into})
  const sans =
    'subjectAltName=DNS:radarr.home.example.com,DNS:blog.khuedoan.com,DNS:*.apps.example.com,DNS:vault.tls.example.com,DNS:homer.localhost'
  await run('sh', ['-c', `printf '%s\\n' '${sans}' > san.ext`], {cwd: into})
  await run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      'node.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'node.crt',
      '-days',
      '1',
      '-extfile',
      'san.ext',
    ],
    {cwd: into},
  )
  return {cert: readFileSync(join(into, 'node.crt'), 'utf8'), key: readFileSync(join(into, 'node.key'), 'utf8')}
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'expose-lb-ingress-'))
  const tls = await makeCertificates(dir)
  demo = await startDemo({nodePrefix: NODES, extraYaml: MANIFESTS, tls})
  serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', '127.79.0.0/16', '--https-port', '0'])
  httpsPort = Number(/HTTPS \(SNI\) on 127\.0\.0\.1:(\d+)/.exec(serve.stderr())![1])
}, 60_000)
afterAll(async () => {
  await serve?.stop()
  await demo?.close()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

const dig = async (...args: string[]) =>
  (await run('dig', ['@127.0.0.1', '-p', String(serve.dnsPort), '+time=2', '+tries=1', ...args])).stdout.trim()

/** curl with the test CA; returns the body (JSON from the node). */
async function curl(...args: string[]): Promise<Record<string, unknown>> {
  const {stdout} = await run('curl', ['-sS', '--max-time', '5', '--cacert', join(dir, 'ca.crt'), ...args])
  return JSON.parse(stdout) as Record<string, unknown>
}

describe('list', () => {
  it('prints a HOSTS section and the hosts array, each host with its receiving Service', async () => {
    const config = writeKubeconfig(demo.sim.kubeconfig())
    const table = await kubectl(['expose-lb', 'list', '--kubeconfig', config])
    expect(table.code).toBe(0)
    const hosts = table.stdout.slice(table.stdout.indexOf('\nHOSTS\n'))
    expect(hosts).toMatch(
      /radarr\.home\.example\.com +Ingress\/media\/radarr +yes +kube-system\/traefik +node-port +127\.0\.31\.1:32080/,
    )
    expect(hosts).toMatch(
      /blog\.khuedoan\.com +Ingress\/default\/blog +yes +ingress-nginx\/ingress-nginx-controller +node-port/,
    )
    expect(hosts).toMatch(/\*\.apps\.example\.com +HTTPRoute\/apps\/apps +no +gateway\/cilium-gateway-edge +lb-pending/)
    const json = JSON.parse((await kubectl(['expose-lb', 'list', '--kubeconfig', config, '-o', 'json'])).stdout)
    expect(json.hosts.find((h: {host: string}) => h.host === 'vault.tls.example.com')).toEqual({
      host: 'vault.tls.example.com',
      source: {kind: 'TLSRoute', namespace: 'vault', name: 'vault'},
      tls: true,
      service: {namespace: 'gateway', name: 'cilium-gateway-edge'},
      exposure: 'lb-pending',
      targets: [
        '127.0.31.1:30280',
        '127.0.31.2:30280',
        '127.0.31.3:30280',
        '127.0.31.1:30643',
        '127.0.31.2:30643',
        '127.0.31.3:30643',
      ],
      warnings: [],
    })
  })
})

describe('serve: DNS', () => {
  it('answers Ingress and route hosts with the receiving Service address, and refuses every other name', async () => {
    const traefik = await dig('traefik.kube-system.kube.internal', '+short')
    expect(traefik).toMatch(/^127\.79\./)
    expect(await dig('radarr.home.example.com', '+short')).toBe(traefik)
    expect(await dig('ytdl.mink.lan', '+short')).toBe(traefik)
    const gateway = await dig('cilium-gateway-edge.gateway.kube.internal', '+short')
    expect(await dig('grafana.apps.example.com', '+short')).toBe(gateway)
    expect(await dig('vault.tls.example.com', '+short')).toBe(gateway)
    expect(await dig('example.org')).toMatch(/status: REFUSED/)
    expect(await dig('a.b.apps.example.com')).toMatch(/status: REFUSED/)
    expect(await dig('home.example.com')).toMatch(/status: REFUSED/)
  })
})

describe('doctor', () => {
  it('says which Ingress and route hosts the OS resolver does not send to serve yet', async () => {
    const config = writeKubeconfig(demo.sim.kubeconfig())
    const args = ['expose-lb', 'doctor', '--kubeconfig', config, '--dns-port', String(serve.dnsPort)]
    const run = await kubectl([...args, '--http-port', String(serve.httpPort), '-o', 'json'])
    const hosts = JSON.parse(run.stdout).checks.find((c: {name: string}) => c.name === 'hosts')
    expect(hosts).toMatchObject({status: 'warn', fix: expect.stringMatching(/--hosts-file/)})
    // The test machine's resolver knows none of them (exact hosts with a Service are looked up; a wildcard cannot be,
    // and dns-setup has not routed it).
    expect(hosts.detail).toBe(
      'not routed to serve yet: blog.khuedoan.com, ytdl.mink.lan, radarr.home.example.com, tekton.khuedoan.com, vault.tls.example.com, *.apps.example.com',
    )
    expect(hosts.fix).toBe(
      `\`kubectl expose-lb dns-setup --apply --dns-port ${serve.dnsPort}\` routes blog.khuedoan.com, ytdl.mink.lan, radarr.home.example.com, tekton.khuedoan.com, vault.tls.example.com, *.apps.example.com (or run serve with --hosts-file)`,
    )

    // dns-setup ran when only radarr and the wildcard existed: the others are new since, radarr is routed yet unanswered.
    const config2 = join(dir, 'xdg')
    mkdirSync(join(config2, 'kubectl-expose-lb'), {recursive: true})
    const state = {
      version: 1,
      os: 'linux',
      resolver: 'systemd-resolved',
      domain: 'kube.internal',
      dnsAddress: '127.0.0.1',
      dnsPort: serve.dnsPort,
      hosts: ['*.apps.example.com', 'radarr.home.example.com'],
      done: [],
      files: [],
    }
    writeFileSync(join(config2, 'kubectl-expose-lb', 'dns-setup.json'), JSON.stringify(state))
    const again = await kubectl([...args, '--http-port', String(serve.httpPort), '-o', 'json'], {
      XDG_CONFIG_HOME: config2,
    })
    const recorded = JSON.parse(again.stdout).checks.find((c: {name: string}) => c.name === 'hosts')
    expect(recorded.detail).toBe(
      'not routed to serve yet: blog.khuedoan.com, ytdl.mink.lan, radarr.home.example.com, tekton.khuedoan.com, vault.tls.example.com',
    )
    expect(recorded.fix).toBe(
      `\`kubectl expose-lb dns-setup --apply --dns-port ${serve.dnsPort}\` again adds blog.khuedoan.com, ytdl.mink.lan, tekton.khuedoan.com, vault.tls.example.com (new since it last ran); dns-setup routed radarr.home.example.com, yet the OS resolver does not answer as serve: check that serve listens at the --dns-address and --dns-port dns-setup was given`,
    )
  })
})

describe('serve: HTTP by Host', () => {
  it('routes an Ingress host to the controller NodePort with the Host unchanged, through the router and the per-service address', async () => {
    const viaRouter = await curl('-H', 'Host: radarr.home.example.com', `http://127.0.0.1:${serve.httpPort}/movies`)
    expect(viaRouter).toMatchObject({
      service: 'kube-system/traefik',
      path: '/movies',
      headers: {host: 'radarr.home.example.com'},
    })
    const address = await dig('radarr.home.example.com', '+short')
    const viaAddress = await curl(
      '--resolve',
      `radarr.home.example.com:80:${address}`,
      'http://radarr.home.example.com/',
    )
    expect(viaAddress).toMatchObject({service: 'kube-system/traefik', headers: {host: 'radarr.home.example.com'}})
    const wildcard = await curl('-H', 'Host: grafana.apps.example.com', `http://127.0.0.1:${serve.httpPort}/`)
    expect(wildcard).toMatchObject({
      service: 'gateway/cilium-gateway-edge',
      headers: {host: 'grafana.apps.example.com'},
    })
  })
})

describe('serve: TLS by SNI on --https-port', () => {
  it('passes curl --resolve through to the controller, which presents its own certificate for the original name', async () => {
    const body = await curl(
      '--resolve',
      `radarr.home.example.com:${httpsPort}:127.0.0.1`,
      `https://radarr.home.example.com:${httpsPort}/`,
    )
    expect(body).toMatchObject({service: 'kube-system/traefik', servername: 'radarr.home.example.com'})
    const nginx = await curl(
      '--resolve',
      `blog.khuedoan.com:${httpsPort}:127.0.0.1`,
      `https://blog.khuedoan.com:${httpsPort}/`,
    )
    expect(nginx).toMatchObject({service: 'ingress-nginx/ingress-nginx-controller', servername: 'blog.khuedoan.com'})
    // A Service's own names reach its TLS port too (the test certificate does not name it: errors ignored here).
    const own = await curl(
      '--insecure',
      '--resolve',
      `traefik.kube.internal:${httpsPort}:127.0.0.1`,
      `https://traefik.kube.internal:${httpsPort}/`,
    )
    expect(own).toMatchObject({service: 'kube-system/traefik', servername: 'traefik.kube.internal'})
  })

  it('openssl s_client -servername verifies the node certificate through the SNI listener', async () => {
    const {stdout} = await run('sh', [
      '-c',
      `printf 'GET / HTTP/1.0\\r\\nHost: vault.tls.example.com\\r\\n\\r\\n' | openssl s_client -connect 127.0.0.1:${httpsPort} -servername vault.tls.example.com -verify_hostname vault.tls.example.com -CAfile ${join(dir, 'ca.crt')} -ign_eof 2>&1`,
    ])
    expect(stdout).toMatch(/Verify return code: 0 \(ok\)/)
    expect(stdout).toMatch(/"service":"gateway\/cilium-gateway-edge"/)
    expect(stdout).toMatch(/"servername":"vault\.tls\.example\.com"/)
  })

  it('closes an unknown server name, and a ClientHello without one, with a log line', async () => {
    const unknown = await run('sh', [
      '-c',
      `openssl s_client -connect 127.0.0.1:${httpsPort} -servername nope.example.com </dev/null 2>&1; true`,
    ])
    // Nothing came back: no certificate, not a byte of a handshake.
    expect(unknown.stdout).toMatch(/no peer certificate available/)
    expect(unknown.stdout).toMatch(/SSL handshake has read 0 bytes/)
    await waitFor(() => serve.stderr().includes('unknown server name nope.example.com'), 5000, 'the log line')
    await run('sh', ['-c', `openssl s_client -connect 127.0.0.1:${httpsPort} -noservername </dev/null 2>&1; true`])
    await waitFor(() => serve.stderr().includes('no server name (SNI) in its ClientHello'), 5000, 'the log line')
  })

  it('an --https-port that cannot be bound is an error naming the fix; the default port is only skipped', async () => {
    const taken = await kubectl(
      ['expose-lb', 'serve', '--kubeconfig', demo.kubeconfig, '--dns-port', '0', '--http-port', '0'].concat([
        '--https-port',
        String(httpsPort),
      ]),
    )
    expect(taken.code).toBe(10) // EXIT.bind
    expect(taken.stderr).toMatch(
      new RegExp(
        `^error: cannot bind HTTPS on 127\\.0\\.0\\.1:${httpsPort}/tcp: address already in use — stop what holds it, or use --https-port 8443`,
      ),
    )
  })

  it('without --https-port, a 443 that cannot be bound (held, or privileged) is skipped with a warning', async () => {
    // Hold 443 where this process may (root); elsewhere 443 needs privilege anyway. While another test's serve holds
    // it (test files run side by side), wait for it: that serve may let it go before this one starts.
    const holder = net.createServer()
    for (let tries = 0; ; tries++) {
      const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) =>
        holder.once('error', resolve).listen(443, '127.0.0.1', () => resolve(undefined)),
      )
      if (error?.code !== 'EADDRINUSE' || tries === 200) break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const second = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', 'none'])
    try {
      expect(second.stderr()).toMatch(
        /warning: cannot listen for HTTPS \(SNI\) on 127\.0\.0\.1:443: .*; serving without it \(/,
      )
      expect(second.stderr()).not.toMatch(/HTTPS \(SNI\) on 127\.0\.0\.1:443$/m)
    } finally {
      expect(await second.stop()).toBe(0)
      holder.close()
    }
  })

  it('fails over when nodes go down', async () => {
    await demo.nodes.stopNode('node-a')
    await demo.nodes.stopNode('node-b')
    try {
      for (let i = 0; i < 3; i++) {
        const body = await curl(
          '--resolve',
          `radarr.home.example.com:${httpsPort}:127.0.0.1`,
          `https://radarr.home.example.com:${httpsPort}/`,
        )
        expect(body).toMatchObject({node: 'node-c', servername: 'radarr.home.example.com'})
      }
    } finally {
      await demo.nodes.startNode('node-a')
      await demo.nodes.startNode('node-b')
    }
  })
})

describe('serve: a browser', () => {
  it('headless Chromium opens an https:// Ingress host through the SNI listener, and finds its link on the dashboard', async () => {
    const profile = mkdtempSync(join(tmpdir(), 'expose-lb-chromium-'))
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      // The test CA is not trusted by this profile: its certificate errors are ignored, nothing else is.
      ignoreHTTPSErrors: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // The workstation's resolver is not pointed at serve here; serve's DNS answer for the host is the router.
        '--host-resolver-rules=MAP radarr.home.example.com 127.0.0.1',
      ],
    })
    try {
      const page = await context.newPage()
      const response = await page.goto(`https://radarr.home.example.com:${httpsPort}/movies`)
      expect(response?.status()).toBe(200)
      expect(response?.url()).toBe(`https://radarr.home.example.com:${httpsPort}/movies`)
      const body = JSON.parse((await page.locator('body').innerText()).trim())
      expect(body).toMatchObject({
        service: 'kube-system/traefik',
        servername: 'radarr.home.example.com',
        path: '/movies',
      })
      await page.goto(`http://expose-lb.localhost:${serve.httpPort}/`)
      const link = page.locator(
        `tbody[data-service="kube-system/traefik"] a[href="https://radarr.home.example.com:${httpsPort}/"]`,
      )
      await link.waitFor({timeout: 15_000})
      expect(await link.innerText()).toBe(`radarr.home.example.com:${httpsPort}`)
    } finally {
      await context.close()
      rmSync(profile, {recursive: true, force: true})
    }
  }, 60_000)
})

describe('serve: Ingress changes go live', () => {
  it('an Ingress added, changed and deleted while serving', async () => {
    const ingress = (host: string) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {namespace: 'media', name: 'sonarr'},
      spec: {rules: [{host}]},
    })
    demo.sim.apply(ingress('sonarr.home.example.com'))
    const traefik = await dig('traefik.kube-system.kube.internal', '+short')
    await waitFor(async () => (await dig('sonarr.home.example.com', '+short')) === traefik, 5000, 'the new host')
    demo.sim.apply(ingress('tv.home.example.com'))
    await waitFor(async () => (await dig('tv.home.example.com', '+short')) === traefik, 5000, 'the changed host')
    expect(await dig('sonarr.home.example.com')).toMatch(/status: REFUSED/)
    demo.sim.remove('networking.k8s.io/v1', 'Ingress', 'sonarr', 'media')
    await waitFor(async () => /status: REFUSED/.test(await dig('tv.home.example.com')), 5000, 'the host gone')
  })
})
