import {describe, expect, it} from 'vitest'

import {fitted} from '../src/fitted.js'
import {importLine, snippet} from './run-snippet.js'

describe('fitted', () => {
  it('gives the same items in an array of its own', () => {
    const list = [{a: 1}, {a: 2}]
    const copy = fitted(list)
    expect(copy).toEqual(list)
    expect(copy).not.toBe(list)
    expect(copy[0]).toBe(list[0])
  })

  it('keeps a list that grew by push in less heap than the list itself (no room for 17 items)', async () => {
    // 100,000 one-item lists held, as pushed and as fitted, each measured after a full collection.
    const run = snippet(
      importLine('fitted', 'src/fitted.ts') +
        `const gc = (globalThis as unknown as {gc: () => void}).gc
const heapOf = (make: (i: number) => unknown[]): number => {
  gc()
  const before = process.memoryUsage().heapUsed
  const kept = Array.from({length: 100_000}, (_, i) => make(i))
  gc()
  const used = process.memoryUsage().heapUsed - before
  if (kept.length !== 100_000) throw new Error('lost lists')
  return used
}
const pushed = (i: number) => {
  const list: number[] = []
  list.push(i)
  return list
}
console.log(JSON.stringify({pushed: heapOf(pushed), fitted: heapOf((i) => fitted(pushed(i)))}))
`,
    )
    const {stdout} = await run(['--expose-gc'])
    const heap = JSON.parse(stdout) as {pushed: number; fitted: number}
    // A pushed one-item list holds 17 slots (136 bytes of elements), a fitted one 1 (8 bytes): 128 bytes apart each.
    expect(heap.pushed - heap.fitted).toBeGreaterThan(100_000 * 100)
  })
})
