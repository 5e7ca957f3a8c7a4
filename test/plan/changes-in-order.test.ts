import {describe, expect, it} from 'vitest'
import {changesInOrder} from '../../src/plan/changes-in-order.js'

describe('changesInOrder', () => {
  const isNewIn = (before: string[]) => (item: string) => !before.includes(item)
  it.each([
    ['nothing changed', ['a', 'b', 'c'], ['a', 'b', 'c'], {went: [], came: []}],
    ['one replaced in the middle', ['a', 'b', 'c'], ['a', 'x', 'c'], {went: ['b'], came: ['x']}],
    ['one added at the end, one removed at the start', ['a', 'b'], ['b', 'c'], {went: ['a'], came: ['c']}],
    ['all removed', ['a', 'b'], [], {went: ['a', 'b'], came: []}],
    ['from nothing', [], ['a'], {went: [], came: ['a']}],
  ])('%s', (_what, before, after, expected) => {
    expect(changesInOrder(before, after, isNewIn(before), 256)).toEqual(expected)
  })

  it('gives up on an item that stays but moved, and above the limit', () => {
    expect(changesInOrder(['a', 'b', 'c'], ['c', 'a', 'b'], isNewIn(['a', 'b', 'c']), 256)).toBeUndefined()
    expect(changesInOrder(['a', 'b', 'c'], ['x', 'y'], isNewIn(['a', 'b', 'c']), 4)).toBeUndefined()
    expect(changesInOrder(['a', 'b', 'c'], ['x', 'y'], isNewIn(['a', 'b', 'c']), 5)).toEqual({
      went: ['a', 'b', 'c'],
      came: ['x', 'y'],
    })
  })
})
