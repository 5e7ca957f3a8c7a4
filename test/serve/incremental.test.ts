// serve's loop keeps memos between changes (plan, serve map, DNS zone, probe set, change-log lines): after any
// sequence of changes, what it builds with them must equal what a full rebuild builds, and the parts of Services
// that did not change must be the very objects of the last build.
import {afterEach, describe, expect, it} from 'vitest'
import {compileZone, type CompiledZone} from '../../src/dns/answer.js'
import {newPlanMemo} from '../../src/plan/memo.js'
import {HealthMonitor} from '../../src/proxy/health.js'
import {buildPlan} from '../../src/plan/plan.js'
import type {ClusterSnapshot, EndpointSlice, Node, PlanOptions, Service} from '../../src/plan/types.js'
import {memoByObject} from '../../src/serve/memo-by-object.js'
import {ProbeSet, targetLists} from '../../src/serve/probe-set.js'
import {addressesOverBudget, FD_RESERVE} from '../../src/serve/fd-budget.js'
import {parseIpRange, type AddressRange} from '../../src/servemap/addresses.js'
import {buildServeMap, type ServeBuild, type ServeOptions} from '../../src/servemap/map.js'
import {newServeMapMemo} from '../../src/servemap/memo.js'
import {rowChanges, rowKey, rowLine, rowLines, type RowChange} from '../../src/servemap/table.js'
import {RouteTable} from '../../src/proxy/route-table.js'
import {tunnelRoutes, type GatewayAddress} from '../../src/servemap/tunnels.js'
import {probeKey, probeOf, type ProbedTarget} from '../../src/servemap/types.js'
import {makeNode, makeService, makeSlice, makeSnapshot} from '../builders.js'
import {seededRandom} from '../seeded-random.js'

const range = parseIpRange('127.90.0.0/24') as AddressRange
const NO_INGRESS = {ingresses: [], ingressClasses: [], gateways: [], gatewayClasses: [], routes: []}
const NAMESPACES = ['default', 'media', 'tools']
const NAMES = ['web', 'api', 'db', 'dns', 'grafana', 'app', 'cache', 'queue', 'auth', 'shop']

/** A random Service: any type, ports of every mode, sometimes Local traffic or a hostname annotation. */
function randomService(rand: () => number, namespace: string, name: string): Service {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!
  const type = pick(['ClusterIP', 'NodePort', 'NodePort', 'LoadBalancer', 'ExternalName'] as const)
  const nodePort = () => 30000 + Math.floor(rand() * 2000)
  const ports = [
    {name: 'http', port: 80, protocol: 'TCP' as const, nodePort: nodePort()},
    ...(rand() < 0.4 ? [{name: 'metrics', port: 9100, protocol: 'TCP' as const, nodePort: nodePort()}] : []),
    ...(rand() < 0.3 ? [{port: 53, protocol: 'UDP' as const, nodePort: nodePort()}] : []),
    ...(rand() < 0.2 ? [{name: 'https', port: 443, protocol: 'TCP' as const, nodePort: nodePort()}] : []),
  ].map((p) => (type === 'ClusterIP' || type === 'ExternalName' ? {...p, nodePort: undefined} : p))
  const local = type !== 'ClusterIP' && rand() < 0.25
  const hostname: Record<string, string> =
    rand() < 0.2 ? {'external-dns.alpha.kubernetes.io/hostname': pick(NAMES)} : {}
  return makeService(name, {
    namespace,
    type,
    ports,
    ...(type === 'ExternalName' ? {externalName: 'example.com'} : {}),
    ...(type === 'LoadBalancer' && rand() < 0.5
      ? {loadBalancerIngress: [{ip: `192.168.1.${1 + Math.floor(rand() * 200)}`}]}
      : {}),
    ...(local ? {externalTrafficPolicy: 'Local' as const, healthCheckNodePort: 32000 + Math.floor(rand() * 500)} : {}),
    annotations: hostname,
  })
}

function randomSlice(rand: () => number, svc: Service, nodes: Node[]): EndpointSlice {
  const count = Math.floor(rand() * 3)
  const slice = makeSlice(
    svc.name,
    Array.from({length: count}, () => ({
      nodeName: nodes[Math.floor(rand() * nodes.length)]?.name,
      ready: rand() < 0.8,
    })),
    svc.namespace,
  )
  return {
    ...slice,
    endpoints: slice.endpoints.map((e, i) => ({...e, pod: `${svc.name}-pod-${i}`})),
    ports: [
      {name: 'http', port: 8080, protocol: 'TCP'},
      {name: 'metrics', port: 9100, protocol: 'TCP'},
      {name: 'https', port: 8443, protocol: 'TCP'},
    ],
  }
}

