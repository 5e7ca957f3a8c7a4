// Section 5, scale: 2,000 Services × 3 ports on 50 nodes (generate.ts). A fresh serve with its own simulated API
// server; the time from spawning it to every long name answering in DNS, its peak RSS (VmHWM), and the CPU it
// uses while idle. Only kube-proxy's /healthz answers on the nodes (nginx on every node address:10256); the
// NodePorts have no listeners. Targets: all names ≤ 5 s after start, RSS ≤ 250 MB, idle CPU ≤ 2 % of a core.
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {startSimServer} from '../../src/sim/api-server.js'
import {KUBE_PROXY_HEALTHZ_PORT} from '../../src/servemap/map.js'
import {UdpDnsClient} from './dns-client.js'
import {syntheticCluster} from './generate.js'
import type {Proc} from './procs.js'
import {num, table, writeLog, type TargetCheck} from './report.js'
import {cpuSeconds, procStatusKb, startServe, type ServeChild} from './serve-child.js'
import {DOMAIN, sleep, type BenchEnv, type SectionResult} from './setup.js'
import {healthzConfig, startNginx} from './tools.js'

const SERVICES = 2000
const NODE_COUNT = 50
const PORTS_PER_SERVICE = 3
const ANSWER_TIMEOUT_MS = 120_000
/** Time after the last name answers before CPU is measured: start-up work winds down. */
const SETTLE_MS = 3000
/**
 * The first minute after that is reported apart from the idle minute: some 20–50 s after start-up's allocations
 * stop, V8's memory reducer runs a few full collections to shrink the heap (seen with --trace-gc; about 2 % of a
 * core over that half-minute here), a cost of starting, not of idling.
 */
const AFTER_START_SECONDS = 60
const TARGETS = {answerMs: 5000, rssMb: 250, idleCpuPercent: 2}

export interface ScaleData {
  services: number
  nodes: number
  servingLineMs: number
  allAnsweredMs?: number
  peakRssMb?: number
  rssAtEndMb?: number
  /** CPU in the AFTER_START_SECONDS before the idle window (see there). */
  afterStartCpuPercent?: number
  idleCpuPercent?: number
  idleCpuSecondsPerMinute?: number
  idleSeconds: number
  /** Size of the table serve prints at start (one row per Service port, listing every target). */
  startTableBytes?: number
  error?: string
}

