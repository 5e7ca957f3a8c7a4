import {describe, expect, it} from 'vitest'
import {
  assignAddresses,
  assignment,
  parseIpRange,
  updateAssignment,
  type AddressRange,
} from '../../src/servemap/addresses.js'
import {seededRandom} from '../seeded-random.js'

describe('parseIpRange', () => {
  it.each<[string, unknown]>([
    ['127.77.0.0/16', {base: (127 << 24) + (77 << 16), size: 65536}],
    ['127.77.1.9/24', {base: (127 << 24) + (77 << 16) + (1 << 8), size: 256}],
    ['none', undefined],
  ])('accepts %s', (text, expected) => {
    expect(parseIpRange(text)).toEqual(expected)
  })

  it.each([
    ['10.0.0.0/16', 'is not inside 127.0.0.0/8'],
    ['127.77.0.0', 'is not a CIDR'],
    ['127.77.0.0/31', 'is not a CIDR'],
    ['127.300.0.0/16', 'is not a CIDR'],
    ['loopback', 'is not a CIDR'],
  ])('rejects %s', (text, message) => {
    expect(parseIpRange(text)).toEqual({error: expect.stringContaining(message)})
  })
})

describe('assignAddresses', () => {
  const range = parseIpRange('127.77.0.0/16') as {base: number; size: number}
  const small = parseIpRange('127.77.0.0/29') as {base: number; size: number}

  it('gives each key an address inside the range, derived from the key alone', () => {
    const a = assignAddresses(['media/radarr', 'iot/mosquitto'], range)
    const b = assignAddresses(['iot/mosquitto', 'dns/pihole', 'media/radarr'], range)
    expect(a.get('media/radarr')).toMatch(/^127\.77\.\d+\.\d+$/)
    expect(b.get('media/radarr')).toBe(a.get('media/radarr'))
    expect(b.get('iot/mosquitto')).toBe(a.get('iot/mosquitto'))
  })

  it('resolves collisions deterministically, whatever the input order, and never hands out the ends of the range', () => {
    const keys = ['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'a/6']
    const one = assignAddresses(keys, small)
    const two = assignAddresses([...keys].reverse(), small)
    expect([...one.entries()].sort()).toEqual([...two.entries()].sort())
    expect(new Set(one.values()).size).toBe(6)
    expect([...one.values()].every((ip) => ip !== '127.77.0.0' && ip !== '127.77.0.7')).toBe(true)
  })

  it('gives no address to keys beyond the range capacity', () => {
    const got = assignAddresses(['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'a/6', 'a/7', 'a/8'], small)
    expect(got.size).toBe(6)
  })
})

describe('updateAssignment', () => {
  // An assignment changed in place for the keys that came and went must be the one assignAddresses makes for the
  // new keys, whenever it says it could; a crowded range (collisions, keys going past taken slots) and long runs of
  // changes make it decline often, and those declines must leave the assignment as it was.
  for (const [cidr, seed] of [
    ['127.90.0.0/24', 1],
    ['127.90.0.0/24', 2],
    ['127.90.0.0/27', 3],
    ['127.90.0.0/16', 4],
  ] as const) {
    it(`equals assignAddresses after every change (${cidr}, seed ${seed})`, () => {
      const rand = seededRandom(seed)
      const range = parseIpRange(cidr) as AddressRange
      const pool = Array.from({length: 400}, (_, i) => `ns-${i % 7}/svc-${i}`)
      let keys = pool.filter(() => rand() < 0.05)
      let last = assignment(keys, range)
      let updated = 0
      let declined = 0
      for (let step = 0; step < 300; step++) {
        const next = keys.filter(() => rand() > 0.01)
        // Keys that come are placed among the rest, as new Services are in map order.
        for (const key of pool)
          if (rand() < 0.004 && !next.includes(key)) next.splice(Math.floor(rand() * (next.length + 1)), 0, key)
        const before = structuredClone({keys: last.keys, result: [...last.result], slots: [...last.slots]})
        if (next.length > 0 && rand() < 0.1) {
          // A key twice: never updated in place.
          expect(updateAssignment(last, [...next, next[0]!])).toBe(false)
          expect({keys: last.keys, result: [...last.result], slots: [...last.slots]}).toEqual(before)
        }
        if (updateAssignment(last, next)) {
          updated++
          expect([...last.result].sort(), `step ${step}`).toEqual([...assignAddresses(next, range)].sort())
        } else {
          declined++
          expect({keys: last.keys, result: [...last.result], slots: [...last.slots]}).toEqual(before)
          last = assignment(next, range)
        }
        keys = next
      }
      expect(updated).toBeGreaterThan(cidr.endsWith('/16') ? 250 : cidr.endsWith('/24') ? 100 : 0)
      expect(declined).toBeGreaterThan(0)
    })
  }
})
