import {execFileSync} from 'node:child_process'
import {describe, expect, it} from 'vitest'
import {heapGrowthFlag, HEAP_GROWING_PERCENT} from '../../src/serve/heap-growth.js'

/**
 * A Node process that keeps ~60 MB live and replaces all of it ten times over (as serve replaces its map on every
 * change), after setting `flag` at run time as serve does; prints the live heap and the largest heap V8 grew to.
 */
function churn(flag: string | undefined): {liveMb: number; peakMb: number} {
  const script = `
    const v8 = require('node:v8')
    ${flag ? `v8.setFlagsFromString(${JSON.stringify(flag)})` : ''}
    const make = (tag) => Array.from({length: 600000}, (_, i) => ({i, s: tag + i}))
    let live = make('a')
    gc()
    const liveMb = process.memoryUsage().heapUsed / 1e6
    let peak = 0
    for (let round = 0; round < 10; round++) {
      live = make('r' + round)
      peak = Math.max(peak, process.memoryUsage().heapTotal)
    }
    console.log(JSON.stringify({liveMb, peakMb: peak / 1e6, kept: live.length}))`
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], {encoding: 'utf8', env: {}})
  return JSON.parse(out) as {liveMb: number; peakMb: number}
}

describe('heapGrowthFlag', () => {
  it('sets a fixed heap growth unless the user set their own in node options or NODE_OPTIONS', () => {
    expect(heapGrowthFlag([], undefined)).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
    expect(heapGrowthFlag(['--max-old-space-size=512'], '--trace-gc')).toBe(
      `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
    )
    expect(heapGrowthFlag(['--heap-growing-percent=20'], undefined)).toBeUndefined()
    expect(heapGrowthFlag([], '--max-old-space-size=512 --heap_growing_percent=200')).toBeUndefined()
  })

  it('keeps a heap whose contents are replaced over and over near its live size when set at run time', () => {
    // While a new set is made the old one is live too (2× live). V8's own choice let this heap grow to 7.3× what is
    // live; with the flag it stays near 2 × live × (1 + percent/100) plus the young generation (3.5× live).
    const {liveMb, peakMb} = churn(heapGrowthFlag([], undefined))
    expect(liveMb).toBeGreaterThan(30)
    expect(peakMb).toBeLessThan(liveMb * 5)
  })
})
