// Two serves on one machine (one runtime folder): the second refuses while it would hand out the first one's
// addresses, and runs beside it on a range of its own, each answering only what it holds.
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {blockOwners} from '../../src/serve/hosts-block.js'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {kubectl, scratchDir} from './helpers.js'
import {startServe, tcpExchange} from './serve-helpers.js'

let demo: Demo
beforeAll(async () => {
  demo = await startDemo({nodePrefix: '127.0.59.'})
})
afterAll(async () => {
  await demo?.close()
})

describe('a second serve on the same machine', () => {
  it('refuses on the first one’s range, naming it; runs beside it on another; each answers its own addresses', async () => {
    const runtime = scratchDir()
    const records = () => readdirSync(join(runtime, 'kubectl-expose-lb')).sort()
    // Both serves also keep their names in one hosts file.
    const hostsFile = join(scratchDir(), 'hosts')
    writeFileSync(hostsFile, '127.0.0.1 localhost\n')
    const owners = () => blockOwners(readFileSync(hostsFile, 'latin1'))
    const first = await startServe(
      ['--kubeconfig', demo.kubeconfig, '--ip-range', '127.91.0.0/16', '--hosts-file', hostsFile],
      '127.0.0.1',
      runtime,
    )
    let beside: Awaited<ReturnType<typeof startServe>> | undefined
    try {
      const refused = await kubectl(
        [
          'expose-lb',
          'serve',
          '--kubeconfig',
          demo.kubeconfig,
          '--ip-range',
          '127.91.0.0/16',
          '--dns-port',
          '0',
          '--http-port',
          '0',
        ],
        {XDG_RUNTIME_DIR: runtime},
      )
      expect({code: refused.code, stderr: refused.stderr.trim(), stdout: refused.stdout}).toEqual({
        code: 10,
        stderr: `error: another kubectl-expose-lb serve (pid ${first.child.pid}, kube.internal, context "demo") already hands out addresses in 127.91.0.0/16 — stop it, or run this one beside it on a range of its own: --ip-range 127.78.0.0/16 with other --dns-port and --http-port`,
        stdout: '',
      })
      expect(records()).toEqual([`serve-${first.child.pid}.json`])

      beside = await startServe(
        ['--kubeconfig', demo.kubeconfig, '--ip-range', '127.92.0.0/16', '--hosts-file', hostsFile],
        '127.0.0.1',
        runtime,
      )
      // The second one's start (which removes blocks of serves that are gone) kept the first one's block.
      expect(owners()).toEqual([`pid=${first.child.pid}`, `pid=${beside.child.pid}`])
      const [mine] = await first.resolver.resolve4('radarr.kube.internal')
      const [theirs] = await beside.resolver.resolve4('radarr.kube.internal')
      expect(mine).toMatch(/^127\.91\./)
      expect(theirs).toMatch(/^127\.92\./)
      for (const address of [mine!, theirs!]) {
        expect(await tcpExchange(address, 7878, 'GET / HTTP/1.0\r\nHost: radarr.kube.internal\r\n\r\n')).toMatch(
          /"service":"media\/radarr"/,
        )
      }
      expect(await first.stop()).toBe(0)
      expect(records()).toEqual([`serve-${beside.child.pid}.json`])
      expect(owners()).toEqual([`pid=${beside.child.pid}`])
      expect(readFileSync(hostsFile, 'latin1')).toMatch(/^127\.0\.0\.1 localhost\n# BEGIN kubectl-expose-lb pid=\d+ /)
      expect(readFileSync(hostsFile, 'latin1')).toMatch(/\n127\.92\.\d+\.\d+ [^\n]*radarr\.kube\.internal/)
    } finally {
      await first.stop()
      await beside?.stop()
    }
  })
})
