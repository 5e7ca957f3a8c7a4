// The real kubectl against the simulator: proves discovery, Tables and auth look like a real API server.
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it, onTestFinished} from 'vitest'
import {loadObjectsFromYaml, startSimServer, type SimServer, type SimServerOptions} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'

const TLS = join(import.meta.dirname, '../fixtures/tls')
const tls = () => ({
  cert: readFileSync(join(TLS, 'server.crt'), 'utf8'),
  key: readFileSync(join(TLS, 'server.key'), 'utf8'),
})
const caPem = () => readFileSync(join(TLS, 'ca.crt'), 'utf8')

async function start(opts: SimServerOptions = {}): Promise<SimServer> {
  const sim = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML), ...opts})
  onTestFinished(() => sim.close())
  return sim
}

/** Runs kubectl with only the given kubeconfig: no KUBECONFIG, a fresh HOME and discovery cache. */
async function kubectl(kubeconfig: string, args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  const dir = mkdtempSync(join(tmpdir(), 'sim-kubectl-'))
  onTestFinished(() => rmSync(dir, {recursive: true, force: true}))
  writeFileSync(join(dir, 'config'), kubeconfig)
  const {KUBECONFIG: _ignored, ...env} = process.env
  const argv = [
    '--kubeconfig',
    join(dir, 'config'),
    '--cache-dir',
    join(dir, 'cache'),
    '--request-timeout',
    '10s',
    ...args,
  ]
  return new Promise((resolve) => {
    execFile('kubectl', argv, {env: {...env, HOME: dir}, timeout: 20_000}, (err, stdout, stderr) => {
      resolve({code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr})
    })
  })
}

describe('real kubectl against the simulator', () => {
  it('get svc -A prints every service with its namespace and a pending load balancer', async () => {
    const sim = await start()
    const {code, stdout, stderr} = await kubectl(sim.kubeconfig(), ['get', 'svc', '-A'])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const [header, ...rows] = stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
    expect(header).toEqual(['NAMESPACE', 'NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'])
    expect(rows.map((r) => r.slice(0, 6))).toEqual([
      ['default', 'homer', 'NodePort', '10.43.144.201', '<none>', '8080:30080/TCP'],
      ['default', 'kubernetes', 'ClusterIP', '10.43.0.1', '<none>', '443/TCP'],
      ['dns', 'pihole-dns', 'LoadBalancer', '10.43.210.9', '<pending>', '53:30053/UDP,53:30053/TCP'],
      ['iot', 'mosquitto', 'NodePort', '10.43.31.77', '<none>', '1883:31883/TCP'],
      ['media', 'radarr', 'NodePort', '10.43.87.12', '<none>', '7878:30878/TCP'],
      ['monitoring', 'grafana', 'ClusterIP', '10.43.118.40', '<none>', '3000/TCP'],
    ])
  })

  it('get nodes prints status, roles and version', async () => {
    const sim = await start()
    const {code, stdout} = await kubectl(sim.kubeconfig(), ['get', 'nodes'])
    expect(code).toBe(0)
    const rows = stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
    expect(rows.map((r) => [r[0], r[1], r[2], r[4]])).toEqual([
      ['NAME', 'STATUS', 'ROLES', 'VERSION'],
      ['node-a', 'Ready', 'control-plane', 'v1.32.0'],
      ['node-b', 'Ready', '<none>', 'v1.32.0'],
      ['node-c', 'Ready', '<none>', 'v1.32.0'],
    ])
  })

  it('get ingress -A prints class, hosts and ports, and Gateway API kinds are served once used', async () => {
    const ingress = readFileSync(join(import.meta.dirname, '../fixtures/ingress/serve-cluster.yaml'), 'utf8')
    const sim = await start({objects: loadObjectsFromYaml(`${HOMELAB_YAML}\n---\n${ingress}`)})
    const {code, stdout} = await kubectl(sim.kubeconfig(), ['get', 'ingress', '-A'])
    expect(code).toBe(0)
    const rows = stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
    expect(rows.map((r) => r.slice(0, 4))).toEqual([
      ['NAMESPACE', 'NAME', 'CLASS', 'HOSTS'],
      ['media', 'radarr', 'traefik', 'radarr.home.example.com'],
    ])
    expect(rows[1]!.slice(4, 6)).toEqual(['80,', '443'])
    const routes = await kubectl(sim.kubeconfig(), ['get', 'httproutes,tlsroutes', '-A', '-o', 'name'])
    expect(routes.stdout.trim().split('\n')).toEqual([
      'httproute.gateway.networking.k8s.io/apps',
      'tlsroute.gateway.networking.k8s.io/vault',
    ])
  })

  it('get svc -n media -o json prints a parseable list', async () => {
    const sim = await start()
    const {code, stdout} = await kubectl(sim.kubeconfig(), ['get', 'svc', '-n', 'media', '-o', 'json'])
    expect(code).toBe(0)
    const list = JSON.parse(stdout)
    expect(list.items.map((s: {metadata: {name: string}}) => s.metadata.name)).toEqual(['radarr'])
    expect(list.items[0].spec.ports[0]).toMatchObject({name: 'http', port: 7878, nodePort: 30878})
  })

  // kubectl never sends a bearer token over plain http:// (kubernetes/kubectl#744), so auth needs TLS.
  it('shows the Forbidden message when RBAC denies the list', async () => {
    const rbac = {alice: [{apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list']}]}
    const sim = await start({tls: tls(), tokens: {t: 'alice'}, rbac})
    const config = sim.kubeconfig({token: 't', caPem: caPem()})
    expect((await kubectl(config, ['get', 'nodes', '-o', 'name'])).code).toBe(0)
    const denied = await kubectl(config, ['get', 'svc', '-A'])
    expect(denied.code).not.toBe(0)
    expect(denied.stderr.trim()).toBe(
      'Error from server (Forbidden): services is forbidden: User "alice" cannot list resource "services" in API group "" at the cluster scope',
    )
  })

  it('works over HTTPS with the CA and a bearer token, and fails with a wrong token', async () => {
    const sim = await start({tls: tls(), tokens: {s3cret: 'admin'}})
    const ok = await kubectl(sim.kubeconfig({token: 's3cret', caPem: caPem()}), ['get', 'nodes', '-o', 'name'])
    expect(ok).toEqual({code: 0, stdout: 'node/node-a\nnode/node-b\nnode/node-c\n', stderr: ''})
    const denied = await kubectl(sim.kubeconfig({token: 'wrong', caPem: caPem()}), ['get', 'nodes'])
    expect(denied.code).not.toBe(0)
    expect(denied.stderr).toContain('error: You must be logged in to the server')
    expect(sim.requests.filter((r) => r.status === 401).length).toBeGreaterThan(0)
  })
})
