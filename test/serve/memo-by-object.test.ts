import {describe, expect, it} from 'vitest'

import {memoByObject} from '../../src/serve/memo-by-object.js'

describe('memoByObject', () => {
  it('calls the function once per object, an undefined or false result included', () => {
    const calls: string[] = []
    const lookup = memoByObject((row: {name: string; value?: string}) => {
      calls.push(row.name)
      return row.value
    })
    const [a, b] = [{name: 'a', value: 'A'}, {name: 'b'}]
    expect([lookup(a), lookup(b), lookup(a), lookup(b)]).toEqual(['A', undefined, 'A', undefined])
    expect(calls).toEqual(['a', 'b'])

    const flags = memoByObject((row: {on: boolean}) => (calls.push('flag'), row.on))
    const off = {on: false}
    expect([flags(off), flags(off)]).toEqual([false, false])
    expect(calls).toEqual(['a', 'b', 'flag'])
  })
})
