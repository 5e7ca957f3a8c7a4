// `kubectl expose-lb list` end to end: the real kubectl finds bin/kubectl-expose_lb on PATH, which talks to the
// simulated API server loaded with the homelab.
import {readFileSync} from 'node:fs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {EXIT} from '../../src/errors.js'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {kubectl, writeKubeconfig} from './helpers.js'

let sim: SimServer
let config: string
beforeAll(async () => {
  sim = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML)})
  config = writeKubeconfig(sim.kubeconfig())
})
afterAll(() => sim.close())

describe('kubectl expose-lb list', () => {
  it('prints the summary and one row per Service', async () => {
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', config])
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^CONTEXT: sim \(http:\/\/127\.0\.0\.1:\d+\) {3}NODES: 3 \(3 ready\)$/)
    expect(lines[1]).toBe('LOAD BALANCER: none detected')
    expect(lines[2]).toMatch(
      /^RECOMMENDATION: metallb: .*until then, `kubectl expose-lb serve` maps the names on this workstation$/,
    )
    expect(lines.slice(3, 5)).toEqual([
      'PENDING: 1 of 1 LoadBalancer Services',
      '  WHY: no-implementation: dns/pihole-dns: no load balancer that takes this Service runs in the cluster, and no events about it',
    ])
    expect(lines.find((l) => l.startsWith('NAMESPACE'))).toMatch(
      /^NAMESPACE +NAME +TYPE +EXPOSURE +NAMES +PORTS +TARGETS$/,
    )
    const radarr = lines.find((l) => l.startsWith('media '))
    expect(radarr?.split(/ {3,}/)).toEqual([
      'media',
      'radarr',
      'NodePort',
      'node-port',
      'radarr.kube.internal (+1)',
      '7878:30878/TCP',
      '127.0.10.1,127.0.10.2,127.0.10.3',
    ])
    const pihole = lines.find((l) => l.startsWith('dns '))
    expect(pihole?.split(/ {3,}/)).toEqual([
      'dns',
      'pihole-dns',
      'LoadBalancer',
      'lb-pending',
      'pihole-dns.kube.internal (+1)',
      '53:30053/UDP,53:30053/TCP',
      '127.0.10.2',
    ])
  })

  it('accepts cluster flags before the subcommand, as kubectl passes them, and prints the JSON contract', async () => {
    const run = await kubectl(['expose-lb', '--kubeconfig', config, '--context', 'sim', 'list', '-o', 'json'])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout)
    expect(Object.keys(report)).toEqual([
      'apiVersion',
      'kind',
      'context',
      'server',
      'domain',
      'nodes',
      'loadBalancer',
      'services',
      'hosts',
      'warnings',
    ])
    expect(report).toMatchObject({
      apiVersion: 'expose-lb/v1',
      kind: 'ExposureReport',
      context: 'sim',
      server: sim.url,
      domain: 'kube.internal',
    })
    expect(report.nodes[0]).toEqual({
      name: 'node-a',
      ready: true,
      addresses: expect.arrayContaining([{type: 'InternalIP', address: '127.0.10.1'}]),
      eligible: true,
    })
    expect(report.loadBalancer.detected).toEqual([])
    expect(report.loadBalancer.recommendation.name).toBe('metallb')
    expect(report.services.find((s: {name: string}) => s.name === 'radarr')).toEqual({
      namespace: 'media',
      name: 'radarr',
      type: 'NodePort',
      exposure: 'node-port',
      names: ['radarr.media.kube.internal', 'radarr.kube.internal'],
      loadBalancerIngress: [],
      ports: [
        {
          name: 'http',
          port: 7878,
          protocol: 'TCP',
          nodePort: 30878,
          mode: 'http',
          targets: ['127.0.10.1:30878', '127.0.10.2:30878', '127.0.10.3:30878'],
          path: 'node',
          endpoints: [{pod: 'radarr-0', port: 7878, node: 'node-c'}],
        },
      ],
      warnings: [],
    })
    // ports[].path: the ClusterIP grafana through the API server; the selector-less kubernetes not at all, and why.
    const ports = (name: string) => report.services.find((s: {name: string}) => s.name === name).ports
    expect(ports('grafana')).toEqual([
      expect.objectContaining({
        port: 3000,
        path: 'api-server',
        endpoints: [{pod: 'grafana-6f4b8d7c9-mq2xz', port: 3000, node: 'node-c'}],
      }),
    ])
    expect(ports('kubernetes')).toEqual([
      expect.objectContaining({
        path: 'none',
        pathNote: 'no selector: its endpoints are not Pods, and the API server forwards only to Pods',
      }),
    ])
  })

  it('refuses a bad --ingress-service before reading anything (no kubeconfig needed to say so)', async () => {
    const run = await kubectl(['expose-lb', 'list', '--ingress-service', 'traefik', '--kubeconfig', '/nonexistent'])
    expect([run.code, run.stderr.trim()]).toEqual([
      EXIT.usage,
      'error: --ingress-service "traefik" is not namespace/name; give the ingress controller\'s Service, e.g. kube-system/traefik',
    ])
  })

  it('prints the same report as YAML', async () => {
    const [json, yaml] = await Promise.all([
      kubectl(['expose-lb', 'list', '--kubeconfig', config, '-o', 'json']),
      kubectl(['expose-lb', 'list', '--kubeconfig', config, '-o', 'yaml']),
    ])
    expect(parse(yaml.stdout)).toEqual(JSON.parse(json.stdout))
  })

  it('-n limits to one namespace, -l to matching Services, --no-headers drops summary and header', async () => {
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', config, '-n', 'media', '--no-headers'])
    expect(run.code).toBe(0)
    expect(
      run.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.split(/ {3,}/).slice(0, 2)),
    ).toEqual([['media', 'radarr']])
    const selected = await kubectl(['expose-lb', 'list', '--kubeconfig', config, '-l', 'app=mosquitto', '-o', 'json'])
    expect(JSON.parse(selected.stdout).services.map((s: {name: string}) => s.name)).toEqual(['mosquitto'])
  })

  it('-o wide shows every name, the port modes and every target; --domain changes the zone', async () => {
    const run = await kubectl([
      'expose-lb',
      'list',
      '--kubeconfig',
      config,
      '-o',
      'wide',
      '-n',
      'media',
      '--domain',
      'Lab.Example.',
    ])
    expect(run.stdout).toContain(
      'radarr.media.lab.example,radarr.lab.example   7878:30878/TCP(http)   127.0.10.1:30878,127.0.10.2:30878,127.0.10.3:30878',
    )
  })

  it('shows a ClusterIP Service reached through the API server, and, with --paths node, not reached', async () => {
    const list = (...args: string[]) =>
      kubectl(['expose-lb', 'list', '--kubeconfig', config, '-n', 'monitoring', '--no-headers', ...args])
    expect((await list()).stdout).toMatch(
      /^monitoring +grafana +ClusterIP +cluster-only +grafana\.kube\.internal \(\+1\) +3000\/TCP +via API server \(1 Pod\)$/m,
    )
    expect((await list('-o', 'wide')).stdout).toContain('via API server: grafana-6f4b8d7c9-mq2xz')
    expect((await list('--paths', 'node')).stdout).toMatch(
      /^monitoring +grafana +ClusterIP +cluster-only +<none> +3000\/TCP +<none>$/m,
    )
  })

  it('says so, and exits 0, when no Service matches', async () => {
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', config, '-n', 'empty', '--no-headers'])
    expect(run).toMatchObject({code: 0, stdout: ''})
    expect(run.stderr).toBe('No Services found in namespace empty.\n')
  })
})

