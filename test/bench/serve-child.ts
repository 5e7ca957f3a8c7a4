// `serve` as a child process for the bench: started as kubectl starts it, `bin/kubectl-expose_lb serve …` (its sh
// line execs this Node with serve's young generation: the child's pid is serve's own), its ports read from the
// "serving … DNS on …, HTTP on …" line on stderr, and its memory and CPU read from /proc. With
// BENCH_SERVE_NODE_ARGS, `node <those> <the launcher's flags> bin/kubectl-expose_lb serve …`.
import {execFileSync} from 'node:child_process'
import {promises as dns} from 'node:dns'
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {startFlags} from '../../src/serve/heap-growth.js'
import {launcherEnv, makeTempDir, startProcess, type Proc} from './procs.js'

const BIN = fileURLToPath(new URL('../../bin/kubectl-expose_lb', import.meta.url))
const START_TIMEOUT_MS = 60_000
/** Node options for serve only, e.g. `--cpu-prof --cpu-prof-dir=prof` (NODE_OPTIONS refuses --cpu-prof). */
const NODE_ARGS = (process.env.BENCH_SERVE_NODE_ARGS ?? '').split(' ').filter(Boolean)

export interface ServeChild {
  proc: Proc
  pid: number
  dnsPort: number
  httpPort: number
  /** The SNI listener (--https-port 0: a free port). */
  httpsPort: number
  /** Node's resolver pointed at serve's DNS responder. */
  resolver: dns.Resolver
}

/** Spawns serve on 127.0.0.1 with DNS and HTTP on free ports and waits for its "serving" line. */
export async function startServe(kubeconfig: string, ipRange: string): Promise<ServeChild> {
  const args = ['serve', '--kubeconfig', kubeconfig, '--dns-port', '0', '--http-port', '0', '--https-port', '0']
  args.push('--ip-range', ipRange)
  // A runtime directory of its own: a serve the user runs (or another bench's) is not this one's concern (instance.ts).
  const env = launcherEnv({NO_COLOR: '1', XDG_RUNTIME_DIR: makeTempDir('bench-run-')})
  // With node options of its own (profiling), Node is started here with the launcher's flags as well.
  const proc =
    NODE_ARGS.length === 0
      ? startProcess('serve', BIN, args, {env})
      : startProcess(
          'serve',
          process.execPath,
          [...NODE_ARGS, ...startFlags(NODE_ARGS, process.env.NODE_OPTIONS), BIN, ...args],
          {env},
        )
  const m = await proc.waitForOutput(
    /DNS on 127\.0\.0\.1:(\d+)(?: \(udp, tcp\)|\/udp, \d+\/tcp), HTTP on 127\.0\.0\.1:(\d+), HTTPS \(SNI\) on 127\.0\.0\.1:(\d+)/,
    START_TIMEOUT_MS,
  )
  const resolver = new dns.Resolver({timeout: 2000, tries: 2})
  resolver.setServers([`127.0.0.1:${m[1]}`])
  return {proc, pid: proc.child.pid!, dnsPort: Number(m[1]), httpPort: Number(m[2]), httpsPort: Number(m[3]), resolver}
}

/** A field of /proc/<pid>/status in kB (VmHWM: peak resident set; VmRSS: current). */
export function procStatusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : NaN
}

/** User plus system CPU time of the process so far, in seconds (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name in parentheses may hold spaces; the fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / clockTicks()
}

/** cpuSeconds of `pid` and of its children, and theirs (nginx: the master and its workers). */
export function treeCpuSeconds(pid: number): number {
  let children: number[] = []
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number)
  } catch {
    // gone, or a kernel without the children file: the process alone
  }
  return cpuSeconds(pid) + children.reduce((sum, child) => sum + treeCpuSeconds(child), 0)
}

let ticks: number | undefined
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], {encoding: 'utf8'}).trim()) || 100
    } catch {
      ticks = 100 // USER_HZ on every Linux architecture Node supports
    }
  }
  return ticks
}
