// npm run bench — serve's data path and control plane on one machine, side by side with going to the node
// directly and with the servers people would set up by hand (nginx, HAProxy, dnsmasq): issue 6. Runs the built
// executable (npm run build first) as a child process against the simulated API server, prints tables with
// OK/MISS per target, and writes bench-results/serve.json.
//   BENCH_ONLY=http,tcp,sni,dns,convergence,scale,tunnel   run some sections only (default: all)
//   BENCH_QUICK=1                               short durations, for smoke runs
//   BENCH_REPEAT=3                              run each HTTP and TCP row 3 times (interleaved), report medians
//   BENCH_SERVE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   node options for the serve child (profiling)
import {rmSync} from 'node:fs'
import os from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {benchConvergence} from './convergence-bench.js'
import {benchDns} from './dns-bench.js'
import {benchHttp} from './http-bench.js'
import {LoadRunner} from './load.js'
import {cleanup, cleanupSync, makeTempDir} from './procs.js'
import {
  describeMachine,
  machineLine,
  RESULTS_DIR,
  targetLines,
  writeJson,
  writeLog,
  type TargetCheck,
} from './report.js'
import {benchScale} from './scale-bench.js'
import {settings, startBenchCluster, type BenchCluster, type BenchEnv, type SectionResult, type Tools} from './setup.js'
import {benchSni} from './sni-bench.js'
import {benchTcp} from './tcp-bench.js'
import {benchTunnel} from './tunnel-bench.js'
import {findTool, toolVersion} from './tools.js'

const SECTIONS = ['http', 'tcp', 'sni', 'dns', 'convergence', 'scale', 'tunnel'] as const
type Section = (typeof SECTIONS)[number]
const RESULTS_FILE = join(RESULTS_DIR, 'serve.json')

function selectedSections(only: string | undefined): Section[] {
  if (!only?.trim()) return [...SECTIONS]
  const wanted = only.split(',').map((s) => s.trim().toLowerCase())
  const unknown = wanted.filter((w) => !(SECTIONS as readonly string[]).includes(w))
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown section(s) ${unknown.join(', ')}; use ${SECTIONS.join(',')}`)
  return SECTIONS.filter((s) => wanted.includes(s))
}

function repeat(text: string | undefined): number {
  const n = Number(text ?? 1)
  if (!Number.isInteger(n) || n < 1 || n > 20) throw new Error(`BENCH_REPEAT "${text}" is not a whole number 1–20`)
  return n
}

/** run-ts.mjs removes its bundle of this file after a normal end; an interrupted run removes it here. */
function removeOwnBundle(): void {
  const self = fileURLToPath(import.meta.url)
  if (/[/\\]\.serve\.\d+\.mjs$/.test(self)) rmSync(self, {force: true})
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping every child process and removing temp dirs…`)
    void cleanup().finally(() => {
      removeOwnBundle()
      process.exit(130)
    })
  })
}
process.on('exit', cleanupSync)

const sections = selectedSections(process.env.BENCH_ONLY)
const dir = makeTempDir('bench-serve-')
const env: BenchEnv = {
  dir,
  settings: settings(process.env.BENCH_QUICK === '1', repeat(process.env.BENCH_REPEAT)),
  tools: {},
  load: await LoadRunner.create(dir),
  notes: [],
}
// Tools of sections not selected are only looked up (for the machine line), never installed.
const tool = (name: string, pkg: string, neededBy?: Section) =>
  findTool(name, pkg, env.notes, neededBy === undefined || sections.includes(neededBy))
const tools: Tools = {
  nginx: tool('nginx', 'nginx-light'), // every section: HTTP backend, node health
  wrk: tool('wrk', 'wrk', 'http'),
  haproxy: tool('haproxy', 'haproxy', sections.includes('sni') ? 'sni' : 'tcp'),
  dnsmasq: tool('dnsmasq', 'dnsmasq-base', 'dns'),
  dnsperf: tool('dnsperf', 'dnsperf', 'dns'),
}
env.tools = tools
const machine = describeMachine({
  nginx: toolVersion(tools.nginx, ['-v']),
  wrk: toolVersion(tools.wrk, ['-v']),
  haproxy: toolVersion(tools.haproxy, ['-v']),
  dnsmasq: toolVersion(tools.dnsmasq, ['--version']),
  dnsperf: toolVersion(tools.dnsperf, ['-h']),
})
console.log(machineLine(machine))
const mode = [
  env.settings.quick && 'BENCH_QUICK: short runs',
  env.settings.rounds > 1 && `BENCH_REPEAT=${env.settings.rounds}`,
]
console.log(`sections: ${sections.join(', ')}${mode.some(Boolean) ? ` (${mode.filter(Boolean).join('; ')})` : ''}\n`)

const results: Partial<Record<Section, SectionResult>> = {}
const failed: Partial<Record<Section, string>> = {}
const loadAverages: Partial<Record<Section, number>> = {}
const startedAt = new Date().toISOString()
let cluster: BenchCluster | undefined
// Started once, for the first section that needs it; a failure to start is reported by every such section.
let clusterStart: Promise<BenchCluster> | undefined
try {
  for (const section of sections) {
    const began = Date.now()
    // Other work on the machine skews every figure; the load average at each section's start shows how much.
    loadAverages[section] = os.loadavg()[0]!
    console.error(`[bench] ${section}… (load average ${loadAverages[section].toFixed(2)})`)
    try {
      // scale starts a serve of its own; the first one would only take CPU from it.
      if (section === 'scale') await cluster?.serve.proc.stop()
      else if (section !== 'tunnel') cluster = await (clusterStart ??= startBenchCluster(env))
      const run = {
        http: () => benchHttp(env, cluster!),
        tcp: () => benchTcp(env, cluster!),
        sni: () => benchSni(env, cluster!),
        dns: () => benchDns(env, cluster!),
        convergence: () => benchConvergence(env, cluster!),
        scale: () => benchScale(env),
        tunnel: () => benchTunnel(env),
      }[section]
      results[section] = await run()
      console.log(`${results[section].title}\n${results[section].table}\n`)
    } catch (error) {
      failed[section] = (error as Error).message
      console.log(`${section}: not measured — ${failed[section].split('\n')[0]}\n`)
      env.notes.push(`${section}: ${failed[section]}`)
    }
    console.error(`[bench] ${section} done in ${((Date.now() - began) / 1000).toFixed(0)} s`)
  }
} finally {
  if (cluster) writeLog('serve.log', cluster.serve.proc.output())
  await cluster?.sim.close()
  await cleanup()
}

const targets: TargetCheck[] = sections.flatMap((s) => results[s]?.targets ?? [])
console.log(`Targets (issue 20; ratios from this run)\n${targetLines(targets)}`)
if (env.notes.length) console.log(`\nNotes:\n${env.notes.map((n) => `- ${n.split('\n')[0]}`).join('\n')}`)
writeJson(RESULTS_FILE, {
  startedAt,
  quick: env.settings.quick,
  sections,
  settings: env.settings,
  machine,
  results: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, {title: v.title, data: v.data}])),
  failed,
  loadAverages,
  targets,
  notes: env.notes,
})
console.log(`\nwrote ${RESULTS_FILE}`)
const missed = targets.filter((t) => t.ok === false).length
console.log(`${targets.length - missed} of ${targets.length} targets met${missed ? `, ${missed} missed` : ''}`)
// Missed targets are results; a section that could not run is a failure of the bench itself.
if (Object.keys(failed).length) process.exitCode = 1
