// `kubectl expose-lb doctor` end to end: the real executable (found by kubectl) against the simulated API server
// and its loopback nodes, with a running serve. The OS resolver of the test machine knows nothing of kube.internal,
// so the os-resolver check fails there, with its fix.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {DoctorReport} from '../../src/doctor/report.js'
import {EXIT} from '../../src/errors.js'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {kubectl} from './helpers.js'
import {startServe, type ServeProcess} from './serve-helpers.js'

const NODES = '127.0.27.' // this file's loopback nodes, apart from other test files
let demo: Demo
let serve: ServeProcess

beforeAll(async () => {
  demo = await startDemo({nodePrefix: NODES})
  serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', '127.84.0.0/16'])
}, 30_000)
afterAll(async () => {
  await serve?.stop()
  await demo?.close()
})

const doctor = (...args: string[]) =>
  kubectl([
    'expose-lb',
    'doctor',
    '--kubeconfig',
    demo.kubeconfig,
    '--dns-port',
    String(serve.dnsPort),
    '--http-port',
    String(serve.httpPort),
    ...args,
  ])

function statuses(report: DoctorReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((c) => [c.name, c.status]))
}

describe('doctor against a running serve', () => {
  it('passes the responder, node and port checks, and fails the OS resolver with its fix', async () => {
    const run = await doctor('-o', 'json')
    expect(run.code).toBe(EXIT.checkFailed)
    expect(run.stderr).toBe('doctor: 1 check failed\n')
    const report = JSON.parse(run.stdout) as DoctorReport
    expect(statuses(report)).toEqual({
      cluster: 'ok',
      responder: 'ok',
      'os-resolver': 'fail',
      nodes: 'ok',
      'dns-port': 'ok',
      'http-port': 'ok',
      service: 'skip', // HOME is a fresh directory: nothing installed
    })
    const byName = new Map(report.checks.map((c) => [c.name, c]))
    expect(byName.get('responder')!.detail).toMatch(
      new RegExp(`^127\\.0\\.0\\.1:${serve.dnsPort} answers homer\\.kube\\.internal with 127\\.84\\.\\d+\\.\\d+$`),
    )
    expect(byName.get('os-resolver')).toEqual({
      name: 'os-resolver',
      status: 'fail',
      detail: expect.stringMatching(/^the OS resolver does not know homer\.kube\.internal \(/),
      fix: `send kube.internal to serve's responder with \`kubectl expose-lb dns-setup --apply --dns-port ${serve.dnsPort}\`, or run serve with --hosts-file`,
    })
    expect(byName.get('nodes')!.detail).toBe('3 node addresses reachable on a NodePort: node-a, node-b, node-c')
    expect(byName.get('dns-port')!.detail).toBe(`127.0.0.1:${serve.dnsPort} (udp, tcp) is held by serve`)
    expect(byName.get('http-port')!.detail).toBe(`127.0.0.1:${serve.httpPort} (tcp) is held by serve`)
  })

  it('prints one line per check and the fix under the failed one', async () => {
    const run = await doctor()
    expect(run.code).toBe(EXIT.checkFailed)
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines.map((l) => l.trim().split(/\s+/, 2).join(' '))).toEqual([
      'ok cluster',
      'ok responder',
      'FAIL os-resolver',
      'fix: send',
      'ok nodes',
      'ok dns-port',
      'ok http-port',
      'skip service',
      'fix: kubectl',
    ])
    expect(lines.at(-1)?.trim()).toBe(
      `fix: kubectl expose-lb service install --dns-port ${serve.dnsPort} --http-port ${serve.httpPort}`,
    )
    expect(lines[3]).toContain(`kubectl expose-lb dns-setup --apply --dns-port ${serve.dnsPort}`)
  })

  it('names a stopped node', async () => {
    await demo.nodes.stopNode('node-c')
    try {
      const run = await doctor('-o', 'json')
      const nodes = (JSON.parse(run.stdout) as DoctorReport).checks.find((c) => c.name === 'nodes')!
      expect(nodes.status).toBe('warn')
      expect(nodes.detail).toMatch(
        /^unreachable from here: node-c \(127\.0\.27\.3:\d+: connection refused\); reachable: node-a, node-b$/,
      )
      expect(nodes.fix).toContain('--address-type ExternalIP')
    } finally {
      await demo.nodes.startNode('node-c')
    }
  })
})

describe('doctor without serve or cluster', () => {
  it('reports a cluster it cannot read as a failed check and still checks the ports', async () => {
    const run = await kubectl([
      'expose-lb',
      'doctor',
      '--kubeconfig',
      '/nonexistent/kubeconfig',
      '--dns-port',
      String(serve.dnsPort),
      '--http-port',
      String(serve.httpPort),
      '-o',
      'json',
    ])
    expect(run.code).toBe(EXIT.checkFailed)
    const report = JSON.parse(run.stdout) as DoctorReport
    expect(statuses(report)).toEqual({
      cluster: 'fail',
      responder: 'skip',
      'os-resolver': 'skip',
      nodes: 'skip',
      'dns-port': 'ok',
      'http-port': 'ok',
      service: 'skip',
    })
    expect(report.checks[0]!.detail).toBe(
      'kubeconfig /nonexistent/kubeconfig does not exist; check the --kubeconfig path',
    )
  })
})
