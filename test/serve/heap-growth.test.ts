import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, join, resolve} from 'node:path'
import {describe, expect, it, onTestFinished} from 'vitest'
import {
  heapGrowthFlag,
  HEAP_GROWING_PERCENT,
  restartWithStartFlags,
  SEMI_SPACE_MB,
  startFlags,
} from '../../src/serve/heap-growth.js'
// @ts-expect-error: a build script without types
import {SEA_EXEC_ARGV} from '../../scripts/sea.mjs'

const LAUNCHER = resolve(import.meta.dirname, '../../bin/kubectl-expose_lb')

/**
 * A Node process that keeps ~50 MB live and replaces it piece by piece, 30,000 objects at a time, ten times over
 * (as serve's changes replace a few Services' objects at a time), after setting `flag` at run time as serve does;
 * prints the live heap and the largest old space V8 grew to (the young generation, which the flag leaves alone, is
 * larger on Node 24). An earlier form replaced the whole set at once; its peak jumped with where V8's limits fell
 * between rounds (Node 24: 155, 220 and 187 MB at 20, 30 and 50 %), which told more about that workload than about
 * the flag.
 */
function churn(flag: string | undefined): {liveMb: number; peakMb: number} {
  const script = `
    const v8 = require('node:v8')
    ${flag ? `v8.setFlagsFromString(${JSON.stringify(flag)})` : ''}
    const N = 600000
    const live = Array.from({length: N}, (_, i) => ({i, s: 'a' + i}))
    gc()
    const liveMb = process.memoryUsage().heapUsed / 1e6
    const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_size
    let peak = 0
    for (let round = 0; round < 200; round++) {
      for (let k = 0; k < 30000; k++) {
        const j = (round * 30000 + k * 7919) % N
        live[j] = {i: j, s: 'r' + round + '-' + j}
      }
      peak = Math.max(peak, oldSpace())
    }
    console.log(JSON.stringify({liveMb, peakMb: peak / 1e6, kept: live.length}))`
  // --single-threaded-gc: with marking on helper threads, when a collection ends depends on how busy the machine is,
  // and the peak with it (on Node 24 under CI's load, 4.1× with the flag in one run against 3.1× on a quiet
  // machine); on the main thread alone the figures are the same run after run, busy or not.
  const out = execFileSync(process.execPath, ['--expose-gc', '--single-threaded-gc', '-e', script], {
    encoding: 'utf8',
    env: {},
  })
  return JSON.parse(out) as {liveMb: number; peakMb: number}
}

/** The run with the lowest peak of three. */
function lowest(run: () => {liveMb: number; peakMb: number}): {liveMb: number; peakMb: number} {
  const runs = [run(), run(), run()]
  return runs.reduce((low, r) => (r.peakMb < low.peakMb ? r : low))
}

