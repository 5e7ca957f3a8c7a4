import {describe, expect, it} from 'vitest'
import {addressesOverBudget, FD_RESERVE} from '../../src/serve/fd-budget.js'
import type {ForwardListener} from '../../src/servemap/types.js'

/** `count` listeners on address 127.87.0.`i`, in map order. */
function listeners(...counts: number[]): ForwardListener[] {
  return counts.flatMap((count, i) =>
    Array.from({length: count}, (_, p) => ({
      service: `ns/s${i}`,
      address: `127.87.0.${i + 1}`,
      port: 8000 + p,
      protocol: 'TCP' as const,
      mode: 'tcp' as const,
      targets: [],
    })),
  )
}

describe('addressesOverBudget', () => {
  it('gives up nothing when the limit is unknown or the listeners fit', () => {
    expect(addressesOverBudget(listeners(2, 2, 2), 0, undefined)).toEqual(new Set())
    expect(addressesOverBudget(listeners(2, 2, 2), 10, FD_RESERVE + 16)).toEqual(new Set())
  })

  it('keeps addresses in map order until one does not fit, then gives up it and every later one', () => {
    // Room for 5 listeners: the first two addresses (2 + 2) fit, the third (2) does not, nor does the fourth (1).
    expect(addressesOverBudget(listeners(2, 2, 2, 1), 3, FD_RESERVE + 8)).toEqual(new Set(['127.87.0.3', '127.87.0.4']))
  })

  it('counts the other sockets (tunnel gateways) against the same limit', () => {
    expect(addressesOverBudget(listeners(1, 1), 0, FD_RESERVE + 2)).toEqual(new Set())
    expect(addressesOverBudget(listeners(1, 1), 1, FD_RESERVE + 2)).toEqual(new Set(['127.87.0.2']))
  })
})
