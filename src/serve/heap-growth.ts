// How far serve's JavaScript heap may grow past what is live before V8 collects its old generation. By default V8
// picks the next limit from how cheap collecting has been (up to 4× the live heap: kHighFactor in V8's
// src/heap/heap-controller.cc), and serve's collections are cheap: with 10,000 Services each rebuilt map left the
// last one behind as garbage, and the heap grew from 160 MB live to 830 MB before a full collection (node
// --trace-gc on the scale bench, test/bench/scale-bench.ts), and V8 keeps pages it grew into. A fixed factor
// (`--heap-growing-percent`, read by V8 whenever it sets the next limit, so it can be set once Node is running:
// `node --v8-options`) keeps the heap near its live size for a few more collections while serve changes its map.
import v8 from 'node:v8'

/** The next old-generation limit is the live heap plus this much (V8's own choice with serve's load: up to 300). */
export const HEAP_GROWING_PERCENT = 50

/** The V8 flag serve sets, or undefined when the user passed their own (node options or NODE_OPTIONS win). Pure. */
export function heapGrowthFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  const own = /--heap[-_]growing[-_]percent\b/
  if (execArgv.some((a) => own.test(a)) || own.test(nodeOptions ?? '')) return undefined
  return `--heap-growing-percent=${HEAP_GROWING_PERCENT}`
}

/** Sets serve's heap growth (see above) for the rest of this process, unless the user set their own. */
export function limitHeapGrowth(): void {
  const flag = heapGrowthFlag(process.execArgv, process.env.NODE_OPTIONS)
  if (flag) v8.setFlagsFromString(flag)
}