describe('kubectl expose-lb list errors', () => {
  const oneLine = (stderr: string) => stderr.trimEnd().split('\n')

  it.each<[string, () => string[], number, RegExp]>([
    [
      'no kubeconfig',
      () => ['--kubeconfig', '/nonexistent/config'],
      EXIT.noKubeconfig,
      /^error: kubeconfig \/nonexistent\/config does not exist/,
    ],
    [
      'an unknown context',
      () => ['--kubeconfig', config, '--context', 'prod'],
      EXIT.unknownContext,
      /^error: context "prod" not found in kubeconfig .*; available: sim$/,
    ],
    [
      'an invalid --domain',
      () => ['--kubeconfig', config, '--domain', 'bad_domain'],
      EXIT.usage,
      /^error: --domain "bad_domain" is not a valid DNS name/,
    ],
    [
      'a single-label --domain',
      () => ['--kubeconfig', config, '--domain', 'internal'],
      EXIT.usage,
      /^error: --domain "internal" is a single label: serving it would capture every name under \.internal; use a private zone: kube\.internal, or a subdomain of home\.arpa such as kube\.home\.arpa$/,
    ],
    [
      'a public-suffix --domain',
      () => ['--kubeconfig', config, '--domain', 'Co.UK.'],
      EXIT.usage,
      /^error: --domain "co\.uk" is a public suffix: serving it would capture names that belong to others; use a private zone/,
    ],
    [
      'an unknown flag',
      () => ['--kubeconfig', config, '--frobnicate'],
      EXIT.usage,
      /^error: Nonexistent flag: --frobnicate/,
    ],
    [
      'a bad -o value',
      () => ['--kubeconfig', config, '-o', 'xml'],
      EXIT.usage,
      /^error: Expected --output=xml to be one of: table, wide, json, yaml/,
    ],
    [
      '-A together with -n',
      () => ['--kubeconfig', config, '-A', '-n', 'media'],
      EXIT.usage,
      /^error: .*--namespace=media cannot also be provided when using --all-namespaces \(see 'kubectl expose-lb --help'\)$/,
    ],
  ])('%s: one line on stderr and its own exit code', async (_name, args, code, message) => {
    const run = await kubectl(['expose-lb', 'list', ...args()])
    expect(run.code).toBe(code)
    expect(oneLine(run.stderr)).toHaveLength(1)
    expect(run.stderr.trimEnd()).toMatch(message)
    expect(run.stdout).toBe('')
  })

  it.each(['serve', 'dns-setup', 'doctor'])(
    '%s refuses a zone that is too broad, before doing anything',
    async (command) => {
      const cluster = command === 'dns-setup' ? [] : ['--kubeconfig', config]
      const run = await kubectl(['expose-lb', command, ...cluster, '--domain', 'com'])
      expect(run.code).toBe(EXIT.usage)
      expect(run.stderr.trimEnd()).toBe(
        'error: --domain "com" is a single label: serving it would capture every name under .com; use a private zone: kube.internal, or a subdomain of home.arpa such as kube.home.arpa',
      )
      expect(run.stdout).toBe('')
    },
  )

  it('an unreachable server names the context and the server URL, and -v adds the stack', async () => {
    const file = writeKubeconfig(sim.kubeconfig().replace(sim.url, 'http://127.0.0.1:1'))
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', file])
    expect(run.code).toBe(EXIT.unreachable)
    expect(oneLine(run.stderr)).toEqual([
      expect.stringMatching(
        /^error: cannot reach the API server of context "sim" at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
      ),
    ])
    const verbose = await kubectl(['expose-lb', 'list', '--kubeconfig', file, '-v'])
    expect(verbose.code).toBe(EXIT.unreachable)
    expect(verbose.stderr).toMatch(/\n {4}at /)
  })
})