describe('heapGrowthFlag', () => {
  it('sets a fixed heap growth unless the user set their own in node options or NODE_OPTIONS', () => {
    expect(heapGrowthFlag([], undefined)).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
    expect(heapGrowthFlag(['--max-old-space-size=512'], '--trace-gc')).toBe(
      `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
    )
    expect(heapGrowthFlag(['--heap-growing-percent=20'], undefined)).toBeUndefined()
    expect(heapGrowthFlag([], '--max-old-space-size=512 --heap_growing_percent=200')).toBeUndefined()
    expect(heapGrowthFlag([], undefined, 50)).toBe('--heap-growing-percent=50')
    expect(heapGrowthFlag(['--heap-growing-percent=20'], undefined, 50)).toBeUndefined()
  })

  it('keeps a heap whose contents are replaced piece by piece nearer its live size when set at run time', () => {
    // With GC on one thread, V8's own choice let the old space grow to 6.2× (Node 20), 5.5× (22) and 5.4× (24)
    // what is live; with the flag at 30 % 2.3–2.6×, 2.8× and 3.7× (checked on 20.20.2, 22.23.5, 24.22.3). The test
    // holds the flag to what it saves on the Node it runs on, measured both ways. On Node 24 a busy machine still
    // moved the peak now and then, even on one GC thread, so each way counts the lowest peak of three runs: what V8
    // holds the heap to, not how late a collection came.
    const own = lowest(() => churn(undefined))
    const fixed = lowest(() => churn(heapGrowthFlag([], undefined)))
    expect(fixed.liveMb).toBeGreaterThan(30)
    expect(fixed.peakMb).toBeLessThan(own.peakMb * 0.9)
    expect(fixed.peakMb).toBeLessThan(fixed.liveMb * 4.25)
  }, 60_000) // six child processes of about 1.5 s each, longer on a busy machine
})

describe('startFlags', () => {
  it("sets serve's young generation unless the user set their own in node options or NODE_OPTIONS", () => {
    expect(startFlags([], undefined)).toEqual([`--max-semi-space-size=${SEMI_SPACE_MB}`])
    expect(startFlags(['--heap-growing-percent=20'], '--trace-gc')).toEqual([`--max-semi-space-size=${SEMI_SPACE_MB}`])
    expect(startFlags(['--max-semi-space-size=32'], undefined)).toEqual([])
    expect(startFlags([], '--max_semi_space_size=2 --trace-gc')).toEqual([])
  })

  it('are what the single executable starts with', () => {
    expect(SEA_EXEC_ARGV).toEqual(startFlags([], undefined))
  })

  it('are what bin/kubectl-expose_lb starts the `node` on PATH with, unless NODE_OPTIONS chooses a young generation', () => {
    // A `node` first on PATH that prints the arguments sh's launcher line gives it.
    const dir = mkdtempSync(join(tmpdir(), 'launcher-'))
    onTestFinished(() => rmSync(dir, {recursive: true, force: true}))
    writeFileSync(join(dir, 'node'), '#!/bin/sh\nprintf "%s|" "$@"\n', {mode: 0o755})
    const launch = (nodeOptions: string | undefined) => {
      const env = {...process.env, PATH: `${dir}${delimiter}${process.env.PATH}`, NODE_OPTIONS: nodeOptions}
      if (nodeOptions === undefined) delete env.NODE_OPTIONS
      return execFileSync(LAUNCHER, ['serve', '--demo', 'two words'], {env, encoding: 'utf8'})
    }
    expect(launch(undefined)).toBe(
      [...startFlags([], undefined), LAUNCHER, 'serve', '--demo', 'two words', ''].join('|'),
    )
    expect(launch('--trace-gc')).toBe(
      [...startFlags([], '--trace-gc'), LAUNCHER, 'serve', '--demo', 'two words', ''].join('|'),
    )
    for (const own of ['--max-semi-space-size=32', '--max_semi_space_size=2 --trace-gc']) {
      expect(startFlags([], own)).toEqual([])
      expect(launch(own)).toBe([LAUNCHER, 'serve', '--demo', 'two words', ''].join('|'))
    }
  })

  it('says in one line that Node.js is missing when no `node` is on PATH', () => {
    const dir = mkdtempSync(join(tmpdir(), 'launcher-'))
    onTestFinished(() => rmSync(dir, {recursive: true, force: true}))
    writeFileSync(join(dir, 'true'), '#!/bin/sh\n', {mode: 0o755}) // what the launcher's line runs first
    const run = spawnSync(LAUNCHER, ['list'], {env: {PATH: dir}, encoding: 'utf8'})
    expect([run.status, run.stdout, run.stderr]).toEqual([
      1,
      '',
      'kubectl expose-lb needs Node.js >= 20.19 on PATH (found none); install Node.js.\n',
    ])
  })
})

describe('restartWithStartFlags', () => {
  it('execs Node again with the flags, the same arguments and environment, and runs on when the exec fails', () => {
    // process.execve stood in for: one that fails as newer Node's does (an errno error, the process left as it was).
    const calls: unknown[][] = []
    const own = Object.getOwnPropertyDescriptor(process, 'execve')
    Object.defineProperty(process, 'execve', {
      configurable: true,
      writable: true,
      value: (...args: unknown[]) => {
        calls.push(args)
        throw Object.assign(new Error('execve failed: ENOENT'), {code: 'ENOENT', syscall: 'execve'})
      },
    })
    try {
      expect(() => restartWithStartFlags()).not.toThrow()
    } finally {
      if (own) Object.defineProperty(process, 'execve', own)
      else delete (process as {execve?: unknown}).execve
    }
    const flags = startFlags(process.execArgv, process.env.NODE_OPTIONS)
    expect(flags).toEqual([`--max-semi-space-size=${SEMI_SPACE_MB}`]) // the test runner sets no young generation
    expect(calls).toEqual([
      [process.execPath, [process.execPath, ...process.execArgv, ...flags, ...process.argv.slice(1)], process.env],
    ])
  })
})
