import {describe, expect, it} from 'vitest'

import {PortTable} from '../../src/proxy/port-table.js'
import {seededRandom} from '../seeded-random.js'

/** The table's entries as a Map, through forEach, checking each key is visited once. */
function contents(table: PortTable): Map<number, number> {
  const seen = new Map<number, number>()
  table.forEach((value, key) => {
    expect(seen.has(key)).toBe(false)
    seen.set(key, value)
  })
  return seen
}

describe('PortTable', () => {
  it('gets, sets, overwrites and deletes like a Map', () => {
    const table = new PortTable()
    expect(table.get(30000)).toBeUndefined()
    table.set(30000, 1).set(30001, 2).set(0, 7)
    table.set(30000, 5)
    expect([table.get(30000), table.get(30001), table.get(0), table.size]).toEqual([5, 2, 7, 3])
    expect(table.has(30001)).toBe(true)
    expect(table.delete(30001)).toBe(true)
    expect(table.delete(30001)).toBe(false)
    expect(table.has(30001)).toBe(false)
    expect(contents(table)).toEqual(
      new Map([
        [30000, 5],
        [0, 7],
      ]),
    )
  })

  it('refuses keys it cannot hold', () => {
    const table = new PortTable()
    for (const key of [-1, 1.5, 2 ** 31, NaN]) expect(() => table.set(key, 1)).toThrow(RangeError)
  })

  // Ports of a NodePort range and kind bits (ProbeSet's 0x10000), inserted and deleted at random: whatever the
  // order, the table holds what a Map given the same operations holds, through growing and shrinking.
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`matches a Map over 20,000 random sets and deletes (seed ${seed})`, () => {
      const rand = seededRandom(seed)
      const table = new PortTable()
      const model = new Map<number, number>()
      for (let i = 0; i < 20_000; i++) {
        // Phases: mostly adding, then mostly deleting, so the table grows large and shrinks back.
        const deleting = rand() < (Math.floor(i / 5000) % 2 === 0 ? 0.2 : 0.8)
        const key = (rand() < 0.1 ? 0x10000 : 0) | (30000 + Math.floor(rand() * 2768))
        if (deleting) expect(table.delete(key)).toBe(model.delete(key))
        else {
          const value = Math.floor(rand() * 0x3ffff)
          table.set(key, value)
          model.set(key, value)
        }
        expect(table.size).toBe(model.size)
      }
      expect(contents(table)).toEqual(model)
      for (const key of model.keys()) expect(table.get(key)).toBe(model.get(key))
      expect(table.portList().sort((a, b) => a - b)).toEqual([...model.keys()].sort((a, b) => a - b))
    })
  }

  it('empties completely and works again after shrinking', () => {
    const table = new PortTable()
    for (let port = 1; port <= 5000; port++) table.set(port, port * 2)
    for (let port = 1; port <= 5000; port++) expect(table.delete(port)).toBe(true)
    expect([table.size, table.portList()]).toEqual([0, []])
    table.set(443, 1)
    expect(contents(table)).toEqual(new Map([[443, 1]]))
  })

  it('a walk sees new values set for existing keys', () => {
    const table = new PortTable()
    for (let port = 1; port <= 100; port++) table.set(port, 0)
    const seen: number[] = []
    table.forEach((_, key) => {
      table.set(key, key)
      seen.push(key)
    })
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({length: 100}, (_, i) => i + 1))
    expect([...contents(table)].every(([key, value]) => key === value)).toBe(true)
  })
})
