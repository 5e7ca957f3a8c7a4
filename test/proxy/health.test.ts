import net from 'node:net'

import {describe, expect, it, onTestFinished} from 'vitest'

import {HealthMonitor} from '../../src/proxy/health.js'
import type {HealthMonitorOptions} from '../../src/proxy/health.js'
import type {HealthState, Probe} from '../../src/servemap/types.js'
import {freeSharedPort, nodes, startHttpNodes, startTcpNodes, waitFor} from './backends.js'

function monitor(options: HealthMonitorOptions): HealthMonitor {
  const health = new HealthMonitor(options)
  onTestFinished(() => health.close())
  return health
}

/** Every result and transition the monitor reports, in order. */
function record(health: HealthMonitor): {
  results: Array<{ok: boolean; state: HealthState}>
  changes: string[]
} {
  const results: Array<{ok: boolean; state: HealthState}> = []
  const changes: string[] = []
  health.on('result', (_probe, ok, state) => results.push({ok, state}))
  health.on('change', (_probe, from, to) => changes.push(`${from}→${to}`))
  return {results, changes}
}

/** An HTTP health endpoint whose status code the test sets. */
async function statusServer(): Promise<{probe: Probe; setStatus: (status: number) => void; requests: () => number}> {
  let status = 200
  const [spec] = nodes(1, 21)
  const backend = await startHttpNodes([spec!], (_node, _req, res) => {
    res.statusCode = status
    res.end('{}')
  })
  return {
    probe: {kind: 'http', address: spec!.address, port: backend.port},
    setStatus: (next) => (status = next),
    requests: () => backend.stats.get(spec!.node)?.requests ?? 0,
  }
}

describe('HealthMonitor', () => {
  it('takes a target down after 2 consecutive failures and up again after 1 success', async () => {
    const server = await statusServer()
    const health = monitor({intervalMs: 10})
    const {results, changes} = record(health)
    health.setProbes([server.probe])
    await waitFor(() => health.state(server.probe) === 'up', 'first success')

    server.setStatus(503)
    await waitFor(() => results.filter((r) => !r.ok).length >= 2, 'two failures')
    const firstFailure = results.findIndex((r) => !r.ok)
    expect(results.slice(firstFailure, firstFailure + 2)).toEqual([
      {ok: false, state: 'up'},
      {ok: false, state: 'down'},
    ])

    server.setStatus(200)
    await waitFor(() => results.slice(firstFailure).some((r) => r.ok), 'recovery')
    const recovery = results.findIndex((r, i) => i > firstFailure && r.ok)
    expect(results[recovery]).toEqual({ok: true, state: 'up'})
    expect(changes).toEqual(['unknown→up', 'up→down', 'down→up'])
  })

  it('counts an unknown probe as healthy and settles it with the first result', async () => {
    const server = await statusServer()
    const health = monitor({intervalMs: 60_000})
    health.setProbes([server.probe])
    expect(health.state(server.probe)).toEqual('unknown')
    expect(health.isHealthy(server.probe)).toBe(true)
    await waitFor(() => health.state(server.probe) === 'up', 'first result')
    expect(server.requests()).toEqual(1)
  })

  it('calls an HTTP 503 unhealthy and a refused TCP connect unhealthy', async () => {
    const server = await statusServer()
    server.setStatus(503)
    const port = await freeSharedPort(['127.0.10.22'])
    const refused: Probe = {kind: 'tcp', address: '127.0.10.22', port}
    const health = monitor({intervalMs: 60_000})
    health.setProbes([server.probe, refused])
    await waitFor(() => health.state(server.probe) === 'down' && health.state(refused) === 'down', 'both down')
    expect(health.isHealthy(server.probe)).toBe(false)
    expect(health.isHealthy(refused)).toBe(false)
  })

  it('runs one probe for routes that share it', async () => {
    const [spec] = nodes(1, 23)
    const backend = await startTcpNodes([spec!])
    const accepted = (): number => backend.accepted.get(spec!.node) ?? 0
    const health = monitor({intervalMs: 60_000})
    const probe: Probe = {kind: 'tcp', address: spec!.address, port: backend.port}
    health.setProbes([probe, {...probe}, {kind: 'tcp', address: spec!.address, port: backend.port}])
    expect(health.size).toEqual(1)
    await waitFor(() => health.state(probe) === 'up', 'probe up')

    // Re-applying the same probes (another route added) starts nothing new.
    health.setProbes([probe, {...probe}])
    // The backend accepts in order: once our own connection is counted, any second probe would have been too.
    const mine = net.connect({host: spec!.address, port: backend.port})
    onTestFinished(() => {
      mine.destroy()
    })
    await waitFor(() => accepted() >= 2, 'our connection accepted')
    expect(accepted()).toEqual(2)
  })

  it('marks a probe down at once when live traffic reports a failure', async () => {
    const server = await statusServer()
    const health = monitor({intervalMs: 60_000})
    const {changes} = record(health)
    health.setProbes([server.probe])
    await waitFor(() => health.state(server.probe) === 'up', 'probe up')
    health.reportFailure({...server.probe})
    expect(health.state(server.probe)).toEqual('down')
    expect(changes).toEqual(['unknown→up', 'up→down'])
  })

  it('decides a target without a probe of its own by a connect to the target itself', async () => {
    const [spec] = nodes(1, 24)
    const backend = await startTcpNodes([spec!])
    const health = monitor({intervalMs: 60_000})
    const target = {node: spec!.node, address: spec!.address, port: backend.port}
    health.setProbes([target])
    await waitFor(() => health.state(target) === 'up', 'target up')
    expect(health.state({kind: 'tcp', address: spec!.address, port: backend.port})).toEqual('up')
    expect(health.state({kind: 'http', address: spec!.address, port: backend.port})).toEqual('unknown')
    expect(health.size).toEqual(1)
  })

  it('rejects thresholds it cannot count to', () => {
    expect(() => new HealthMonitor({unhealthyThreshold: 256})).toThrow(
      'unhealthyThreshold must be a whole number from 1 to 255, got 256',
    )
    expect(() => new HealthMonitor({healthyThreshold: 1.5})).toThrow(
      'healthyThreshold must be a whole number from 1 to 255, got 1.5',
    )
  })

  it('forgets probes that are no longer wanted', async () => {
    const server = await statusServer()
    const health = monitor({intervalMs: 60_000})
    health.setProbes([server.probe])
    await waitFor(() => health.state(server.probe) === 'up', 'probe up')
    health.setProbes([])
    expect(health.size).toEqual(0)
    expect(health.state(server.probe)).toEqual('unknown')
  })
})

