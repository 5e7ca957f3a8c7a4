// Section 3, DNS: dnsperf over UDP against serve's responder and against dnsmasq answering the same names with
// the same addresses (from a hosts file). Queries/s from a plain run; p50/p99 from a second, `-v` run whose
// per-response latencies go to a file (this dnsperf has no latency histogram). Targets (issue 20): serve ≥ 1.0×
// dnsmasq's q/s, and p99 ≤ dnsmasq's p99 + 1 ms.
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {dnsNames, DNS_SERVICES} from './cluster.js'
import {answered, UdpDnsClient} from './dns-client.js'
import {atLeast, num, ratio, table, tailWithin, type TargetCheck} from './report.js'
import {treeCpuSeconds} from './serve-child.js'
import {DOMAIN, type BenchCluster, type BenchEnv, type SectionResult} from './setup.js'
import {freePort, runDnsperf, startDnsmasq, verboseLatencies, type DnsperfResult} from './tools.js'

const CLIENTS = 8
const MAX_QPS = 200_000

export interface DnsRow {
  server: string
  port: number
  throughput?: DnsperfResult
  latency?: {p50Ms: number; p99Ms: number; queriesPerS: number}
  /** The responder's process, and the CPU it spent per answered query of the throughput run (µs). */
  pid?: number
  cpuUsPerQuery?: number
  error?: string
}

export async function benchDns(env: BenchEnv, cluster: BenchCluster): Promise<SectionResult> {
  const {dnsperf, dnsmasq} = env.tools
  if (!dnsperf) throw new Error('dnsperf is missing: DNS section skipped')
  const s = env.settings
  const names = dnsNames(DOMAIN)
  // The addresses serve answers, so dnsmasq answers exactly the same.
  const hosts = new Map<string, string>()
  for (const name of names) hosts.set(name, (await cluster.serve.resolver.resolve4(name))[0]!)
  const queryFile = join(env.dir, 'queries.txt')
  writeFileSync(queryFile, names.map((n) => `${n} A\n`).join(''))

  const rows: DnsRow[] = [{server: 'serve', port: cluster.serve.dnsPort, pid: cluster.serve.pid}]
  let stopDnsmasq: (() => Promise<void>) | undefined
  if (dnsmasq) {
    const port = await freePort()
    const client = new UdpDnsClient('127.0.0.1', port)
    try {
      const proc = await startDnsmasq(dnsmasq, env.dir, port, hosts, async () => {
        const r = await client.query(names[0]!, 200)
        return r !== undefined && answered(r)
      })
      stopDnsmasq = () => proc.stop()
      rows.push({server: 'dnsmasq', port, pid: proc.child.pid})
    } catch (error) {
      env.notes.push(`dnsmasq did not start: ${(error as Error).message.split('\n')[0]}`)
    } finally {
      client.close()
    }
  } else env.notes.push('dnsmasq missing: no dnsmasq row, so the DNS target cannot be checked')
  // The floor of a responder written on Node's dgram sockets, on this machine: each query sent back as an empty
  // answer (load-worker.ts dns-floor). A reference row, not a target.
  let stopFloor: (() => Promise<void>) | undefined
  try {
    const port = await freePort()
    const proc = await env.load.startDnsFloor({host: '127.0.0.1', port})
    stopFloor = () => proc.stop()
    rows.push({server: 'plain Node dgram (reference, empty answers)', port, pid: proc.child.pid})
  } catch (error) {
    env.notes.push(`the plain Node dgram responder did not start: ${(error as Error).message.split('\n')[0]}`)
  }

  try {
    for (const row of rows) {
      try {
        const common = {port: row.port, queryFile, clients: CLIENTS, maxQps: MAX_QPS}
        await runDnsperf(dnsperf, {...common, durationS: 1}) // warm-up
        const cpuBefore = row.pid === undefined ? undefined : treeCpuSeconds(row.pid)
        row.throughput = await runDnsperf(dnsperf, {...common, durationS: s.dnsSeconds})
        const answeredCount = row.throughput.sent - row.throughput.lost
        if (row.pid !== undefined && cpuBefore !== undefined && answeredCount > 0) {
          row.cpuUsPerQuery = ((treeCpuSeconds(row.pid) - cpuBefore) * 1e6) / answeredCount
        }
        const verboseFile = join(env.dir, `dnsperf-${row.server}.out`)
        await runDnsperf(dnsperf, {...common, durationS: s.dnsLatencySeconds, verboseFile})
        const v = await verboseLatencies(verboseFile)
        row.latency = {p50Ms: v.p50Ms, p99Ms: v.p99Ms, queriesPerS: v.stats.queriesPerS}
        if (row.throughput.lost > 0) env.notes.push(`DNS ${row.server}: ${row.throughput.lost} queries lost`)
        if (!/^NOERROR \d+ \(100\.00%\)$/.test(row.throughput.responseCodes)) {
          env.notes.push(`DNS ${row.server}: response codes ${row.throughput.responseCodes}`)
        }
      } catch (error) {
        row.error = (error as Error).message
        env.notes.push(`DNS ${row.server}: ${row.error.split('\n')[0]}`)
      }
    }
  } finally {
    await stopDnsmasq?.()
    await stopFloor?.()
  }

  const base = rows.find((r) => r.server === 'dnsmasq')?.throughput
  const tableRows = rows.map((r) => [
    r.server,
    num(r.throughput?.queriesPerS),
    num(r.throughput?.avgLatencyMs, 3),
    num(r.latency?.p50Ms, 3),
    num(r.latency?.p99Ms, 3),
    num(r.latency?.queriesPerS),
    r.throughput ? String(r.throughput.lost) : '-',
    ratio(r.throughput?.queriesPerS, base?.queriesPerS),
    num(r.cpuUsPerQuery, 1),
  ])
  const mine = rows[0]
  const baseRow = rows.find((r) => r.server === 'dnsmasq')
  const targets: TargetCheck[] = [
    atLeast('DNS serve: queries/s', mine?.throughput?.queriesPerS, base?.queriesPerS, 1, 'dnsmasq'),
    tailWithin('DNS serve: p99', mine?.latency?.p99Ms, baseRow?.latency?.p99Ms, 1, 'dnsmasq p99'),
  ]
  return {
    title:
      `DNS — dnsperf -c${CLIENTS} -Q${MAX_QPS} -l${s.dnsSeconds} over UDP, ${names.length} A names of ` +
      `${DNS_SERVICES} Services; p50/p99 from a separate ${s.dnsLatencySeconds} s -v run (its own q/s beside them)`,
    table: table(
      ['server', 'q/s', 'avg ms', 'p50 ms', 'p99 ms', 'q/s (-v run)', 'lost', '× dnsmasq', 'CPU µs/q'],
      tableRows,
    ),
    data: rows,
    targets,
  }
}
