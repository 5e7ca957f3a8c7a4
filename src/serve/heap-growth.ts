// serve's V8 heap settings: how far the old generation may grow past what is live, and how large the young
// generation is.
//
// Old generation. By default V8 picks the next limit from how cheap collecting has been (up to 4× the live heap:
// kHighFactor in V8's src/heap/heap-controller.cc), and serve's collections are cheap: with 10,000 Services each
// rebuilt map left the last one behind as garbage, and the heap grew from 160 MB live to 830 MB before a full
// collection (node --trace-gc on the scale bench, test/bench/scale-bench.ts), and V8 keeps pages it grew into. A
// fixed factor (`--heap-growing-percent`, read by V8 whenever it sets the next limit, so it can be set once Node is
// running: `node --v8-options`) keeps the heap near its live size for a few more collections while serve changes its
// map. 30 % rather than 50: at 10,000 Services the peak RSS after 100 changes was 27 MB lower on Node 20 (336 against
// 363 MB) and 37 MB on Node 24 (376 against 413), for 69 → 77 ms of CPU per change on Node 20 and none on 24. Not
// while serve starts: then its heap only grows (everything it allocates is the map it is building), and at 30 % V8
// collected again and again for little, answering every name 0.5 s later at 10,000 Services, with the memory
// reducer's collections a minute later still (the scale bench's idle CPU: 0.43 % at 50, 1.9–2.3 % at 30).
//
// Young generation. V8 sizes it for throughput: two semi-spaces of up to 16 MB on Node 20 (33.6 MB resident once
// grown) and 64 MB on Node 24 (134 MB). serve allocates little that lives briefly and long: 8 MB semi-spaces cost no
// CPU per change at 10,000 Services and take 100 MB off its peak on Node 24, 20–30 MB on Node 20 (probe runs of the
// scale bench, docs/performance.md). V8 reads `--max-semi-space-size` only when the process starts: the launcher kubectl
// runs (bin/kubectl-expose_lb, an sh line before the JavaScript) starts Node with it, the single executable carries it
// in its execArgv (scripts/sea.mjs), and a serve started some other way (`node bin/kubectl-expose_lb serve`, a login
// service) starts again with it where Node can (restartWithStartFlags: process.execve, Node 22.15 and later).
import {isSea} from 'node:sea'
import v8 from 'node:v8'

/** The next old-generation limit is the live heap plus this much (V8's own choice with serve's load: up to 300). */
export const HEAP_GROWING_PERCENT = 30

/** The same while serve starts, until its first map is live (see above). */
export const START_HEAP_GROWING_PERCENT = 50

/** serve's semi-spaces, in MB (see above). */
export const SEMI_SPACE_MB = 8

const HEAP_GROWING = /--heap[-_]growing[-_]percent\b/
const SEMI_SPACE = /--max[-_]semi[-_]space[-_]size\b/

/** Whether the user set `flag` themselves: node options and NODE_OPTIONS win over serve's. */
function setByUser(flag: RegExp, execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return execArgv.some((a) => flag.test(a)) || flag.test(nodeOptions ?? '')
}

/** The V8 flag serve sets, or undefined when the user passed their own (node options or NODE_OPTIONS win). Pure. */
export function heapGrowthFlag(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
  percent = HEAP_GROWING_PERCENT,
): string | undefined {
  return setByUser(HEAP_GROWING, execArgv, nodeOptions) ? undefined : `--heap-growing-percent=${percent}`
}

/** The Node options serve needs from its start that this process lacks (none when the user set their own). Pure. */
export function startFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  return setByUser(SEMI_SPACE, execArgv, nodeOptions) ? [] : [`--max-semi-space-size=${SEMI_SPACE_MB}`]
}

/** Sets serve's heap growth (see above) from V8's next limit on, unless the user set their own. */
export function limitHeapGrowth(percent: number): void {
  const flag = heapGrowthFlag(process.execArgv, process.env.NODE_OPTIONS, percent)
  if (flag) v8.setFlagsFromString(flag)
}

/**
 * Replaces this process with Node started again with startFlags, same pid, arguments and environment, when it lacks
 * them and Node can (process.execve: Node 22.15+ and 24, not on Windows); returns otherwise, also when the exec
 * fails. On Node 20 serve runs with V8's young generation. The single executable has the flags already (scripts/sea.mjs).
 */
export function restartWithStartFlags(): void {
  const node = process as {execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never}
  if (!node.execve || process.platform === 'win32' || isSea()) return
  const flags = startFlags(process.execArgv, process.env.NODE_OPTIONS)
  if (flags.length === 0) return
  try {
    node.execve(
      process.execPath,
      [process.execPath, ...process.execArgv, ...flags, ...process.argv.slice(1)],
      process.env,
    )
  } catch {
    // Newer Node throws when execve(2) fails and leaves this process as it was: serve runs on without the flags
    // (serve -v names the options it has). Node 22 and 24 up to now abort instead.
  }
}