describe('kubectl expose-lb list against a server with TLS, tokens and RBAC', () => {
  const tls = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url), 'utf8')
  const required = [
    {apiGroups: [''], resources: ['services', 'nodes'], verbs: ['get', 'list', 'watch']},
    {apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch']},
  ]
  let secure: SimServer
  beforeAll(async () => {
    secure = await startSimServer({
      objects: loadObjectsFromYaml(HOMELAB_YAML),
      tls: {cert: tls('server.crt'), key: tls('server.key')},
      tokens: {'admin-token': 'admin', 'reader-token': 'reader', 'nobody-token': 'nobody'},
      rbac: {admin: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}], reader: required, nobody: []},
    })
  })
  afterAll(() => secure.close())

  it('works with the cluster CA and a valid token', async () => {
    const file = writeKubeconfig(secure.kubeconfig({token: 'admin-token', caPem: tls('ca.crt')}))
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', file, '-o', 'json'])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).services).toHaveLength(6)
  })

  it('a certificate the kubeconfig does not trust is a TLS error', async () => {
    const file = writeKubeconfig(secure.kubeconfig({token: 'admin-token'}))
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', file])
    expect(run.code).toBe(EXIT.tls)
    expect(run.stderr).toMatch(
      /^error: TLS with the API server of context "sim" at https:\/\/127\.0\.0\.1:\d+ failed: .*certificate/,
    )
  })

  it('a rejected token is 401, and the token never appears in the output', async () => {
    const file = writeKubeconfig(secure.kubeconfig({token: 'wrong-secret-token', caPem: tls('ca.crt')}))
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', file, '-v'])
    expect(run.code).toBe(EXIT.unauthorized)
    expect(run.stderr).toMatch(
      /^error: the API server of context "sim" at https:\/\/127\.0\.0\.1:\d+ rejected the credentials \(401 Unauthorized\)/,
    )
    expect(run.stderr + run.stdout).not.toContain('wrong-secret-token')
  })

  it('a 403 on a required read names the verb and resource and prints the ClusterRole it needs', async () => {
    const file = writeKubeconfig(secure.kubeconfig({token: 'nobody-token', caPem: tls('ca.crt')}))
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', file])
    expect(run.code).toBe(EXIT.forbidden)
    const [first, ...rest] = run.stderr.trimEnd().split('\n')
    expect(first).toMatch(
      /^error: not allowed to list (services in all namespaces|nodes|endpointslices.discovery.k8s.io in all namespaces) \(403 Forbidden, context "sim"\)/,
    )
    expect(parse(rest.join('\n'))).toMatchObject({kind: 'ClusterRole', rules: expect.arrayContaining(required)})
  })

  it('with only the required role, detection degrades to a warning and the table still prints', async () => {
    const file = writeKubeconfig(secure.kubeconfig({token: 'reader-token', caPem: tls('ca.crt')}))
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', file, '-o', 'json'])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout)
    expect(report.services).toHaveLength(6)
    expect(report.warnings.join('\n')).toMatch(/daemonsets\.apps \(forbidden\)/)
    expect(run.stderr).toMatch(/^warning: .*forbidden/m)
  })
})