/** A cluster that changes one object (or a few) at a time, as watch events change it. */
class Cluster {
  services: Service[] = []
  slices: EndpointSlice[] = []
  nodes: Node[] = [makeNode('n1', '10.0.0.1'), makeNode('n2', '10.0.0.2'), makeNode('n3', '10.0.0.3')]
  constructor(private readonly rand: () => number) {
    for (let i = 0; i < 25; i++) this.add()
  }

  snapshot(): ClusterSnapshot {
    return makeSnapshot({services: [...this.services], nodes: [...this.nodes], endpointSlices: [...this.slices]})
  }

  private pickIndex(list: unknown[]): number {
    return Math.floor(this.rand() * list.length)
  }

  add(): void {
    const namespace = NAMESPACES[this.pickIndex(NAMESPACES)]!
    const name = `${NAMES[this.pickIndex(NAMES)]}-${Math.floor(this.rand() * 40)}`
    if (this.services.some((s) => s.namespace === namespace && s.name === name)) return
    const svc = randomService(this.rand, namespace, name)
    this.services.push(svc)
    if (this.rand() < 0.8) this.slices.push(randomSlice(this.rand, svc, this.nodes))
  }

  /** One random change; returns what it was, for the failure message. */
  change(): string {
    const r = this.rand()
    if (r < 0.2) {
      this.add()
      return 'add a Service'
    }
    if (r < 0.3 && this.services.length > 1) {
      const [gone] = this.services.splice(this.pickIndex(this.services), 1)
      this.slices = this.slices.filter((s) => s.namespace !== gone!.namespace || s.serviceName !== gone!.name)
      return `remove ${gone!.name}`
    }
    if (r < 0.6 && this.services.length > 0) {
      const i = this.pickIndex(this.services)
      const old = this.services[i]!
      this.services[i] = randomService(this.rand, old.namespace, old.name)
      return `modify ${old.name}`
    }
    if (r < 0.65 && this.services.length > 0) {
      // A new object with the same content, as an informer relist gives.
      const i = this.pickIndex(this.services)
      this.services[i] = structuredClone(this.services[i]!)
      return `relist ${this.services[i]!.name}`
    }
    if (r < 0.85 && this.services.length > 0) {
      const svc = this.services[this.pickIndex(this.services)]!
      this.slices = this.slices.filter((s) => s.namespace !== svc.namespace || s.serviceName !== svc.name)
      if (this.rand() < 0.8) this.slices.push(randomSlice(this.rand, svc, this.nodes))
      return `slices of ${svc.name}`
    }
    if (r < 0.93) {
      const i = this.pickIndex(this.nodes)
      this.nodes[i] = {...this.nodes[i]!, ready: !this.nodes[i]!.ready}
      return `node ${this.nodes[i]!.name} ready: ${this.nodes[i]!.ready}`
    }
    if (this.nodes.length < 5) {
      this.nodes.push(makeNode(`n${this.nodes.length + 1}`, `10.0.0.${this.nodes.length + 1}`))
      return 'add a node'
    }
    this.nodes.pop()
    return 'remove a node'
  }
}

/** The zone's answering structures (the reuse caches aside). */
function answering(zone: CompiledZone) {
  const {domain, problems, names, outside, wildcards, negativeByQuestionLength} = zone
  return {domain, problems, names, outside, wildcards, negativeByQuestionLength}
}

/** Every probe the map's routes and listeners use, as keys (what HealthMonitor.setProbes would get). */
function probesOf(build: ServeBuild): Set<string> {
  const keys = new Set<string>()
  const lists = [...build.map.http, ...build.map.listeners, ...(build.map.tls ?? [])].map((r) => r.targets)
  for (const list of lists) for (const t of list) if (t.via !== 'api-server') keys.add(probeKey(probeOf(t)))
  return keys
}

/** The change log as comparing every row's line of both lists gives it (what serve logged before rowChanges). */
function fullChanges(before: ServeBuild['rows'], after: ServeBuild['rows']): RowChange[] {
  const old = rowLines(before)
  const now = rowLines(after)
  const changes: RowChange[] = []
  for (const [key, line] of old) if (!now.has(key)) changes.push({event: 'route-removed', line})
  for (const [key, line] of now) {
    const was = old.get(key)
    if (was === undefined) changes.push({event: 'route-added', line})
    else if (was !== line) changes.push({event: 'route-changed', line})
  }
  return changes
}

