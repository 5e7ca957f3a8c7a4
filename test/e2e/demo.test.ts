// `kubectl expose-lb serve --demo`: a new user's first run, with the real curl and dig it tells them to use.
import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {promisify} from 'node:util'
import {describe, expect, it} from 'vitest'
import {EXIT} from '../../src/errors.js'
import {SEMI_SPACE_MB} from '../../src/serve/heap-growth.js'
import {kubectl} from './helpers.js'
import {startServe, waitFor} from './serve-helpers.js'

const run = promisify(execFile)

describe('serve --demo', () => {
  it('serves the built-in homelab and the printed curl and dig lines work', async () => {
    const serve = await startServe(['--demo', '--ip-range', '127.90.0.0/16'])
    try {
      await waitFor(() => serve.stderr().includes('Try it:'), 5000, 'the hints')
      expect(serve.stderr()).toContain(`curl http://radarr.localhost:${serve.httpPort}/`)
      expect(serve.stdout()).toMatch(
        /^radarr\.kube\.internal +127\.90\.\d+\.\d+:7878 +http +node-a\(up\),node-b\(up\),node-c\(up\),api-server\(fallback\)$/m,
      )
      // The ClusterIP grafana answers through the simulator's pods/portforward.
      const grafana = await run('curl', ['-s', '--max-time', '5', `http://grafana.localhost:${serve.httpPort}/`])
      expect(JSON.parse(grafana.stdout)).toMatchObject({node: 'pod/grafana-6f4b8d7c9-mq2xz'})
      const curl = await run('curl', ['-s', '--max-time', '5', `http://radarr.localhost:${serve.httpPort}/`])
      expect(JSON.parse(curl.stdout)).toMatchObject({
        service: 'media/radarr',
        node: expect.stringMatching(/^node-[abc]$/),
      })
      const dig = await run('dig', ['@127.0.0.1', '-p', String(serve.dnsPort), 'radarr.kube.internal', '+short'])
      expect(dig.stdout.trim()).toMatch(/^127\.90\.\d+\.\d+$/)
      // kubectl execs the plugin and its sh line execs Node with serve's young generation, so the pid is serve's
      // and Node has the flag on every version (bin/kubectl-expose_lb; src/serve/heap-growth.ts).
      const argv = readFileSync(`/proc/${serve.child.pid}/cmdline`, 'utf8').split('\0')
      expect(argv.filter((a) => a.startsWith('--max-semi-space-size'))).toEqual([
        `--max-semi-space-size=${SEMI_SPACE_MB}`,
      ])
      expect(argv).toContain('serve')
    } finally {
      expect(await serve.stop('SIGINT')).toBe(0)
    }
  })

  it('refuses a --demo-nodes (tests: a second demo on nodes of its own) that is not the start of a loopback address', async () => {
    const refused = await kubectl(['expose-lb', 'serve', '--demo', '--demo-nodes', '10.0.0.', '--dns-port', '0'])
    expect([refused.code, refused.stderr.trim()]).toEqual([
      EXIT.usage,
      'error: --demo-nodes "10.0.0." is not the start of a loopback address like 127.0.58.',
    ])
  })
})
