// Text from the cluster never reaches a terminal raw: a Service whose annotation and load-balancer hostname carry
// ANSI, OSC 0/8/52 and bidi-override characters is shown escaped by list's table and warnings and by serve's start
// table and log.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {loadObjectsFromYaml, startSimServer, type KubeObject, type SimServer} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {kubectl, writeKubeconfig} from './helpers.js'
import {startServe} from './serve-helpers.js'

const HOSTILE =
  '\u001b[31mred\u001b[0m' + // SGR colour
  '\u001b]0;pwned\u0007' + // OSC 0: window title
  '\u001b]8;;https://evil.example/\u001b\\link\u001b]8;;\u001b\\' + // OSC 8: hyperlink
  '\u001b]52;c;ZXZpbA==\u0007' + // OSC 52: clipboard
  '\u202egnp.exe' + // right-to-left override
  '\u009b2J' // C1 CSI: clear screen

/** Any raw control character a terminal acts on (newline and tab aside). */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/

const hostile: KubeObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {name: 'evil', namespace: 'default', annotations: {'expose-lb/hostname': HOSTILE}},
  spec: {type: 'LoadBalancer', selector: {app: 'evil'}, ports: [{port: 80, nodePort: 30666, protocol: 'TCP'}]},
  status: {loadBalancer: {ingress: [{hostname: `lb-${HOSTILE}.example`}]}},
}

let sim: SimServer
let config: string
beforeAll(async () => {
  sim = await startSimServer({
    objects: [...loadObjectsFromYaml(HOMELAB_YAML.replaceAll('127.0.10.', '127.0.31.')), hostile],
  })
  config = writeKubeconfig(sim.kubeconfig())
})
afterAll(() => sim.close())

describe('control characters from the cluster', () => {
  it.each(['table', 'wide'])('list -o %s escapes them in the table and the warnings', async (output) => {
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', config, '-o', output])
    expect(run.code).toBe(0)
    expect(run.stdout + run.stderr).not.toMatch(RAW_CONTROL)
    expect(run.stderr).toContain('\\x1b]0;pwned\\x07')
    expect(run.stderr).toContain('\\u202egnp.exe\\x9b2J')
    expect(run.stdout).toContain('lb lb-\\x1b[31mred')
  })

  it('serve escapes them in its start table and its log', async () => {
    const serve = await startServe(['--kubeconfig', config, '--ip-range', 'none'])
    try {
      const out = () => serve.stdout() + serve.stderr()
      await expect.poll(() => serve.stdout(), {timeout: 10_000}).toContain('evil')
      await expect.poll(() => serve.stderr(), {timeout: 10_000}).toContain('\\x1b]52;c;ZXZpbA==\\x07')
      expect(out()).not.toMatch(RAW_CONTROL)
    } finally {
      expect(await serve.stop()).toBe(0)
    }
  })
})
