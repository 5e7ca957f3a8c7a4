// Section 5, scale (issue 20, target 5): 10,000 Services on 100 nodes — 2,500 NodePort (30000–32499, most of the
// default NodePort range) and 7,500 ClusterIP with one endpoint Pod each, which serve maps through the API server
// (--paths auto, src/plan/paths.ts). A fresh serve with its own simulated API server; measured on it:
// - the time from spawning serve to every long name answering in DNS, its peak RSS (VmHWM), its CPU while idle;
// - with the whole map loaded, one Service changed at a time through the simulator (half of them new Services, half
//   a NodePort Service moved to another NodePort): the time from sim.apply to serve's DNS answering the new name,
//   or to serve's table (its change log) showing the new NodePort;
// - `kubectl expose-lb list -o json` against the same simulated cluster, as a new process each time.
// Only kube-proxy's /healthz answers on the nodes (nginx on every node address:10256); the NodePorts have no
// listeners, and no connection goes through a tunnel: the figures are serve's control plane.
import {execFile} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {startSimServer} from '../../src/sim/api-server.js'
import {KUBE_PROXY_HEALTHZ_PORT} from '../../src/servemap/map.js'
import {UdpDnsClient} from './dns-client.js'
import {ISSUE_SCALE, nodeAddress, scaleCluster, scaleService, scaleServiceObjects, type ScaleShape} from './generate.js'
import {launcherEnv, type Proc} from './procs.js'
import {num, percentile, table, writeLog, type TargetCheck} from './report.js'
import {cpuSeconds, procStatusKb, startServe, type ServeChild} from './serve-child.js'
import {DOMAIN, sleep, type BenchEnv, type SectionResult} from './setup.js'
import {healthzConfig, startNginx} from './tools.js'

const SHAPE: ScaleShape = ISSUE_SCALE
const SERVICES = SHAPE.nodePortServices + SHAPE.clusterIpServices
const ANSWER_TIMEOUT_MS = 120_000
/** Time after the last name answers before CPU is measured: start-up work winds down. */
const SETTLE_MS = 3000
/**
 * The first minute after that is reported apart from the idle minute: some 20–50 s after start-up's allocations
 * stop, V8's memory reducer runs a few full collections to shrink the heap (seen with --trace-gc), a cost of
 * starting, not of idling.
 */
const AFTER_START_SECONDS = 60
/** Changes measured with the whole map loaded (BENCH_QUICK: 20). */
const CHANGES = {full: 100, quick: 20}
const CHANGE_POLL_MS = 2
const CHANGE_TIMEOUT_MS = 10_000
/** A change moves a NodePort Service to a NodePort above the ones in use (32500 and up). */
const MOVED_NODE_PORT_BASE = 32500
const LIST_RUNS = 3
const TARGETS = {answerMs: 5000, rssMb: 300, idleCpuPercent: 2, changeP99Ms: 250, listMs: 3000}
const BIN = fileURLToPath(new URL('../../bin/kubectl-expose_lb', import.meta.url))
const run = promisify(execFile)

export interface ScaleData {
  services: number
  nodePortServices: number
  clusterIpServices: number
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
  /** Size of the table serve prints at start. */
  startTableBytes?: number
  /** sim.apply → live, per change: a new Service's name answering, or a moved NodePort in serve's log. */
  addMs: number[]
  moveMs: number[]
  /**
   * serve's CPU time (user + system) over all the changes, per change: what a change costs serve itself, which a
   * loaded machine inflates far less than the wall times above.
   */
  changeCpuMs?: number
  changeFailures: string[]
  /** Wall time of `list -o json`, each run, and the Services it listed. */
  listMs: number[]
  listedServices?: number
  error?: string
}

/** Resolves when serve's output shows `pattern` (its change log on stderr), with when. */
async function waitForLog(proc: Proc, pattern: RegExp): Promise<number> {
  await proc.waitForOutput(pattern, CHANGE_TIMEOUT_MS)
  return performance.now()
}

