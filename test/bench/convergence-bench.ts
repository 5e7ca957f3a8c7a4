// Section 4, convergence: Services added one at a time through the simulated API server; for each, the time
// from sim.apply to serve's DNS answering the new name (a UDP query every 2 ms) and to its Host router returning
// 200 for it (a GET every 5 ms). Target: p99 ≤ 250 ms for both.
import http from 'node:http'
import {performance} from 'node:perf_hooks'
import {changedService} from './cluster.js'
import {UdpDnsClient} from './dns-client.js'
import {num, percentile, table, type TargetCheck} from './report.js'
import {DOMAIN, httpStatus, sleep, type BenchCluster, type BenchEnv, type SectionResult} from './setup.js'

const DNS_POLL_MS = 2
const HTTP_POLL_MS = 5
const CHANGE_TIMEOUT_MS = 10_000
const TARGET_P99_MS = 250

export interface ConvergenceData {
  changes: number
  dnsMs: number[]
  httpMs: number[]
  failures: string[]
}

/** GETs `/` with Host `host` every `intervalMs` (one at a time) until a 200; resolves with when it arrived. */
async function pollRouter(port: number, host: string, agent: http.Agent): Promise<number> {
  const deadline = performance.now() + CHANGE_TIMEOUT_MS
  for (;;) {
    const started = performance.now()
    const status = await httpStatus('127.0.0.1', port, '/', host, agent).catch(() => 0)
    const now = performance.now()
    if (status === 200) return now
    if (now > deadline) throw new Error(`router did not answer 200 for ${host} within ${CHANGE_TIMEOUT_MS} ms`)
    await sleep(Math.max(0, started + HTTP_POLL_MS - now))
  }
}

export async function benchConvergence(env: BenchEnv, cluster: BenchCluster): Promise<SectionResult> {
  const changes = Math.min(env.settings.changes, cluster.maxChanges)
  const client = new UdpDnsClient('127.0.0.1', cluster.serve.dnsPort)
  const agent = new http.Agent({keepAlive: true, maxSockets: 1})
  const data: ConvergenceData = {changes, dnsMs: [], httpMs: [], failures: []}
  try {
    for (let i = 0; i < changes; i++) {
      const name = `change-${i}.${DOMAIN}`
      const t0 = performance.now()
      cluster.sim.apply(changedService(i))
      const [dnsAt, httpAt] = await Promise.allSettled([
        client.pollUntilAnswered(name, DNS_POLL_MS, CHANGE_TIMEOUT_MS),
        pollRouter(cluster.serve.httpPort, name, agent),
      ])
      if (dnsAt.status === 'fulfilled') data.dnsMs.push(dnsAt.value - t0)
      else data.failures.push(String(dnsAt.reason))
      if (httpAt.status === 'fulfilled') data.httpMs.push(httpAt.value - t0)
      else data.failures.push(String(httpAt.reason))
    }
  } finally {
    client.close()
    agent.destroy()
  }
  if (data.failures.length) env.notes.push(`convergence: ${data.failures.length} timeouts, first: ${data.failures[0]}`)

  const stats = (samples: number[]) => ({
    p50: percentile(samples, 0.5),
    p99: percentile(samples, 0.99),
    max: percentile(samples, 1),
  })
  const dns = stats(data.dnsMs)
  const router = stats(data.httpMs)
  // A timed-out change counts as a miss even if the percentiles of the rest look fine.
  const check = (what: string, st: {p99: number}, n: number): TargetCheck => ({
    what: `convergence ${what}: p99`,
    measured: `${num(st.p99)} ms (${n}/${changes} converged)`,
    limit: `≤ ${TARGET_P99_MS} ms`,
    ok: n === 0 ? undefined : st.p99 <= TARGET_P99_MS && n === changes,
  })
  return {
    title: `Convergence — ${changes} Services added one at a time; time from sim.apply to answering (DNS polled every ${DNS_POLL_MS} ms, router every ${HTTP_POLL_MS} ms)`,
    table: table(
      ['what', 'p50 ms', 'p99 ms', 'max ms', 'converged'],
      [
        [
          'DNS answers the new name',
          num(dns.p50, 1),
          num(dns.p99, 1),
          num(dns.max, 1),
          `${data.dnsMs.length}/${changes}`,
        ],
        [
          'Host router returns 200',
          num(router.p50, 1),
          num(router.p99, 1),
          num(router.max, 1),
          `${data.httpMs.length}/${changes}`,
        ],
      ],
    ),
    data: {...data, dns, router},
    targets: [check('DNS', dns, data.dnsMs.length), check('HTTP router', router, data.httpMs.length)],
  }
}
