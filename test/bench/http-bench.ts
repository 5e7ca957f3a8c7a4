// Section 1, HTTP: wrk (keep-alive, --latency) straight to a node's NodePort, through nginx as a reverse proxy
// (1 and 2 workers), through the plainest Node proxy (a reference: what Node's sockets cost), through serve's Host
// router and through serve's per-service address; a small response and 1 MiB. Targets (issue 20): serve ≥ 0.8×
// nginx(1 worker)'s req/s for small responses and ≥ 1.0× for 1 MiB, and p99 ≤ nginx(1 worker)'s p99 + 1 ms for both.
import {NODE_PORTS, NODES} from './cluster.js'
import type {Proc} from './procs.js'
import {treeCpuSeconds} from './serve-child.js'
import {atLeast, medianBy, num, ratio, table, tailWithin, type TargetCheck} from './report.js'
import {DOMAIN, httpStatus, type BenchCluster, type BenchEnv, type SectionResult} from './setup.js'
import {freePort, reverseProxyConfig, runWrk, startNginx, type WrkResult} from './tools.js'

const THREADS = 2
const CONNECTIONS = 64
const SIZES = [
  {key: 'small', label: 'small', path: '/', factor: 0.8},
  {key: '1MiB', label: '1 MiB', path: '/1m', factor: 1.0},
] as const

interface HttpPath {
  key: string
  label: string
  host: string
  port: number
  hostHeader?: string
  /** Starts what the path goes through (nginx); stopped after the path is measured. */
  start?: () => Promise<Proc>
  /** The proxy's process (its children counted too), for the CPU it spends per request; none for direct. */
  pid?: () => number | undefined
}

export interface HttpRow {
  path: string
  label: string
  size: string
  /** Medians over the runs (each figure on its own), errors summed; and every run. */
  wrk?: WrkResult
  runs: WrkResult[]
  /**
   * CPU time the proxy spent per request (user + system, µs), median over the runs: what a request costs it,
   * whatever else the machine was doing; req/s and tails move with the load, this moves much less.
   */
  cpuUsPerRequest?: number
  cpuUs: number[]
  error?: string
}

/** Each figure's median over the runs (a p99 is not taken from the run with the median req/s: tails vary alone). */
function summarize(runs: WrkResult[]): WrkResult | undefined {
  if (runs.length === 0) return undefined
  const median = (key: (r: WrkResult) => number) => key(medianBy(runs, key)!)
  return {
    requestsPerS: median((r) => r.requestsPerS),
    p50Ms: median((r) => r.p50Ms),
    p99Ms: median((r) => r.p99Ms),
    requests: runs.reduce((n, r) => n + r.requests, 0),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    transferPerS: medianBy(runs, (r) => r.requestsPerS)!.transferPerS,
  }
}