/** Changes one Service at a time and times each until it is live; even i adds a Service, odd i moves a NodePort. */
async function measureChanges(
  env: BenchEnv,
  sim: {apply(o: import('../../src/sim/api-server.js').KubeObject): unknown},
  serve: ServeChild,
  client: UdpDnsClient,
  data: ScaleData,
): Promise<void> {
  const changes = env.settings.quick ? CHANGES.quick : CHANGES.full
  const extra: ScaleShape = {...SHAPE, clusterIpServices: SHAPE.clusterIpServices + changes}
  for (let i = 0; i < changes; i++) {
    try {
      if (i % 2 === 0) {
        // A new ClusterIP Service (and its slice): its name answers once serve has mapped it.
        const objects = scaleServiceObjects(SERVICES + i, extra)
        const {name, namespace} = scaleService(SERVICES + i, extra)
        const t0 = performance.now()
        for (const o of objects) sim.apply(o)
        data.addMs.push(
          (await client.pollUntilAnswered(`${name}.${namespace}.${DOMAIN}`, CHANGE_POLL_MS, CHANGE_TIMEOUT_MS)) - t0,
        )
      } else {
        // An existing NodePort Service moved to another NodePort: serve logs the changed route with it.
        const s = (i * 37) % SHAPE.nodePortServices
        const {name} = scaleService(s, SHAPE)
        const [svc] = scaleServiceObjects(s, SHAPE, i)
        const nodePort = MOVED_NODE_PORT_BASE + i
        const spec = svc!.spec as {ports: Array<{nodePort?: number}>}
        spec.ports[0]!.nodePort = nodePort
        const logged = waitForLog(serve.proc, new RegExp(`route changed: ${name}\\.[^\\n]*:${nodePort}\\b`))
        const t0 = performance.now()
        sim.apply(svc!)
        data.moveMs.push((await logged) - t0)
      }
    } catch (error) {
      data.changeFailures.push((error as Error).message.split('\n')[0]!)
    }
  }
}

