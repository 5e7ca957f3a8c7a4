// npm run bench:startup — wall time of `--help` from the linux-x64 single executable (target < 0.3 s), beside the
// Node.js program (bin/kubectl-expose_lb on this machine's Node) for comparison; and (issue 20, target 6) the time
// from spawning `serve --demo` to its DNS answering the first name (target ≤ 1 s). Packages the executable first
// (scripts/package.mjs --only linux-x64: taken from .cache/package/ when the bundle is unchanged) and runs each one
// the way kubectl does: a new process every time. serve binds fixed ports (DNS 127.0.0.1:15353): run it in a network
// namespace of its own (`unshare -rn sh -c 'ip link set lo up && npm run bench:startup'`).
import {execFile, execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {UdpDnsClient} from './dns-client.js'
import {launcherEnv} from './procs.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 11)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const run = promisify(execFile)

async function time(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number[]> {
  await run(command, args, {env}) // once to warm the page cache: a 100 MB executable is read from disk the first time
  const samples: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint()
    await run(command, args, {env})
    samples.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return samples.sort((a, b) => a - b)
}

/** A fixed DNS port, so queries can go out from the moment serve is spawned (its "serving" line comes later). */
const DEMO_DNS_PORT = 15353
const DEMO_NAME = 'radarr.kube.internal'
const DEMO_POLL_MS = 2
const DEMO_TIMEOUT_MS = 30_000

/**
 * `serve --demo` started `RUNS` times: the time from spawn to the first positive DNS answer for a demo name
 * (queried every 2 ms from spawn on; a query before the DNS port is bound is simply lost), then SIGINT.
 */
async function demoFirstAnswer(dir: string): Promise<number[]> {
  const samples: number[] = []
  const client = new UdpDnsClient('127.0.0.1', DEMO_DNS_PORT)
  await client.query('warm.up', 1) // binds the client's socket before the clock starts
  try {
    for (let i = 0; i <= RUNS; i++) {
      const args = ['serve', '--demo', '--dns-port', String(DEMO_DNS_PORT)]
      args.push('--http-port', '18080', '--https-port', '18443', '--ip-range', '127.91.0.0/16')
      const env = launcherEnv({NO_COLOR: '1', XDG_RUNTIME_DIR: dir})
      const started = performance.now()
      const child = spawn(join(ROOT, 'bin', 'kubectl-expose_lb'), args, {stdio: ['ignore', 'ignore', 'pipe'], env})
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
      try {
        const at = await Promise.race([
          client.pollUntilAnswered(DEMO_NAME, DEMO_POLL_MS, DEMO_TIMEOUT_MS),
          exited.then(() => Promise.reject(new Error(`serve --demo exited before answering:\n${stderr}`))),
        ])
        if (i > 0) samples.push(at - started) // the first run warms the page cache, as time() does
      } finally {
        child.kill('SIGINT')
        await exited
      }
    }
  } finally {
    client.close()
  }
  return samples.sort((a, b) => a - b)
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))] ?? NaN

const out = mkdtempSync(join(tmpdir(), 'bench-startup-'))
try {
  execFileSync(process.execPath, ['scripts/package.mjs', '--no-build', '--only', 'linux-x64', '--out-dir', out], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const {version} = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {version: string}
  const archive = join(out, `kubectl-expose-lb_v${version}_linux_amd64.tar.gz`)
  execFileSync('tar', ['-xzf', archive, '-C', out])
  const executable = join(out, 'kubectl-expose-lb', 'kubectl-expose_lb')
  const rows = [
    // The floor on this machine right now (a loaded machine raises every row alike).
    {
      what: `node -e 0 (node ${process.version})`,
      target: undefined,
      samples: await time(process.execPath, ['-e', '0']),
    },
    {what: '--help, single executable (linux-x64)', target: 300, samples: await time(executable, ['--help'])},
    {
      what: `--help, Node.js program (node ${process.version})`,
      target: 300,
      samples: await time(join(ROOT, 'bin', 'kubectl-expose_lb'), ['--help'], launcherEnv()),
    },
    {what: `serve --demo, first name answers`, target: 1000, samples: await demoFirstAnswer(out)},
  ]
  console.log(`${RUNS} runs each, wall ms\n`)
  console.log(['what'.padEnd(44), 'median', '   p90', '   max', 'target', 'ok'].join('  '))
  for (const r of rows) {
    const median = pct(r.samples, 0.5)
    console.log(
      [
        r.what.padEnd(44),
        median.toFixed(0).padStart(6),
        pct(r.samples, 0.9).toFixed(0).padStart(6),
        pct(r.samples, 1).toFixed(0).padStart(6),
        (r.target === undefined ? '-' : `<${r.target}`).padStart(6),
        r.target === undefined ? '' : median < r.target ? 'yes' : 'NO',
      ].join('  '),
    )
  }
} finally {
  rmSync(out, {recursive: true, force: true})
}
