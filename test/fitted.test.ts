import {describe, expect, it} from 'vitest'

import {emptyList, fitted} from '../src/fitted.js'
import {importLine, snippet} from './run-snippet.js'

describe('fitted', () => {
  it('gives the same items in an array of its own', () => {
    const list = [{a: 1}, {a: 2}]
    const copy = fitted(list)
    expect(copy).toEqual(list)
    expect(copy).not.toBe(list)
    expect(copy[0]).toBe(list[0])
  })

  it('gives every empty list as one shared list, frozen so that a push into it throws', () => {
    const none = fitted<string>([])
    expect(none).toEqual([])
    expect(fitted<number>([])).toBe(none)
    expect(emptyList<string>()).toBe(none)
    expect(() => none.push('x')).toThrow(TypeError)
    expect(none).toHaveLength(0)
  })

  it('keeps a list that grew by push in less heap than the list itself (no room for 17 items)', async () => {
    // 100,000 one-item lists held, as pushed and as fitted, each measured after a full collection.
    const run = snippet(
      importLine('fitted', 'src/fitted.ts') +
        `const gc = (globalThis as unknown as {gc: () => void}).gc
const heapOf = (make: (i: number) => unknown[]): number => {
  gc()
  const before = process.memoryUsage().heapUsed
  const kept = Array.from({length: 100_000}, (_, i) => make(i))
  gc()
  const used = process.memoryUsage().heapUsed - before
  if (kept.length !== 100_000) throw new Error('lost lists')
  return used
}
const pushed = (i: number) => {
  const list: number[] = []
  list.push(i)
  return list
}
console.log(JSON.stringify({pushed: heapOf(pushed), fitted: heapOf((i) => fitted(pushed(i)))}))
`,
    )
    const {stdout} = await run(['--expose-gc'])
    const heap = JSON.parse(stdout) as {pushed: number; fitted: number}
    // A pushed one-item list holds 17 slots (136 bytes of elements), a fitted one 1 (8 bytes): 128 bytes apart each.
    expect(heap.pushed - heap.fitted).toBeGreaterThan(100_000 * 100)
  })
})

describe('withChanges and the objects serve keeps per Service', () => {
  it('share their hidden classes, also on Node 20 (where a literal starting with a spread makes one per object)', async () => {
    // A cluster of 300 Services as the scale bench makes it, converted and planned as serve does; %HaveSameMap
    // compares the hidden classes of the objects of one kind.
    const run = snippet(
      importLine('withChanges', 'src/fitted.ts') +
        importLine('toEndpointSlice, toNode, toService', 'src/kube/convert.ts') +
        importLine('buildPlan', 'src/plan/plan.ts') +
        importLine('mergeClusterPlans', 'src/plan/clusters.ts') +
        importLine('scaleCluster', 'test/bench/generate.ts') +
        `const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean
const objects = scaleCluster({nodes: 3, nodePortServices: 150, clusterIpServices: 150})
// A load balancer's address on each NodePort Service (as MetalLB writes it into status.loadBalancer.ingress).
for (const o of objects) if (o.kind === 'Service' && (o.spec as {type?: string}).type === 'NodePort') o.status = {loadBalancer: {ingress: [{ip: '192.0.2.10', ipMode: 'VIP'}]}}
const services = objects.filter((o) => o.kind === 'Service').map(toService)
const endpointSlices = objects.filter((o) => o.kind === 'EndpointSlice').map(toEndpointSlice)
const nodes = objects.filter((o) => o.kind === 'Node').map(toNode)
const plan = buildPlan({services, endpointSlices, nodes} as never, {domain: 'kube.internal', addressType: 'InternalIP', paths: 'auto'})
const merged = mergeClusterPlans([{label: 'a', plan}, {label: 'b', plan}], 'kube.internal')
const kinds: Record<string, object[]> = {
  withChanges: services.map((s, i) => withChanges(s, {names: [String(i)]})),
  'Service port': services.filter((s) => s.type === 'NodePort').map((s) => s.ports[0]!),
  'load-balancer ingress': services.flatMap((s) => s.loadBalancerIngress),
  'slice endpoint': endpointSlices.map((e) => e.endpoints[0]!),
  'slice port': endpointSlices.map((e) => e.ports[0]!),
  'planned port': plan.services.filter((s) => s.type === 'NodePort').map((s) => s.ports[0]!),
  'named Service': plan.services.filter((s) => s.type === 'NodePort'),
  'Service of several clusters': merged.services.filter((s) => s.type === 'NodePort'),
  'node of several clusters': merged.nodes,
}
const counts: Record<string, number> = {}
for (const [kind, list] of Object.entries(kinds)) counts[kind] = list.filter((o) => !sameMap(o, list[0]!)).length
console.log(JSON.stringify({counts, sizes: Object.fromEntries(Object.entries(kinds).map(([k, l]) => [k, l.length]))}))
`,
    )
    const {stdout} = await run(['--allow-natives-syntax'])
    const {counts, sizes} = JSON.parse(stdout) as {counts: Record<string, number>; sizes: Record<string, number>}
    // Enough of each kind for V8's inline caches to have gone past their first shapes (the nodes: 3 per cluster).
    const {'node of several clusters': nodes, ...rest} = sizes
    expect(nodes).toBe(6)
    for (const size of Object.values(rest)) expect(size).toBeGreaterThanOrEqual(150)
    expect(counts).toEqual({
      withChanges: 0,
      'Service port': 0,
      'load-balancer ingress': 0,
      'slice endpoint': 0,
      'slice port': 0,
      'planned port': 0,
      'named Service': 0,
      'Service of several clusters': 0,
      'node of several clusters': 0,
    })
  })
})
