// The pure half of macOS per-service addresses: which --ip-range serve runs with, and the ifconfig commands.
import {describe, expect, it} from 'vitest'
import {aliasChanges, aliasCommand, chooseIpRange, unaliasCommand} from '../../src/serve/lo-alias-plan.js'

describe('chooseIpRange', () => {
  it.each([
    ['Linux, nothing asked', {flag: undefined, platform: 'linux', privileged: false}, '127.77.0.0/16', false],
    ['Linux, a range asked', {flag: '127.5.0.0/24', platform: 'linux', privileged: false}, '127.5.0.0/24', false],
    ['Windows, nothing asked', {flag: undefined, platform: 'win32', privileged: true}, '127.77.0.0/16', false],
    [
      'Linux as root: 127/8 needs no aliases',
      {flag: undefined, platform: 'linux', privileged: true},
      '127.77.0.0/16',
      false,
    ],
    ['macOS as root, nothing asked', {flag: undefined, platform: 'darwin', privileged: true}, '127.77.0.0/16', true],
    [
      'macOS as root, a range asked',
      {flag: '127.9.0.0/24', platform: 'darwin', privileged: true},
      '127.9.0.0/24',
      true,
    ],
    ['macOS as root, none asked', {flag: 'none', platform: 'darwin', privileged: true}, 'none', false],
    ['macOS without root, none asked', {flag: 'none', platform: 'darwin', privileged: false}, 'none', false],
  ] as const)('%s', (_case, input, ipRange, loopbackAliases) => {
    expect(chooseIpRange(input)).toEqual({ipRange, loopbackAliases})
  })

  it('macOS without root, nothing asked: none, with a note saying how to get per-service addresses', () => {
    const choice = chooseIpRange({flag: undefined, platform: 'darwin', privileged: false})
    expect(choice).toEqual({ipRange: 'none', loopbackAliases: false, note: expect.any(String)})
    const {note} = choice as {note: string}
    expect(note).toMatch(/^per-service addresses are off: on macOS only 127\.0\.0\.1 answers on lo0/)
    expect(note).toContain('run serve with sudo')
    expect(note).toContain('kubectl expose-lb dns-setup --os darwin')
  })

  it('macOS without root, a range asked: an error that says to use sudo or none', () => {
    expect(chooseIpRange({flag: '127.77.0.0/16', platform: 'darwin', privileged: false})).toEqual({
      error: expect.stringMatching(
        /^--ip-range 127\.77\.0\.0\/16 needs a lo0 alias per address on macOS, which needs root: run serve with sudo .*; or use --ip-range none$/,
      ),
    })
  })
})

describe('the ifconfig commands', () => {
  it('adds a host address to lo0 and removes it again', () => {
    expect(aliasCommand('127.77.3.4')).toEqual(['ifconfig', 'lo0', 'alias', '127.77.3.4', 'netmask', '255.255.255.255'])
    expect(unaliasCommand('127.77.3.4')).toEqual(['ifconfig', 'lo0', '-alias', '127.77.3.4'])
  })

  it.each([
    ['nothing yet', [], ['127.77.0.9', '127.77.0.2'], {add: ['127.77.0.2', '127.77.0.9'], remove: []}],
    ['unchanged', ['127.77.0.2'], ['127.77.0.2'], {add: [], remove: []}],
    [
      'a Service gone, one added',
      ['127.77.0.2', '127.77.0.3'],
      ['127.77.0.3', '127.77.0.4'],
      {add: ['127.77.0.4'], remove: ['127.77.0.2']},
    ],
    ['all gone', ['127.77.0.3', '127.77.0.2'], [], {add: [], remove: ['127.77.0.2', '127.77.0.3']}],
    ['duplicates (two listeners on one address)', [], ['127.77.0.2', '127.77.0.2'], {add: ['127.77.0.2'], remove: []}],
    ["never lo0's own 127.0.0.1", ['127.0.0.1'], ['127.0.0.1', '127.0.0.2'], {add: ['127.0.0.2'], remove: []}],
  ])('aliasChanges: %s', (_case, current, wanted, changes) => {
    expect(aliasChanges(current, wanted)).toEqual(changes)
  })
})