describe('HealthMonitor with a node health port (kube-proxy /healthz)', () => {
  it('decides every connect probe of a node with one /healthz request per round', async () => {
    const [spec] = nodes(1, 94)
    let status = 200
    const healthz = await startHttpNodes([spec!], (_node, _req, res) => {
      res.statusCode = status
      res.end('{}')
    })
    const health = monitor({intervalMs: 50, nodeHealthPort: healthz.port})
    const probes: Probe[] = Array.from({length: 200}, (_, i) => ({
      kind: 'tcp',
      address: spec!.address,
      port: 40000 + i,
    }))
    health.setProbes(probes)
    await waitFor(() => probes.every((p) => health.state(p) === 'up'), 'all up from /healthz alone')
    const before = healthz.stats.get(spec!.node)!.requests
    await waitFor(() => healthz.stats.get(spec!.node)!.requests >= before + 3, 'three more rounds')
    expect(healthz.stats.get(spec!.node)!.requests - before).toBeLessThan(10) // not 200 per round
    status = 503 // kube-proxy says the node is not eligible (being deleted, stale rules)
    await waitFor(() => probes.every((p) => health.state(p) === 'down'), 'all down')
  })

  it('brings a port that live traffic reported down back up with the next /healthz 200', async () => {
    const [spec] = nodes(1, 98)
    const healthz = await startHttpNodes([spec!], (_node, _req, res) => res.end('{}'))
    const health = monitor({intervalMs: 20, nodeHealthPort: healthz.port})
    const {changes} = record(health)
    const probes: Probe[] = [40100, 40101].map((port) => ({kind: 'tcp', address: spec!.address, port}))
    health.setProbes(probes)
    await waitFor(() => probes.every((p) => health.state(p) === 'up'), 'both up')
    // Rounds that repeat the verdict over settled probes visit none of them; a failure report must unsettle them.
    const requests = healthz.stats.get(spec!.node)!.requests
    await waitFor(() => healthz.stats.get(spec!.node)!.requests >= requests + 2, 'two quiet rounds')
    health.reportFailure(probes[0]!)
    expect(health.state(probes[0]!)).toEqual('down')
    await waitFor(() => health.state(probes[0]!) === 'up', 'up again')
    expect(changes).toEqual(['unknown→up', 'unknown→up', 'up→down', 'down→up'])
  })

  it('stops the /healthz rounds of a node once none of its probes is wanted', async () => {
    const [spec] = nodes(1, 99)
    const healthz = await startHttpNodes([spec!], (_node, _req, res) => res.end('{}'))
    const health = monitor({intervalMs: 20, nodeHealthPort: healthz.port})
    const requests = (): number => healthz.stats.get(spec!.node)?.requests ?? 0
    health.setProbes([{kind: 'tcp', address: spec!.address, port: 40200}])
    await waitFor(() => requests() >= 2, 'rounds running')
    health.setProbes([])
    const after = requests()
    await new Promise((r) => setTimeout(r, 200)) // ten intervals
    expect(requests() - after).toBeLessThanOrEqual(1) // at most the round already in flight
  })

  it('falls back to a connect per NodePort where the node has no health server', async () => {
    const specs = nodes(1, 95)
    const open = await startTcpNodes(specs)
    const closedPort = await freeSharedPort(specs.map((s) => s.address))
    const noHealthz = await freeSharedPort(specs.map((s) => s.address))
    const health = monitor({intervalMs: 50, nodeHealthPort: noHealthz})
    const up: Probe = {kind: 'tcp', address: specs[0]!.address, port: open.port}
    const down: Probe = {kind: 'tcp', address: specs[0]!.address, port: closedPort}
    const udpStyle: Probe = {kind: 'http', address: specs[0]!.address, port: noHealthz}
    health.setProbes([up, down, udpStyle])
    // The node answers on a NodePort, so its health-port probe (what UDP targets use) counts it reachable.
    await waitFor(
      () => health.state(up) === 'up' && health.state(down) === 'down' && health.state(udpStyle) === 'up',
      'per-port verdicts',
    )
  })
})

