import {describe, expect, it} from 'vitest'
import {advertiseFlag} from '../../src/commands/flags.js'
import {ExposeLbError} from '../../src/errors.js'

function outcome(listen: string, advertise?: string): string | undefined {
  try {
    return advertiseFlag(listen, advertise)
  } catch (error) {
    return error instanceof ExposeLbError ? `${error.code}: ${error.message}` : String(error)
  }
}

describe('advertiseFlag', () => {
  it.each<[string, string | undefined, string | undefined]>([
    ['127.0.0.1', undefined, undefined],
    ['192.168.1.20', undefined, '192.168.1.20'],
    ['0.0.0.0', '192.168.1.20', '192.168.1.20'],
    [
      '0.0.0.0',
      undefined,
      "usage: --listen 0.0.0.0 answers other machines, which need one address for every name: add --advertise with this machine's LAN address, e.g. --advertise 192.168.1.20",
    ],
    [
      '0.0.0.0',
      '127.0.0.1',
      "usage: --advertise 127.0.0.1 is not reachable from other machines; give this machine's LAN address",
    ],
    [
      '127.0.0.1',
      '192.168.1.20',
      'usage: --advertise needs --listen on an address other machines reach, e.g. --listen 0.0.0.0',
    ],
  ])('--listen %s --advertise %s → %s', (listen, advertise, expected) => {
    expect(outcome(listen, advertise)).toBe(expected)
  })
})