export async function benchHttp(env: BenchEnv, cluster: BenchCluster): Promise<SectionResult> {
  const {wrk, nginx} = env.tools
  if (!wrk) throw new Error('wrk is missing: HTTP section skipped')
  const s = env.settings
  const web = `web.${DOMAIN}`
  const proxyPath = async (workers: number): Promise<HttpPath> => {
    const port = await freePort()
    return {
      key: `nginx-w${workers}`,
      label: `nginx reverse proxy, ${workers} worker${workers > 1 ? 's' : ''}`,
      host: '127.0.0.1',
      port,
      start: () =>
        startNginx(
          nginx!,
          env.dir,
          `proxy-w${workers}`,
          reverseProxyConfig(env.dir, {workers, listenPort: port, nodes: NODES, nodePort: NODE_PORTS.web}),
          {host: '127.0.0.1', port},
        ),
    }
  }
  // The floor of a proxy written on Node's sockets, on this machine: no HTTP read, a new node connection per client;
  // `raw`: the same on Node's TCP handles, without net.Socket and streams (load-worker.ts raw-splice).
  const nodeSplicePath = async (raw = false): Promise<HttpPath> => {
    const port = await freePort()
    const pairs = [{listen: {host: '127.0.0.1', port}, target: {host: NODES[0]!, port: NODE_PORTS.web}}]
    return {
      key: raw ? 'node-raw-splice' : 'node-splice',
      label: raw ? 'Node TCP handles splice (reference)' : 'plain Node splice (reference)',
      host: '127.0.0.1',
      port,
      start: () => (raw ? env.load.startRawSplice(pairs) : env.load.startSplice(pairs)),
    }
  }
  const paths: HttpPath[] = [
    {key: 'direct', label: `direct to node ${NODES[0]}:${NODE_PORTS.web}`, host: NODES[0]!, port: NODE_PORTS.web},
    ...(nginx ? [await proxyPath(1), await proxyPath(2)] : []),
    await nodeSplicePath(),
    await nodeSplicePath(true),
    {
      key: 'serve-router',
      label: `serve Host router 127.0.0.1:${cluster.serve.httpPort}`,
      host: '127.0.0.1',
      port: cluster.serve.httpPort,
      hostHeader: web,
      pid: () => cluster.serve.pid,
    },
    {
      key: 'serve-address',
      label: `serve per-service ${cluster.addresses.web}:${cluster.serve.httpPort}`,
      host: cluster.addresses.web,
      port: cluster.serve.httpPort,
      pid: () => cluster.serve.pid,
    },
  ]
  if (!nginx) env.notes.push('nginx missing: no reverse-proxy rows, so the HTTP targets cannot be checked')

  const rows: HttpRow[] = paths.flatMap((p) =>
    SIZES.map((size) => ({path: p.key, label: p.label, size: size.key, runs: [], cpuUs: []})),
  )
  // Rounds go over every path in turn, so drift in the machine's load spreads over all paths alike.
  for (let round = 0; round < s.rounds; round++) {
    for (const p of paths) {
      const mine = rows.filter((r) => r.path === p.key)
      let proc: Proc | undefined
      try {
        proc = await p.start?.()
        for (const size of SIZES) {
          const row = mine.find((r) => r.size === size.key)!
          if (row.error) continue
          try {
            const status = await httpStatus(p.host, p.port, size.path, p.hostHeader)
            if (status !== 200) throw new Error(`GET ${size.path} answered ${status}`)
            const url = `http://${p.host}:${p.port}${size.path}`
            const opts = {threads: THREADS, connections: CONNECTIONS, host: p.hostHeader}
            await runWrk(wrk, url, {...opts, durationS: s.warmupSeconds})
            const pid = p.pid?.() ?? proc?.child.pid
            const cpuBefore = pid === undefined ? undefined : treeCpuSeconds(pid)
            const result = await runWrk(wrk, url, {...opts, durationS: s.wrkSeconds})
            row.runs.push(result)
            if (pid !== undefined && cpuBefore !== undefined && result.requests > 0) {
              row.cpuUs.push(((treeCpuSeconds(pid) - cpuBefore) * 1e6) / result.requests)
            }
            if (result.errors > 0) env.notes.push(`HTTP ${p.key} ${size.key}: wrk ${result.errorDetail}`)
          } catch (error) {
            row.error = (error as Error).message
            env.notes.push(`HTTP ${p.key} ${size.key}: ${row.error.split('\n')[0]}`)
          }
        }
      } catch (error) {
        for (const row of mine) row.error ??= (error as Error).message
        env.notes.push(`HTTP ${p.key}: ${(error as Error).message.split('\n')[0]}`)
      } finally {
        await proc?.stop()
      }
    }
  }
  for (const row of rows) {
    row.wrk = summarize(row.runs)
    row.cpuUsPerRequest = medianBy(row.cpuUs, (us) => us)
  }

  const find = (path: string, size: string) => rows.find((r) => r.path === path && r.size === size)?.wrk
  const tableRows = rows.map((r) => {
    const base = find('nginx-w1', r.size)
    return [
      r.label,
      SIZES.find((x) => x.key === r.size)!.label,
      num(r.wrk?.requestsPerS),
      num(r.wrk?.p50Ms, 2),
      num(r.wrk?.p99Ms, 2),
      r.wrk ? String(r.wrk.errors) : (r.error?.split('\n')[0]?.slice(0, 40) ?? '-'),
      ratio(r.wrk?.requestsPerS, base?.requestsPerS),
      num(r.cpuUsPerRequest, 1),
    ]
  })
  const targets: TargetCheck[] = []
  for (const path of ['serve-router', 'serve-address']) {
    for (const size of SIZES) {
      const mine = find(path, size.key)
      const base = find('nginx-w1', size.key)
      const what = `HTTP ${path} ${size.label}`
      targets.push(atLeast(`${what}: req/s`, mine?.requestsPerS, base?.requestsPerS, size.factor, 'nginx(1w)'))
      targets.push(tailWithin(`${what}: p99`, mine?.p99Ms, base?.p99Ms, 1, 'nginx(1w) p99'))
    }
  }
  return {
    title:
      `HTTP — wrk -t${THREADS} -c${CONNECTIONS} -d${s.wrkSeconds}s --latency, keep-alive, after a ${s.warmupSeconds} s warm-up` +
      (s.rounds > 1 ? `; medians of ${s.rounds} runs` : ''),
    table: table(['path', 'size', 'req/s', 'p50 ms', 'p99 ms', 'errors', '× nginx(1w)', 'CPU µs/req'], tableRows, 2),
    data: rows,
    targets,
  }
}
