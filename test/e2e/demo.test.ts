// `kubectl expose-lb serve --demo`: a new user's first run, with the real curl and dig it tells them to use.
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import {describe, expect, it} from 'vitest'
import {EXIT} from '../../src/errors.js'
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
