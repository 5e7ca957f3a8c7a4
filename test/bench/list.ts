// npm run bench:list — wall time of `kubectl expose-lb list -o json` against the simulated API server with
// issue 20's scale cluster: 10,000 Services (2,500 NodePort, 7,500 ClusterIP) on 100 Nodes (target < 3 s), and of `kubectl expose-lb --help` (target < 0.3 s).
// Runs the built executable (npm run build first) the way kubectl does: a new Node process each time.
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {startSimServer} from '../../src/sim/api-server.js'
import {ISSUE_SCALE, scaleCluster} from './generate.js'
import {launcherEnv} from './procs.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 7)
const bin = fileURLToPath(new URL('../../bin/kubectl-expose_lb', import.meta.url))

// Async on purpose: the simulated API server answers from this same process.
const run = promisify(execFile)

async function time(args: string[]): Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint()
    await run(bin, args, {maxBuffer: 1 << 28, env: launcherEnv()})
    samples.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return samples.sort((a, b) => a - b)
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))] ?? NaN

const sim = await startSimServer({objects: scaleCluster(ISSUE_SCALE)})
const dir = mkdtempSync(join(tmpdir(), 'bench-list-'))
try {
  const config = join(dir, 'config')
  writeFileSync(config, sim.kubeconfig())
  const {stdout} = await run(bin, ['list', '-o', 'json', '--kubeconfig', config], {
    maxBuffer: 1 << 28,
    env: launcherEnv(),
  })
  const services = (JSON.parse(stdout) as {services: unknown[]}).services.length
  const rows = [
    {
      what: `list -o json (${services} Services, ${ISSUE_SCALE.nodes} Nodes)`,
      target: 3000,
      samples: await time(['list', '-o', 'json', '--kubeconfig', config]),
    },
    {what: '--help', target: 300, samples: await time(['--help'])},
  ]
  console.log(`node ${process.version}, ${RUNS} runs each, wall ms\n`)
  console.log(['what'.padEnd(44), 'median', '   p90', '   max', 'target', 'ok'].join('  '))
  for (const r of rows) {
    const median = pct(r.samples, 0.5)
    console.log(
      [
        r.what.padEnd(44),
        median.toFixed(0).padStart(6),
        pct(r.samples, 0.9).toFixed(0).padStart(6),
        pct(r.samples, 1).toFixed(0).padStart(6),
        `<${r.target}`.padStart(6),
        median < r.target ? 'yes' : 'NO',
      ].join('  '),
    )
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
  await sim.close()
}
