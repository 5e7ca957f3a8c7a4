// npm run bench:startup — wall time of `--help` from the linux-x64 single executable (target < 0.3 s), beside the
// Node.js program (bin/kubectl-expose_lb on this machine's Node) for comparison. Packages the executable first
// (scripts/package.mjs --only linux-x64: taken from .cache/package/ when the bundle is unchanged) and runs each one
// the way kubectl does: a new process every time.
import {execFile, execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

const RUNS = Number(process.env.BENCH_RUNS ?? 11)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const run = promisify(execFile)

async function time(command: string, args: string[]): Promise<number[]> {
  await run(command, args) // once to warm the page cache: a 100 MB executable is read from disk the first time
  const samples: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint()
    await run(command, args)
    samples.push(Number(process.hrtime.bigint() - start) / 1e6)
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
      samples: await time(process.execPath, [join(ROOT, 'bin', 'kubectl-expose_lb'), '--help']),
    },
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
