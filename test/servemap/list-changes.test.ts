// listChanges (src/servemap/list-changes.ts) finds what came and went between two lists in one walk: whenever it
// answers, the answer must be the set difference both ways; for the edits a change makes (a few objects replaced,
// added or removed in place) it must answer.
import {describe, expect, it} from 'vitest'
import {listChanges} from '../../src/servemap/list-changes.js'
import {seededRandom} from '../seeded-random.js'

/** Objects that are only equal to themselves. */
const pool = Array.from({length: 2000}, (_, i) => ({i}))

function setChanges<T>(before: readonly T[], after: readonly T[]) {
  const was = new Set(before)
  const is = new Set(after)
  return {went: [...was].filter((x) => !is.has(x)), came: [...is].filter((x) => !was.has(x))}
}

const sorted = (items: Array<{i: number}>) => [...new Set(items)].map((x) => x.i).sort((a, b) => a - b)

describe('listChanges', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`is the set difference whenever it answers, and answers for edits in place (seed ${seed})`, () => {
      const rand = seededRandom(seed)
      const int = (n: number) => Math.floor(rand() * n)
      let answered = 0
      for (let round = 0; round < 400; round++) {
        const before = pool.slice(0, 50 + int(500)).filter(() => rand() < 0.9)
        const after = [...before]
        let inPlace = true
        if (rand() < 0.2) {
          // An object twice in the first list, once in the second.
          const twice = before[int(before.length)]!
          before.splice(int(before.length + 1), 0, twice)
          inPlace = false
        }
        for (let e = int(6); e > 0; e--) {
          const kind = int(6)
          const at = int(after.length + 1)
          if (kind === 0) after.splice(at, 1)
          else if (kind === 1) after.splice(at, 0, pool[1000 + int(1000)]!)
          else if (kind === 2) after.splice(at, 1, pool[1000 + int(1000)]!)
          else if (kind === 3 && after.length > 0) {
            // An object moved far: the walk may not follow, but must not answer wrongly.
            const [moved] = after.splice(at, 1)
            if (moved) after.splice(int(after.length + 1), 0, moved)
            inPlace = false
          } else if (kind === 4 && after.length > 0) {
            after.splice(at, 0, after[int(after.length)]!) // an object twice
            inPlace = false
          } else if (kind === 5) {
            after.splice(at, int(40)) // a run removed
          }
        }
        const found = listChanges(before, after)
        const expected = setChanges(before, after)
        if (inPlace) expect(found, `round ${round}`).toBeDefined()
        if (found) {
          answered++
          expect(sorted(found.went), `went, round ${round}`).toEqual(sorted(expected.went))
          expect(sorted(found.came), `came, round ${round}`).toEqual(sorted(expected.came))
        }
      }
      expect(answered).toBeGreaterThan(100)
    })
  }

  it('gives up beyond its limit', () => {
    expect(listChanges(pool.slice(0, 300), pool.slice(1000, 1300))).toBeUndefined()
    expect(listChanges(pool.slice(0, 300), pool.slice(0, 300))).toEqual({went: [], came: []})
  })
})
