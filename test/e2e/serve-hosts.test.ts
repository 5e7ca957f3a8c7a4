// serve --hosts-file: the names appear in a marked block of the hosts file while serve runs, and go on exit.
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {EXIT} from '../../src/errors.js'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {kubectl} from './helpers.js'
import {startServe, waitFor} from './serve-helpers.js'

let demo: Demo
let dir: string
beforeAll(async () => {
  demo = await startDemo({nodePrefix: '127.0.26.'})
  dir = mkdtempSync(join(tmpdir(), 'hosts-'))
})
afterAll(async () => {
  await demo?.close()
  rmSync(dir, {recursive: true, force: true})
})

describe('serve --hosts-file', () => {
  it('keeps the names in a marked block, follows changes, and removes the block on exit', async () => {
    const hosts = join(dir, 'hosts')
    const original = '127.0.0.1 localhost\n::1 localhost ip6-localhost\n'
    writeFileSync(hosts, original)
    const serve = await startServe([
      '--kubeconfig',
      demo.kubeconfig,
      '--ip-range',
      '127.83.0.0/16',
      '--hosts-file',
      hosts,
    ])
    try {
      const address = (await serve.resolver.resolve4('radarr.kube.internal'))[0]!
      const content = readFileSync(hosts, 'utf8')
      expect(content.startsWith(original)).toBe(true)
      expect(content).toMatch(
        new RegExp(
          `^${address.replaceAll('.', '\\.')} radarr\\.kube\\.internal radarr\\.media\\.kube\\.internal$`,
          'm',
        ),
      )
      demo.sim.remove('v1', 'Service', 'radarr', 'media')
      await waitFor(() => !readFileSync(hosts, 'utf8').includes('radarr'), 5000, 'radarr gone from the hosts file')
    } finally {
      expect(await serve.stop()).toBe(0)
    }
    expect(readFileSync(hosts, 'utf8')).toBe(original)
  })

  it('deletes on exit a hosts file that did not exist before it started', async () => {
    const hosts = join(dir, 'hosts-new')
    const serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', 'none', '--hosts-file', hosts])
    try {
      await waitFor(
        () => existsSync(hosts) && readFileSync(hosts, 'utf8').includes('homer'),
        5000,
        'homer in the hosts file',
      )
    } finally {
      expect(await serve.stop()).toBe(0)
    }
    expect(existsSync(hosts)).toBe(false)
    expect(existsSync(`${hosts}.expose-lb.bak`)).toBe(false)
  })

  it.each(['SIGHUP', 'SIGQUIT'] as const)(
    '%s (terminal closed, Ctrl-\\) stops serve as SIGTERM does: block removed, exit 0',
    async (signal) => {
      const hosts = join(dir, `hosts-${signal}`)
      const original = '127.0.0.1 localhost\n'
      writeFileSync(hosts, original)
      const serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', 'none', '--hosts-file', hosts])
      await waitFor(() => readFileSync(hosts, 'utf8').includes('homer'), 5000, 'homer in the hosts file')
      expect(await serve.stop(signal)).toBe(0)
      expect(serve.stderr()).toContain(`${signal}: stopping`)
      expect(readFileSync(hosts, 'utf8')).toBe(original)
    },
  )

  it.each([
    [
      'a directory',
      () => dir,
      () =>
        `cannot use ${dir} as the hosts file: it is a directory — pass --hosts-file the path of a file, e.g. --hosts-file /etc/hosts`,
    ],
    [
      'a path in a missing directory',
      () => join(dir, 'missing', 'hosts'),
      () =>
        `cannot write ${join(dir, 'missing', 'hosts')}: the directory ${join(dir, 'missing')} does not exist — create it, or pass --hosts-file a path in an existing directory`,
    ],
  ])('refuses %s in one line naming the path and the fix, exit 13', async (_, path, message) => {
    const run = await kubectl(['expose-lb', 'serve', '--kubeconfig', demo.kubeconfig, '--hosts-file', path()])
    expect(run).toEqual({code: EXIT.hostsFile, stdout: '', stderr: `error: ${message()}\n`})
  })
})
