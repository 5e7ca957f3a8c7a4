import {describe, expect, it} from 'vitest'
import {assignAddresses, parseIpRange} from '../../src/servemap/addresses.js'

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