export async function benchScale(env: BenchEnv): Promise<SectionResult> {
  if (!env.tools.nginx) throw new Error('nginx is missing: the scale section needs it for node health')
  const objects = scaleCluster(SHAPE)
  const nodes = Array.from({length: SHAPE.nodes}, (_, n) => nodeAddress(n))
  const names = Array.from({length: SERVICES}, (_, s) => scaleService(s, SHAPE)).map(
    ({name, namespace}) => `${name}.${namespace}.${DOMAIN}`,
  )
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
    nodePortServices: SHAPE.nodePortServices,
    clusterIpServices: SHAPE.clusterIpServices,
    nodes: SHAPE.nodes,
    servingLineMs: NaN,
    idleSeconds: env.settings.idleSeconds,
    addMs: [],
    moveMs: [],
    changeFailures: [],
    listMs: [],
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
    data.startTableBytes = serve.proc.stdoutBytes()

    const cpuBeforeChanges = cpuSeconds(serve.pid)
    await measureChanges(env, sim, serve, client, data)
    const measured = data.addMs.length + data.moveMs.length
    if (measured > 0) data.changeCpuMs = ((cpuSeconds(serve.pid) - cpuBeforeChanges) * 1000) / measured
    data.peakRssMb = (procStatusKb(serve.pid, 'VmHWM') * 1024) / 1e6
    data.rssAtEndMb = (procStatusKb(serve.pid, 'VmRSS') * 1024) / 1e6
    if (data.changeFailures.length) {
      env.notes.push(`scale: ${data.changeFailures.length} changes not live, first: ${data.changeFailures[0]}`)
    }
  } catch (error) {
    data.error = (error as Error).message
    env.notes.push(`scale: ${data.error.split('\n')[0]}`)
    if (serve && !serveProc?.hasExited()) data.peakRssMb = (procStatusKb(serve.pid, 'VmHWM') * 1024) / 1e6
  } finally {
    client?.close()
    await serveProc?.stop()
    if (serveProc) writeLog('serve-scale.log', serveProc.output())
  }
  try {
    // list on the same cluster (serve stopped: it would only take CPU from it), a new process each run.
    for (let i = 0; i < LIST_RUNS; i++) {
      const started = performance.now()
      const {stdout} = await run(BIN, ['list', '-o', 'json', '--kubeconfig', kubeconfig], {
        maxBuffer: 1 << 28,
        env: launcherEnv(),
      })
      data.listMs.push(performance.now() - started)
      data.listedServices = (JSON.parse(stdout) as {services: unknown[]}).services.length
    }
  } catch (error) {
    env.notes.push(`scale: list -o json failed: ${(error as Error).message.split('\n')[0]}`)
  } finally {
    await sim.close()
    await healthz.stop()
  }

  const changeMs = [...data.addMs, ...data.moveMs]
  const changes = env.settings.quick ? CHANGES.quick : CHANGES.full
  const changeP99 = changeMs.length ? percentile(changeMs, 0.99) : undefined
  const listMax = data.listMs.length ? percentile(data.listMs, 1) : undefined
  const ms = (n: number | undefined) => (n === undefined ? '-' : `${num(n)} ms`)
  const check = (what: string, measured: string, limit: string, ok: boolean | undefined): TargetCheck => ({
    what: `scale: ${what}`,
    measured,
    limit,
    ok,
  })
  const targets: TargetCheck[] = [
    check(
      `all ${num(SERVICES)} names answering after start`,
      ms(data.allAnsweredMs),
      `≤ ${num(TARGETS.answerMs)} ms`,
      data.allAnsweredMs === undefined ? undefined : data.allAnsweredMs <= TARGETS.answerMs,
    ),
    check(
      'peak RSS (VmHWM)',
      data.peakRssMb !== undefined ? `${num(data.peakRssMb)} MB` : '-',
      `≤ ${TARGETS.rssMb} MB`,
      data.peakRssMb === undefined ? undefined : data.peakRssMb <= TARGETS.rssMb,
    ),
    check(
      'idle CPU',
      data.idleCpuPercent !== undefined ? `${num(data.idleCpuPercent, 2)} % of a core` : '-',
      `≤ ${TARGETS.idleCpuPercent} %`,
      data.idleCpuPercent === undefined ? undefined : data.idleCpuPercent <= TARGETS.idleCpuPercent,
    ),
    // A change that never went live counts as a miss even if the percentile of the rest looks fine.
    check(
      'one-Service change live, p99 (whole map loaded)',
      `${ms(changeP99)} (${changeMs.length}/${changes} live)`,
      `≤ ${TARGETS.changeP99Ms} ms`,
      changeP99 === undefined ? undefined : changeP99 <= TARGETS.changeP99Ms && changeMs.length === changes,
    ),
    check(
      `list -o json, slowest of ${LIST_RUNS}`,
      `${ms(listMax)}${data.listedServices !== undefined ? ` (${num(data.listedServices)} Services)` : ''}`,
      `≤ ${num(TARGETS.listMs)} ms`,
      listMax === undefined ? undefined : listMax <= TARGETS.listMs && data.listMs.length === LIST_RUNS,
    ),
  ]
  const stat = (s: number[], p: number) => (s.length ? num(percentile(s, p)) : '-')
  return {
    title:
      `Scale — ${num(SERVICES)} Services (${num(SHAPE.nodePortServices)} NodePort, ${num(SHAPE.clusterIpServices)} ClusterIP through the API server) on ${SHAPE.nodes} nodes, ` +
      `--ip-range 127.87.0.0/16 (MB = 10^6 bytes; CPU measured ${SETTLE_MS / 1000} s after the last name answered: the next ${Math.min(AFTER_START_SECONDS, data.idleSeconds)} s, then idle over ${data.idleSeconds} s; ` +
      `then ${changes} one-Service changes; list -o json ${LIST_RUNS}× on the same cluster)`,
    table: [
      table(
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
            ms(data.servingLineMs),
            ms(data.allAnsweredMs),
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
      table(
        ['change (whole map loaded)', 'p50 ms', 'p99 ms', 'max ms', 'live'],
        [
          [
            'new Service answers in DNS',
            stat(data.addMs, 0.5),
            stat(data.addMs, 0.99),
            stat(data.addMs, 1),
            `${data.addMs.length}/${Math.ceil(changes / 2)}`,
          ],
          [
            'moved NodePort in serve log',
            stat(data.moveMs, 0.5),
            stat(data.moveMs, 0.99),
            stat(data.moveMs, 1),
            `${data.moveMs.length}/${Math.floor(changes / 2)}`,
          ],
          [
            'serve CPU per change (user + system)',
            data.changeCpuMs !== undefined ? num(data.changeCpuMs) : '-',
            '',
            '',
            `${data.addMs.length + data.moveMs.length}/${changes}`,
          ],
          [
            'list -o json (wall, new process)',
            stat(data.listMs, 0.5),
            '',
            stat(data.listMs, 1),
            `${data.listMs.length}/${LIST_RUNS}`,
          ],
        ],
      ),
    ].join('\n\n'),
    data,
    targets,
  }
}
