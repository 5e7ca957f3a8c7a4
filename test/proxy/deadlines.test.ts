// The shared deadline wheel behind the raw relays' connect, idle and hello timeouts: deadlines fire once due (never
// before), removed ones never, a deadline can move on, and a pending one does not keep the process alive.

import {describe, expect, it} from 'vitest'

import {DeadlineWheel, type Deadline} from '../../src/proxy/deadlines.js'
import {importLine, snippet} from '../run-snippet.js'
import {waitFor} from './backends.js'

/** A deadline `inMs` from now that records when it fired; `again` moves it on once by that much. */
function deadline(inMs: number, again?: number): Deadline & {fired: number[]} {
  const fired: number[] = []
  let moved = false
  return {
    fired,
    dueMs: Date.now() + inMs,
    onDue(nowMs) {
      fired.push(nowMs)
      if (again === undefined || moved) return undefined
      moved = true
      return nowMs + again
    },
  }
}

describe('DeadlineWheel', () => {
  it('calls each deadline once it is due, never before, and never one that was removed', async () => {
    const wheel = new DeadlineWheel(200)
    const soon = deadline(50)
    const later = deadline(200)
    const removed = deadline(100)
    for (const entry of [soon, later, removed]) wheel.add(entry)
    wheel.remove(removed)
    expect(wheel.size).toBe(2)
    await waitFor(() => later.fired.length === 1, 'the later deadline')
    expect(soon.fired).toHaveLength(1)
    expect(soon.fired[0]).toBeGreaterThanOrEqual(soon.dueMs)
    expect(later.fired[0]).toBeGreaterThanOrEqual(later.dueMs)
    expect(removed.fired).toEqual([])
    expect(wheel.size).toBe(0)
  })

  it('waits again for a deadline that returns a later due time (an idle relay that was active)', async () => {
    const wheel = new DeadlineWheel(100)
    const entry = deadline(20, 80)
    wheel.add(entry)
    await waitFor(() => entry.fired.length === 2, 'the second call')
    expect(entry.fired[1]! - entry.fired[0]!).toBeGreaterThanOrEqual(80)
    expect(wheel.size).toBe(0)
  })

  it('takes deadlines added while others fire, and after it ran empty', async () => {
    const wheel = new DeadlineWheel(50)
    const second = deadline(40)
    const first: Deadline & {fired: number[]} = {
      ...deadline(10),
      onDue(nowMs) {
        this.fired.push(nowMs)
        second.dueMs = nowMs + 40
        wheel.add(second)
        return undefined
      },
    }
    wheel.add(first)
    await waitFor(() => second.fired.length === 1, 'the deadline added from a firing one')
    const third = deadline(30)
    wheel.add(third)
    await waitFor(() => third.fired.length === 1, 'a deadline added to an empty wheel')
    expect([first.fired.length, second.fired.length, wheel.size]).toEqual([1, 1, 0])
  })

  it('does not keep the process alive while a deadline waits', async () => {
    const run = snippet(
      importLine('deadlineWheel', 'src/proxy/deadlines.ts') +
        `deadlineWheel(600_000).add({dueMs: Date.now() + 600_000, onDue: () => void console.log('fired')})\n` +
        `console.log('added')\n`,
    )
    // A wheel that held the process open would make this wait ten minutes, far past the test's timeout.
    const {stdout} = await run()
    expect(stdout.trim()).toBe('added')
  })
})