describe('HealthMonitor when the health port speaks another protocol', () => {
  it('takes an answer that is not HTTP for no health server, and falls back to connects', async () => {
    const specs = nodes(1, 116)
    const echo = await startTcpNodes(specs) // answers "node-a:GET /healthz …": not a status line
    const closedPort = await freeSharedPort(specs.map((s) => s.address))
    const health = monitor({intervalMs: 50, nodeHealthPort: echo.port})
    const up: Probe = {kind: 'tcp', address: specs[0]!.address, port: echo.port}
    const down: Probe = {kind: 'tcp', address: specs[0]!.address, port: closedPort}
    health.setProbes([up, down])
    // A verdict from the health port would put both in the same state; connects tell them apart.
    await waitFor(() => health.state(up) === 'up' && health.state(down) === 'down', 'per-port verdicts')
  })
})

describe('HealthMonitor fallback for UDP targets', () => {
  it('marks a node without a health server down for UDP targets when none of its NodePorts answers', async () => {
    const [spec] = nodes(1, 97)
    const [closedA, closedB, noHealthz] = [
      await freeSharedPort([spec!.address]),
      await freeSharedPort([spec!.address]),
      await freeSharedPort([spec!.address]),
    ]
    const health = monitor({intervalMs: 50, nodeHealthPort: noHealthz})
    const udpStyle: Probe = {kind: 'http', address: spec!.address, port: noHealthz}
    health.setProbes([
      {kind: 'tcp', address: spec!.address, port: closedA},
      {kind: 'tcp', address: spec!.address, port: closedB},
      udpStyle,
    ])
    await waitFor(() => health.state(udpStyle) === 'down', 'UDP target down with its node')
  })
})

describe('HealthMonitor fallback bounds', () => {
  it('probes at most 32 NodePorts of a node per round when the node has no health server', async () => {
    const [spec] = nodes(1, 96)
    const noHealthz = await freeSharedPort([spec!.address])
    const health = monitor({intervalMs: 60_000, nodeHealthPort: noHealthz}) // one round within the test
    const probes: Probe[] = Array.from({length: 100}, (_, i) => ({
      kind: 'tcp',
      address: spec!.address,
      port: 41000 + i,
    }))
    health.setProbes(probes)
    await waitFor(() => probes.filter((p) => health.state(p) === 'down').length === 32, 'the first batch decided')
    await new Promise((r) => setTimeout(r, 200))
    expect(probes.filter((p) => health.state(p) === 'unknown')).toHaveLength(68)
  })
})
