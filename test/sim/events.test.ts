// Events in the simulator, read by the real kubectl in both API groups, with the field selectors the pending
// diagnosis uses (involvedObject.* in core/v1, regarding.* in events.k8s.io/v1).
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'

const FIXTURE = readFileSync(join(import.meta.dirname, '../fixtures/pending/k3s-port-conflict.yaml'), 'utf8')
const FREE_PORTS =
  "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 2 Preemption is not helpful for scheduling."

let sim: SimServer
let dir: string
beforeAll(async () => {
  sim = await startSimServer({objects: loadObjectsFromYaml(FIXTURE)})
  dir = mkdtempSync(join(tmpdir(), 'sim-events-'))
  writeFileSync(join(dir, 'config'), sim.kubeconfig())
})
afterAll(async () => {
  await sim.close()
  rmSync(dir, {recursive: true, force: true})
})

function kubectl(args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  const {KUBECONFIG: _ignored, ...env} = process.env
  const argv = ['--kubeconfig', join(dir, 'config'), '--cache-dir', join(dir, 'cache'), ...args]
  return new Promise((resolve) => {
    execFile('kubectl', argv, {env: {...env, HOME: dir}, timeout: 20_000}, (err, stdout, stderr) => {
      resolve({code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr})
    })
  })
}

describe('Events in the simulated API server', () => {
  it('kubectl get events filters on involvedObject fields and prints the event columns', async () => {
    const run = await kubectl([
      'get',
      'events',
      '-n',
      'ingress-nginx',
      '--field-selector',
      'involvedObject.kind=Service,involvedObject.name=ingress-nginx-controller',
    ])
    expect(run.stderr).toBe('')
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^LAST SEEN +TYPE +REASON +OBJECT +MESSAGE$/)
    expect(lines.slice(1).map((l) => l.split(/ {2,}/).slice(1))).toEqual([
      ['Normal', 'EnsuringLoadBalancer', 'service/ingress-nginx-controller', 'Ensuring load balancer'],
      [
        'Normal',
        'AppliedDaemonSet',
        'service/ingress-nginx-controller',
        'Applied LoadBalancer DaemonSet kube-system/svclb-ingress-nginx-controller-cfddc8d6',
      ],
    ])
  })

  it('filters on reason and type across namespaces, as a cluster-wide list', async () => {
    const run = await kubectl([
      'get',
      'events',
      '-A',
      '--field-selector',
      'type=Warning,reason=FailedScheduling',
      '-o',
      'json',
    ])
    expect(run.code).toBe(0)
    const list = JSON.parse(run.stdout)
    expect(
      list.items.map((e: {message: string; involvedObject: {name: string}}) => [e.involvedObject.name, e.message]),
    ).toEqual([['svclb-ingress-nginx-controller-cfddc8d6-4dfjw', FREE_PORTS]])
  })

  it('serves the same Events in events.k8s.io/v1, with regarding.* field selectors', async () => {
    const run = await kubectl([
      'get',
      'events.events.k8s.io',
      '-A',
      '--field-selector',
      'regarding.kind=Pod,reportingController=default-scheduler',
      '-o',
      'json',
    ])
    expect(run.stderr).toBe('')
    const [event, ...rest] = JSON.parse(run.stdout).items
    expect(rest).toEqual([])
    expect(event).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      reason: 'FailedScheduling',
      note: FREE_PORTS,
      type: 'Warning',
      reportingController: 'default-scheduler',
      regarding: {kind: 'Pod', name: 'svclb-ingress-nginx-controller-cfddc8d6-4dfjw'},
      deprecatedCount: 1,
    })
  })

  it('refuses field labels a group does not have, with the server message', async () => {
    const core = await kubectl(['get', 'events', '-A', '--field-selector', 'regarding.kind=Service'])
    expect(core.code).not.toBe(0)
    expect(core.stderr).toContain('field label not supported: regarding.kind')
    const v1 = await kubectl(['get', 'events.events.k8s.io', '-A', '--field-selector', 'involvedObject.kind=Service'])
    expect(v1.code).not.toBe(0)
    expect(v1.stderr).toContain('field label not supported: involvedObject.kind')
  })
})
