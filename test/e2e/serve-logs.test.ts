// serve's logs for machines: --log-format json writes one JSON object per line, with an event name per change.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {startServe, waitFor, type ServeProcess} from './serve-helpers.js'

let demo: Demo
let serve: ServeProcess
beforeAll(async () => {
  demo = await startDemo({nodePrefix: '127.0.25.'})
  serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', '127.82.0.0/16', '--log-format', 'json'])
})
afterAll(async () => {
  await serve?.stop()
  await demo?.close()
})

interface Event {
  time: string
  level: string
  msg: string
  event?: string
}

const lines = () => serve.stderr().trim().split('\n')
/** stderr's lines parsed; a line that is not JSON is left out here and caught by the last test. */
const events = () => lines().flatMap((l) => (isJson(l) ? [JSON.parse(l) as Event] : []))
const isJson = (line: string) => {
  try {
    JSON.parse(line)
    return true
  } catch {
    return false
  }
}

describe('serve --log-format json', () => {
  it('logs every line as JSON, with route and target events', async () => {
    demo.sim.apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {namespace: 'default', name: 'echo'},
      spec: {type: 'NodePort', ports: [{name: 'http', port: 8055, nodePort: 31055}]},
    })
    await demo.sync()
    await waitFor(() => events().some((e) => e.event === 'route-added'), 10_000, 'route-added event')
    await demo.nodes.stopNode('node-c')
    await waitFor(
      () => events().some((e) => e.event === 'target-down' && /node-c/.test(e.msg)),
      15_000,
      'target-down event',
    )
    const all = events()
    expect(
      all.every((e) => typeof e.time === 'string' && ['info', 'warn'].includes(e.level) && typeof e.msg === 'string'),
    ).toBe(true)
    expect(all.find((e) => e.event === 'route-added')?.msg).toMatch(
      /^route added: echo\.kube\.internal → 127\.82\.\d+\.\d+:8055 \(http\)/,
    )
  })

  // Runs after the watches have delivered events. Node's own warnings go to the same stderr: Node 24 warned DEP0169
  // (url.parse()) for node-fetch inside the bundle when the first watch started (src/kube/node-fetch-url.ts).
  it(`writes nothing else to stderr, no Node warning either (Node ${process.version})`, () => {
    expect(lines().filter((l) => !isJson(l))).toEqual([])
  })
})