/** A route table as name → route, sorted by name. */
function tableOf(table: RouteTable) {
  return [...table.keys()].sort().map((name) => [name, table.get(name)!.route] as const)
}

describe('serve with the whole map loaded: incremental rebuilds', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`after every random change equal the full rebuild (seed ${seed})`, () => {
      const rand = seededRandom(seed)
      const cluster = new Cluster(rand)
      const paths = seed % 3 === 0 ? undefined : ('auto' as const)
      const planOptions: PlanOptions = {domain: 'lb.internal', addressType: 'InternalIP', ...(paths ? {paths} : {})}
      const planMemo = newPlanMemo()
      const mapMemo = newServeMapMemo()
      const budgetMemo = newServeMapMemo()
      const routeMemo = new WeakMap()
      const probes = new ProbeSet()
      const probed = new Set<string>()
      const line = memoByObject(rowLine)
      const key = memoByObject(rowKey)
      const gateways = new Map<string, GatewayAddress>()
      const denied = new Map<string, string>()
      const unheld = new Map<string, string>()
      let zone: CompiledZone | undefined
      let lastRows: ServeBuild['rows'] = []
      let lastFullRows: ServeBuild['rows'] = []
      const table = new RouteTable()
      let lastDns: ServeBuild['map']['dns'] | undefined
      let patched = 0
      for (let step = 0; step < 40; step++) {
        const what = step === 0 ? 'start' : cluster.change()
        // As the watch gives it with the Ingress kinds served but none there (odd seeds): the plan's host list is empty.
        const snapshot = seed % 2 === 1 ? {...cluster.snapshot(), ingress: NO_INGRESS} : cluster.snapshot()
        const full = buildPlan(snapshot, planOptions)
        const plan = buildPlan(snapshot, planOptions, planMemo)
        expect(plan, `plan after ${what} (step ${step})`).toEqual(full)

        // Gateways: one per route, a few moving to another port or refused, as the runtime's would.
        const routes = tunnelRoutes(plan, routeMemo)
        expect(routes).toEqual(tunnelRoutes(full))
        for (const r of routes) {
          if (!gateways.has(r.key) || rand() < 0.05)
            gateways.set(r.key, {address: '127.0.0.1', port: 20000 + Math.floor(rand() * 1000)})
          if (rand() < 0.02) denied.set(r.key, 'pods/portforward is forbidden')
          // The runtime opens no gateway for a refused route.
          if (denied.has(r.key)) gateways.delete(r.key)
        }
        if (rand() < 0.1) unheld.set(`127.90.0.${Math.floor(rand() * 250) + 1}`, '127.90.0.9:80/tcp is held by nginx')
        const options: ServeOptions = {
          listen: '127.0.0.1',
          httpPort: 8080,
          range: seed % 2 === 0 ? range : undefined,
          tunnels: new Map(gateways),
          tunnelDenied: new Map(denied),
          unheld: new Map(unheld),
        }
        const fullMap = buildServeMap(full, options)
        const build = buildServeMap(plan, options, mapMemo)
        expect(build, `map after ${what} (step ${step})`).toEqual(fullMap)
        // The DNS maps of the last build patched in place (src/servemap/assemble.ts), or assembled anew.
        if (build.map.dns.hosts === lastDns?.hosts && build.map.dns.srv === lastDns.srv) patched++
        lastDns = build.map.dns
        if (options.range) {
          // Under an open-file budget the map gives up the addresses that do not fit in the one build, as serve's two
          // builds did: a whole map, addressesOverBudget over its listeners, and a map without those addresses.
          const room = 5 + ((step * 7) % 30)
          const why = 'the open-file limit has no room for its listeners'
          const over = addressesOverBudget(fullMap.map.listeners, 0, room + FD_RESERVE)
          const without = new Map(options.unheld)
          for (const address of over) if (!without.has(address)) without.set(address, why)
          const twoBuilds = buildServeMap(full, {...options, unheld: without})
          const budgeted = buildServeMap(plan, {...options, listenerRoom: {room, why}}, budgetMemo)
          expect(budgeted, `budgeted map after ${what} (step ${step})`).toEqual({...twoBuilds, overBudget: over})
        }

        // As the DNS server does: the zone replaced is not answered from again, so its names are patched in place.
        zone = compileZone(build.map.dns, {serial: step + 1, nsAddress: '127.0.0.1', previous: zone, handOver: true})
        const fresh = compileZone(fullMap.map.dns, {serial: step + 1, nsAddress: '127.0.0.1'})
        expect(answering(zone), `zone after ${what} (step ${step})`).toEqual(answering(fresh))

        const {added, removed} = probes.update(targetLists(build.map))
        for (const p of removed) expect(probed.delete(probeKey(p)), `removed ${probeKey(p)} was probed`).toBe(true)
        for (const p of added) {
          expect(probed.has(probeKey(p)), `added ${probeKey(p)} was not probed yet`).toBe(false)
          probed.add(probeKey(p))
        }
        expect([...probed].sort(), `probes after ${what} (step ${step})`).toEqual([...probesOf(fullMap)].sort())

        expect(rowLines(build.rows, line)).toEqual(rowLines(fullMap.rows))
        expect(rowLines(lastRows, line)).toEqual(rowLines(lastRows))
        expect(rowChanges(lastRows, build.rows, line, key), `change log after ${what} (step ${step})`).toEqual(
          fullChanges(lastFullRows, fullMap.rows),
        )
        lastRows = build.rows
        lastFullRows = fullMap.rows

        table.set(build.map.http)
        const freshTable = new RouteTable()
        freshTable.set(fullMap.map.http)
        expect(tableOf(table), `routes after ${what} (step ${step})`).toEqual(tableOf(freshTable))
      }
      expect(patched, 'builds whose DNS maps were patched in place').toBeGreaterThan(30)
    })
  }

  it("keeps every unchanged Service's planned object, rows, routes and listeners when one Service changes", () => {
    const nodes = [makeNode('n1', '10.0.0.1'), makeNode('n2', '10.0.0.2')]
    const services = Array.from({length: 30}, (_, i) =>
      makeService(`svc-${i}`, {
        type: 'NodePort',
        ports: [{name: 'http', port: 80, protocol: 'TCP', nodePort: 30000 + i}],
      }),
    )
    const planOptions: PlanOptions = {domain: 'lb.internal', addressType: 'InternalIP'}
    const options: ServeOptions = {listen: '127.0.0.1', httpPort: 8080, range}
    const planMemo = newPlanMemo()
    const mapMemo = newServeMapMemo()
    const before = buildPlan(makeSnapshot({services: [...services], nodes: [...nodes]}), planOptions, planMemo)
    const beforeMap = buildServeMap(before, options, mapMemo)

    services[7] = {...services[7]!, ports: [{name: 'http', port: 80, protocol: 'TCP', nodePort: 31007}]}
    const after = buildPlan(makeSnapshot({services: [...services], nodes: [...nodes]}), planOptions, planMemo)
    const afterMap = buildServeMap(after, options, mapMemo)

    const kept = after.services.filter((s, i) => s === before.services[i])
    expect(kept.map((s) => s.name)).toEqual(before.services.map((s) => s.name).filter((n) => n !== 'svc-7'))
    const keptRows = afterMap.rows.filter((r, i) => r === beforeMap.rows[i])
    expect(keptRows).toHaveLength(29)
    expect(afterMap.map.http.filter((r, i) => r === beforeMap.map.http[i])).toHaveLength(29)
    expect(afterMap.map.listeners.filter((l, i) => l === beforeMap.map.listeners[i])).toHaveLength(
      beforeMap.map.listeners.length - 2,
    )
    expect(afterMap.rows.find((r) => r.service === 'default/svc-7')!.targets.map((t) => t.port)).toEqual([31007, 31007])
  })

  it('recompiles only the DNS names whose records changed', () => {
    const hosts = new Map([
      ['web.lb.internal', ['127.90.0.1']],
      ['api.lb.internal', ['127.90.0.2']],
      ['db.lb.internal', ['127.90.0.3']],
    ])
    const srv = new Map([
      ['_http._tcp.web.default.lb.internal', [{priority: 0, weight: 0, port: 80, target: 'web.lb.internal'}]],
    ])
    const first = compileZone({domain: 'lb.internal', hosts, srv}, {serial: 1})
    const changed = new Map(hosts).set('api.lb.internal', ['127.90.0.9'])
    const second = compileZone({domain: 'lb.internal', hosts: changed, srv}, {serial: 2, previous: first})
    expect(second.names.get('web.lb.internal')).toBe(first.names.get('web.lb.internal'))
    expect(second.names.get('db.lb.internal')).toBe(first.names.get('db.lb.internal'))
    expect(second.names.get('_http._tcp.web.default.lb.internal')).toBe(
      first.names.get('_http._tcp.web.default.lb.internal'),
    )
    expect(second.names.get('api.lb.internal')).not.toBe(first.names.get('api.lb.internal'))
    expect(answering(second)).toEqual(answering(compileZone({domain: 'lb.internal', hosts: changed, srv}, {serial: 2})))
    // second was patched from first (the sources moved on to it); first still answers as it did, and a zone made from
    // first again is compiled whole, right.
    expect(second.sources).toBe(first.sources)
    expect(answering(first)).toEqual(answering(compileZone({domain: 'lb.internal', hosts, srv}, {serial: 1})))
    const gone = new Map(hosts)
    gone.delete('db.lb.internal')
    const again = compileZone({domain: 'lb.internal', hosts: gone, srv}, {serial: 3, previous: first})
    expect(again.sources).not.toBe(first.sources)
    expect(answering(again)).toEqual(answering(compileZone({domain: 'lb.internal', hosts: gone, srv}, {serial: 3})))
  })

  it('patches a zone handed over in place: no copy of its names, the same answers as a whole compile', () => {
    const hosts = new Map([
      ['web.lb.internal', ['127.90.0.1']],
      ['api.lb.internal', ['127.90.0.2']],
    ])
    const first = compileZone({domain: 'lb.internal', hosts, srv: new Map()}, {serial: 1})
    const changed = new Map(hosts).set('api.lb.internal', ['127.90.0.9'])
    changed.delete('web.lb.internal')
    changed.set('db.lb.internal', ['127.90.0.3'])
    const second = compileZone(
      {domain: 'lb.internal', hosts: changed, srv: new Map()},
      {serial: 2, previous: first, handOver: true},
    )
    expect(second.names).toBe(first.names)
    expect(second.sources).toBe(first.sources)
    expect(answering(second)).toEqual(
      answering(compileZone({domain: 'lb.internal', hosts: changed, srv: new Map()}, {serial: 2})),
    )
  })

  it('hands the health monitor only the probes of a replaced target list', () => {
    const target = (address: string, port: number): ProbedTarget => ({node: address, address, port})
    const a = [target('10.0.0.1', 30001), target('10.0.0.2', 30001)]
    const b = [target('10.0.0.1', 30002), target('10.0.0.2', 30002)]
    const c = [target('10.0.0.1', 30003)]
    const probes = new ProbeSet()
    expect(probes.update([a, b]).added.map(probeKey)).toHaveLength(4)
    // b's probes are still used by its copy (a route and a listener of one port may hold equal lists).
    const moved = probes.update([a, [...b], c])
    expect(moved.added.map(probeKey)).toEqual(['tcp://10.0.0.1:30003'])
    expect(moved.removed).toEqual([])
    const gone = probes.update([a])
    expect(gone.added).toEqual([])
    expect(gone.removed.map(probeKey).sort()).toEqual([
      'tcp://10.0.0.1:30002',
      'tcp://10.0.0.1:30003',
      'tcp://10.0.0.2:30002',
    ])
  })

  describe('HealthMonitor.changeProbes', () => {
    const monitors: HealthMonitor[] = []
    afterEach(() => monitors.splice(0).forEach((m) => m.close()))
    const monitor = () => {
      const m = new HealthMonitor({intervalMs: 60_000, timeoutMs: 50, nodeHealthPort: 10256})
      monitors.push(m)
      return m
    }

    it('ends with the probes setProbes would have, whatever order changes come in', () => {
      const rand = seededRandom(9)
      const all = Array.from({length: 40}, (_, i): ProbedTarget => {
        const address = `127.0.${40 + (i % 4)}.1`
        return i % 5 === 0
          ? {
              node: address,
              address,
              port: 30000 + i,
              probe: {kind: 'http', address, port: i % 10 === 0 ? 10256 : 32000 + i},
            }
          : {node: address, address, port: 30000 + i}
      })
      const byChange = monitor()
      const probes = new ProbeSet()
      const lists = new Map(all.map((t) => [t, [t]]))
      for (let step = 0; step < 30; step++) {
        const current = all.filter(() => rand() < 0.5)
        // As the runtime does: each target list once, the probes that appeared and went by ProbeSet's counts.
        const {added, removed} = probes.update(current.map((t) => lists.get(t)!))
        byChange.changeProbes(added, removed)
        const bySet = monitor()
        bySet.setProbes(current)
        expect(byChange.size, `step ${step}`).toBe(bySet.size)
        expect(byChange.pending, `step ${step}`).toBe(bySet.pending)
      }
    })
  })
})
