// serve's --ip-range as checkServeFlags decides it per platform and privilege (the macOS cases run here on Linux:
// the platform and privilege are arguments).
import {describe, expect, it} from 'vitest'
import {checkServeFlags} from '../../src/commands/serve.js'

const base = {domain: 'kube.internal', listen: '127.0.0.1'}

describe('checkServeFlags: per-service addresses', () => {
  it('Linux: the default block, no aliases, no note', async () => {
    const checked = await checkServeFlags(base, 'linux', false)
    expect(checked).toEqual({
      domain: 'kube.internal',
      range: {base: (127 << 24) + (77 << 16), size: 65_536},
      advertise: undefined,
      loopbackAliases: false,
    })
  })

  it('macOS as root: the default block with lo0 aliases', async () => {
    const checked = await checkServeFlags(base, 'darwin', true)
    expect(checked.range).toEqual({base: (127 << 24) + (77 << 16), size: 65_536})
    expect(checked.loopbackAliases).toBe(true)
  })

  it('macOS without root: no per-service addresses, and a note saying how to get them', async () => {
    const checked = await checkServeFlags(base, 'darwin', false)
    expect(checked.range).toBeUndefined()
    expect(checked.loopbackAliases).toBe(false)
    expect(checked.note).toContain('run serve with sudo')
  })

  it('macOS without root, --ip-range asked: a usage error', async () => {
    await expect(checkServeFlags({...base, 'ip-range': '127.77.0.0/16'}, 'darwin', false)).rejects.toMatchObject({
      code: 'usage',
      message: expect.stringContaining('needs a lo0 alias per address on macOS, which needs root'),
    })
  })
})