describe('kubectl expose-lb list with the ingress controllers beyond ingress-nginx and Traefik', () => {
  let controllers: SimServer
  let controllersConfig: string
  beforeAll(async () => {
    const fixture = readFileSync(new URL('../fixtures/ingress/11-controllers-upstream.yaml', import.meta.url), 'utf8')
    controllers = await startSimServer({objects: loadObjectsFromYaml(`${HOMELAB_YAML}\n---\n${fixture}`)})
    controllersConfig = writeKubeconfig(controllers.kubeconfig())
  })
  afterAll(() => controllers.close())

  it('hosts[].service is the Service of each controller, found from its upstream labels or selector', async () => {
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', controllersConfig, '-o', 'json'])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout) as {
      hosts: Array<{host: string; service?: {namespace: string; name: string}; warnings: string[]}>
    }
    const byHost = Object.fromEntries(
      report.hosts.map((h) => [h.host, h.service ? `${h.service.namespace}/${h.service.name}` : h.warnings.join('; ')]),
    )
    expect(byHost).toEqual({
      'echo.haproxy.example.com': 'haproxy-controller/haproxy-kubernetes-ingress',
      'kuard.contour.example.com': 'projectcontour/envoy',
      'cafe.nginx.example.com': 'nginx-ingress/my-nginx-ingress-controller',
      'httpbin.kong.example.com': 'kong/kong-kong-proxy',
      'httpbin.istio.example.com': 'istio-system/istio-ingressgateway',
      'hubble.cilium.example.com': 'kube-system/cilium-ingress',
      'cafe.ngf.example.com': 'nginx-gateway/nginx-gateway',
      'bookinfo.istio.example.com': 'lab/lab-gateway-istio',
      'echo.envoy.example.com': 'envoy-gateway-system/envoy-network-external-8f2a9c41',
    })
  })
})