export async function benchScale(env: BenchEnv): Promise<SectionResult> {
  if (!env.tools.nginx) throw new Error('nginx is missing: the scale section needs it for node health')
  const objects = syntheticCluster({services: SERVICES, nodes: NODE_COUNT, portsPerService: PORTS_PER_SERVICE})
  const nodes = objects
    .filter((o) => o.kind === 'Node')
    .map((o) => (o.status as {addresses: {type: string; address: string}[]}).addresses[0]!.address)
  const names = objects
    .filter((o) => o.kind === 'Service')
    .map((o) => `${o.metadata.name}.${o.metadata.namespace}.${DOMAIN}`)
  const healthz = await startNginx(
    env.tools.nginx,
    env.dir,
    'healthz',
    healthzConfig(env.dir, nodes, KUBE_PROXY_HEALTHZ_PORT),
    {host: nodes[0]!, port: KUBE_PROXY_HEALTHZ_PORT},
  )
  const sim = await startSimServer({objects})
  const kubeconfig = join(env.dir, 'kubeconfig-scale')
  writeFileSync(kubeconfig, sim.kubeconfig(), {mode: 0o600})

  const data: ScaleData = {
    services: SERVICES,
    nodes: NODE_COUNT,
    servingLineMs: NaN,
    idleSeconds: env.settings.idleSeconds,
  }
  let serve: ServeChild | undefined
  let serveProc: Proc | undefined
  let client: UdpDnsClient | undefined
  try {
    const t0 = performance.now()
    serve = await startServe(kubeconfig, '127.87.0.0/16')
    serveProc = serve.proc
    data.servingLineMs = performance.now() - t0
    client = new UdpDnsClient('127.0.0.1', serve.dnsPort)
    // One name polled until it answers, then sweeps over all: no flood of queries while serve is still starting.
    const firstAt = await client.pollUntilAnswered(names[names.length - 1]!, 5, ANSWER_TIMEOUT_MS)
    const lastAt = await client.sweepUntilAllAnswered(names, 20, ANSWER_TIMEOUT_MS)
    data.allAnsweredMs = Math.max(firstAt, lastAt) - t0

    await sleep(SETTLE_MS)
    const afterStartSeconds = Math.min(AFTER_START_SECONDS, env.settings.idleSeconds)
    const settling = cpuSeconds(serve.pid)
    await sleep(afterStartSeconds * 1000)
    data.afterStartCpuPercent = ((cpuSeconds(serve.pid) - settling) / afterStartSeconds) * 100
    const before = cpuSeconds(serve.pid)
    await sleep(env.settings.idleSeconds * 1000)
    const used = cpuSeconds(serve.pid) - before
    data.idleCpuPercent = (used / env.settings.idleSeconds) * 100
    data.idleCpuSecondsPerMinute = (used * 60) / env.settings.idleSeconds
    data.peakRssMb = (procStatusKb(serve.pid, 'VmHWM') * 1024) / 1e6
    data.rssAtEndMb = (procStatusKb(serve.pid, 'VmRSS') * 1024) / 1e6
    data.startTableBytes = serve.proc.stdoutBytes()
  } catch (error) {
    data.error = (error as Error).message
    env.notes.push(`scale: ${data.error.split('\n')[0]}`)
    if (serve && !serveProc?.hasExited()) data.peakRssMb = (procStatusKb(serve.pid, 'VmHWM') * 1024) / 1e6
  } finally {
    client?.close()
    await serveProc?.stop()
    if (serveProc) writeLog('serve-scale.log', serveProc.output())
    await sim.close()
    await healthz.stop()
  }

  const targets: TargetCheck[] = [
    {
      what: `scale: all ${SERVICES} names answering after start`,
      measured: data.allAnsweredMs !== undefined ? `${num(data.allAnsweredMs)} ms` : '-',
      limit: `≤ ${TARGETS.answerMs} ms`,
      ok: data.allAnsweredMs === undefined ? undefined : data.allAnsweredMs <= TARGETS.answerMs,
    },
    {
      what: 'scale: peak RSS (VmHWM)',
      measured: data.peakRssMb !== undefined ? `${num(data.peakRssMb)} MB` : '-',
      limit: `≤ ${TARGETS.rssMb} MB`,
      ok: data.peakRssMb === undefined ? undefined : data.peakRssMb <= TARGETS.rssMb,
    },
    {
      what: 'scale: idle CPU',
      measured: data.idleCpuPercent !== undefined ? `${num(data.idleCpuPercent, 2)} % of a core` : '-',
      limit: `≤ ${TARGETS.idleCpuPercent} %`,
      ok: data.idleCpuPercent === undefined ? undefined : data.idleCpuPercent <= TARGETS.idleCpuPercent,
    },
  ]
  return {
    title: `Scale — ${SERVICES} Services × ${PORTS_PER_SERVICE} ports on ${NODE_COUNT} nodes, --ip-range 127.87.0.0/16 (MB = 10^6 bytes; CPU measured ${SETTLE_MS / 1000} s after the last name answered: the next ${Math.min(AFTER_START_SECONDS, data.idleSeconds)} s, then idle over ${data.idleSeconds} s)`,
    table: table(
      [
        'serving line',
        'all names answer',
        'peak RSS',
        'RSS at end',
        'CPU after start',
        'idle CPU',
        'CPU s / idle min',
        'stdout',
      ],
      [
        [
          `${num(data.servingLineMs)} ms`,
          data.allAnsweredMs !== undefined ? `${num(data.allAnsweredMs)} ms` : '-',
          data.peakRssMb !== undefined ? `${num(data.peakRssMb)} MB` : '-',
          data.rssAtEndMb !== undefined ? `${num(data.rssAtEndMb)} MB` : '-',
          data.afterStartCpuPercent !== undefined ? `${num(data.afterStartCpuPercent, 2)} %` : '-',
          data.idleCpuPercent !== undefined ? `${num(data.idleCpuPercent, 2)} %` : '-',
          num(data.idleCpuSecondsPerMinute, 2),
          data.startTableBytes !== undefined ? `${num(data.startTableBytes / 1e6, 1)} MB` : '-',
        ],
      ],
      0,
    ),
    data,
    targets,
  }
}
