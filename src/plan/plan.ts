// The planning core: a cluster snapshot in, the plan `list` prints and `serve` applies out. Pure: no I/O, no
// clock, no logging. The rules are summarised in the README ("How Services are mapped").
import {planHosts} from './hosts.js'
import {claimNames, reservedNames} from './names.js'
import {familyOf, nodeAddress, selectNodes} from './nodes.js'
import {changesInOrder} from './changes-in-order.js'
import {choosePath, tunnelEndpoints} from './paths.js'
import {sameItems, type KeptClaims, type PlanMemo, type ServiceMemo} from './memo.js'
import type {
  ClusterSnapshot,
  EndpointSlice,
  Exposure,
  IPFamily,
  Node,
  Plan,
  PlanOptions,
  PlannedPort,
  PlannedService,
  PortMode,
  Service,
  ServicePort,
  Target,
} from './types.js'
import {emptyList, fitted, withChanges} from '../fitted.js'

/** How a Service can be reached from outside the cluster (Service types: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types). */
export function exposureOf(svc: Service): Exposure {
  if (svc.type === 'ExternalName') return 'external-name'
  if (svc.clusterIP === 'None') return 'headless'
  if (svc.type === 'NodePort') return 'node-port'
  if (svc.type === 'LoadBalancer') {
    return svc.loadBalancerIngress.some((i) => i.ip || i.hostname) ? 'lb-ready' : 'lb-pending'
  }
  return 'cluster-only'
}

/** Exposures `serve` proxies through node addresses and NodePorts. */
export function isProxied(exposure: Exposure): boolean {
  return exposure === 'node-port' || exposure === 'lb-pending'
}

/** Exposures that get friendly names (lb-ready names answer the load balancer's own address). */
export function isMapped(exposure: Exposure): boolean {
  return isProxied(exposure) || exposure === 'lb-ready'
}

/** True when some port of the Service takes the API-server path. */
export function viaApiServer(s: PlannedService): boolean {
  return s.ports.some((p) => p.path === 'api-server')
}

/** Services serve gives names: mapped exposures, and those reached through the API server. */
export function hasNames(s: PlannedService): boolean {
  return isMapped(s.exposure) || viaApiServer(s)
}

/** appProtocol values (IANA service names and Kubernetes' own) that speak plain HTTP/1.1 or h2c. */
const HTTP_APP_PROTOCOLS = new Set(['http', 'kubernetes.io/h2c', 'kubernetes.io/ws'])
/** Port names that homelab charts give web UIs. */
const HTTP_PORT_NAMES = new Set(['web', 'ui'])
/** Ports that are plain HTTP far more often than not, when nothing else says what a port speaks. */
const HTTP_PORTS = new Set([80, 3000, 8000, 8008, 8080, 8081, 8088, 8888])

/**
 * How `serve` forwards a port. UDP is always `udp`. Otherwise appProtocol decides when set (http, h2c, ws →
 * `http`; anything else, https included, → `tcp`); then a name starting with `http` but not `https`, or `web`/`ui`;
 * then a well-known web port number; else `tcp`.
 */
export function portMode(port: ServicePort): PortMode {
  if (port.protocol === 'UDP') return 'udp'
  if (port.protocol !== 'TCP') return 'tcp'
  if (port.appProtocol) return HTTP_APP_PROTOCOLS.has(port.appProtocol.toLowerCase()) ? 'http' : 'tcp'
  const name = port.name?.toLowerCase() ?? ''
  if (name.startsWith('https')) return 'tcp'
  if (name.startsWith('http') || HTTP_PORT_NAMES.has(name)) return 'http'
  return HTTP_PORTS.has(port.port) ? 'http' : 'tcp'
}

/** The Service's IP families in order; old objects without ipFamilies get the clusterIP's family. */
function familiesOf(svc: Service): IPFamily[] {
  if (svc.ipFamilies.length > 0) return svc.ipFamilies
  return [svc.clusterIP && svc.clusterIP !== 'None' ? familyOf(svc.clusterIP) : 'IPv4']
}

/** Nodes hosting a ready endpoint of the Service, as kube-proxy counts them for externalTrafficPolicy: Local. */
function nodesWithReadyEndpoints(svc: Service, slices: EndpointSlice[]): Set<string> {
  const nodes = new Set<string>()
  for (const slice of slices) {
    if (slice.namespace !== svc.namespace || slice.serviceName !== svc.name) continue
    for (const ep of slice.endpoints) if (ep.ready && ep.nodeName) nodes.add(ep.nodeName)
  }
  return nodes
}

/** Node address × NodePort pairs, primary IP family first, nodes by name. */
function targetsFor(nodes: Node[], families: IPFamily[], nodePort: number, options: PlanOptions): Target[] {
  const targets: Target[] = []
  for (const family of families) {
    for (const node of nodes) {
      const address = nodeAddress(node, family, options.addressType)
      if (address) targets.push({node: node.name, address, port: nodePort})
    }
  }
  return fitted(targets)
}

function portLabel(port: ServicePort): string {
  return `${port.port}/${port.protocol}`
}

/** Ports keyed by (port, protocol): the same number may serve TCP and UDP, even on one nodePort. */
function uniquePorts(ports: ServicePort[]): ServicePort[] {
  const seen = new Set<string>()
  return ports.filter((p) => {
    const key = portLabel(p)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/**
 * EndpointSlices by their Service's namespace and name: one pass, so each Service's lookup costs its own slices, not
 * all of them; two levels rather than `namespace/name` keys, so a plan makes no key string per slice and Service
 * (20,000 at 10,000 Services, on every change).
 */
function slicesByService(slices: EndpointSlice[]): Map<string, Map<string, EndpointSlice[]>> {
  const by = new Map<string, Map<string, EndpointSlice[]>>()
  for (const slice of slices) {
    let names = by.get(slice.namespace)
    if (!names) by.set(slice.namespace, (names = new Map()))
    const list = names.get(slice.serviceName)
    if (list) list.push(slice)
    else names.set(slice.serviceName, [slice])
  }
  return by
}

const NO_SLICES: EndpointSlice[] = []

function planService(
  svc: Service,
  ownSlices: EndpointSlice[],
  targetNodes: Node[],
  options: PlanOptions,
): PlannedService {
  const exposure = exposureOf(svc)
  const warnings: string[] = []
  let nodes = targetNodes
  if (isProxied(exposure) && svc.externalTrafficPolicy === 'Local') {
    const local = nodesWithReadyEndpoints(svc, ownSlices)
    nodes = targetNodes.filter((n) => local.has(n.name))
    if (nodes.length === 0) {
      warnings.push('externalTrafficPolicy is Local and no eligible node hosts a ready endpoint: no targets')
    }
  }
  if (isProxied(exposure) && targetNodes.length > 0 && nodes.length > 0) {
    const families = familiesOf(svc)
    if (!nodes.some((n) => families.some((f) => nodeAddress(n, f, options.addressType)))) {
      warnings.push(`no node has an ${families.join(' or ')} address: no targets`)
    }
  }
  const ports = uniquePorts(svc.ports).map((port): PlannedPort => {
    const planned: PlannedPort = {
      port: port.port,
      protocol: port.protocol,
      ...(port.name ? {name: port.name} : {}),
      ...(port.nodePort ? {nodePort: port.nodePort} : {}),
      ...(port.appProtocol ? {appProtocol: port.appProtocol} : {}),
      mode: portMode(port),
      targets: emptyList(),
    }
    if (options.paths) {
      const choice = choosePath(svc, exposure, port, options.paths)
      planned.path = choice.path
      if (choice.note) planned.pathNote = choice.note
      const endpoints = tunnelEndpoints(svc, exposure, port, choice, options.paths, ownSlices)
      if (endpoints) planned.endpoints = endpoints
    }
    if (!isProxied(exposure)) return planned
    if (port.protocol === 'SCTP') {
      warnings.push(`port ${portLabel(port)}: SCTP cannot be forwarded from a workstation; skipped`)
    } else if (!port.nodePort) {
      warnings.push(
        svc.allocateLoadBalancerNodePorts === false
          ? `port ${portLabel(port)}: allocateLoadBalancerNodePorts is false, so it has no NodePort to forward to; it needs an in-cluster load balancer`
          : `port ${portLabel(port)}: no NodePort assigned yet; no targets`,
      )
    } else {
      planned.targets = targetsFor(nodes, familiesOf(svc), port.nodePort, options)
    }
    return planned
  })
  return {
    namespace: svc.namespace,
    name: svc.name,
    type: svc.type,
    exposure,
    names: emptyList(),
    loadBalancerIngress: fitted(
      svc.loadBalancerIngress.flatMap((i) => (i.ip ? [i.ip] : i.hostname ? [i.hostname] : [])),
    ),
    externalTrafficPolicy: svc.externalTrafficPolicy,
    ...(svc.healthCheckNodePort ? {healthCheckNodePort: svc.healthCheckNodePort} : {}),
    ports,
    warnings: fitted(warnings),
  }
}

/** A mapped Service's names, and the warnings naming adds to its own. */
interface Naming {
  names: string[]
  warnings: readonly string[]
}

/** The naming warnings of a Service that has none: one array, so the memo's comparison of them is one step. */
const NO_WARNINGS: readonly string[] = Object.freeze([])

/**
 * Gives mapped Services their names; a name claimed by two Services goes to neither (each keeps its long name).
 * Returns each planned Service's naming (undefined for those without names), by index, and the plan-level warnings;
 * the planned Services are left as they are. `services[i]` is the Service `planned[i]` was made from.
 */
function assignNames(
  planned: PlannedService[],
  services: Service[],
  domain: string,
  memo: PlanMemo | undefined,
): {naming: Array<Naming | undefined>; warnings: string[]} {
  const shortCount = new Map<string, number>()
  const withNames = planned.map(hasNames)
  planned.forEach((p, i) => {
    if (withNames[i]) shortCount.set(p.name, (shortCount.get(p.name) ?? 0) + 1)
  })

  const claims = planned.map((p, i) => {
    if (!withNames[i]) return undefined
    const svc = services[i]!
    return claimsOf(svc, domain, shortCount.get(p.name) === 1, memo?.services.get(svc))
  })
  // Each wanted name's claimant, or claimants when several: lists (and their labels) only where names conflict, so
  // 10,000 Services do not make 20,000 arrays and label strings on every change.
  const owners = new Map<string, PlannedService | PlannedService[]>()
  const longNames = new Set<string>()
  for (const c of claims) if (c) longNames.add(c.claims.long)
  claims.forEach((c, i) => {
    if (!c) return
    for (const name of c.claims.wanted) {
      const had = owners.get(name)
      if (had === undefined) owners.set(name, planned[i]!)
      else if (Array.isArray(had)) had.push(planned[i]!)
      else owners.set(name, [had, planned[i]!])
    }
  })
  const label = (p: PlannedService) => `${p.namespace}/${p.name}`
  const warnings: string[] = []
  const reserved = new Set(reservedNames(domain))
  const naming = claims.map((kept, i): Naming | undefined => {
    if (!kept) return undefined
    const c = kept.claims
    // Most Services get every name they ask for and add no warning: their names are the memo's array.
    const clean = (name: string) => owners.get(name) === planned[i] && !reserved.has(name) && !longNames.has(name)
    if (c.warnings.length === 0 && c.wanted.every(clean)) {
      // fitted: an array literal with a spread grows as push does (room for 17 items, 136 bytes more for two: Node 20
      // and 24); this array is the names of every Service that gets the names it claims.
      kept.plain ??= fitted([c.long, ...c.wanted])
      return {names: kept.plain, warnings: NO_WARNINGS}
    }
    const p = planned[i]!
    const own = [...c.warnings]
    const names = [c.long]
    for (const name of c.wanted) {
      const claimants = owners.get(name)!
      if (reserved.has(name)) {
        own.push(`name ${name} is reserved for serve's dashboard; skipped (the Service keeps ${c.long})`)
      } else if (longNames.has(name)) {
        own.push(`name ${name} belongs to another Service; skipped`)
      } else if (Array.isArray(claimants)) {
        const self = label(p)
        own.push(
          `name ${name} is also claimed by ${claimants
            .map(label)
            .filter((o) => o !== self)
            .join(', ')}; skipped`,
        )
      } else {
        names.push(name)
      }
    }
    return {names, warnings: own}
  })
  // forEach, not for…of: a [name, claimants] pair per entry is 20,000 arrays per change at 10,000 Services.
  owners.forEach((claimants, name) => {
    if (Array.isArray(claimants) && !longNames.has(name) && !reserved.has(name))
      warnings.push(`name ${name} is claimed by ${claimants.map(label).join(' and ')}: neither gets it`)
  })
  return {naming, warnings}
}

/** The names a Service claims (names.ts), kept in its memo entry while the Service and its inputs are the same. */
function claimsOf(svc: Service, domain: string, unique: boolean, entry: ServiceMemo | undefined): KeptClaims {
  const kept = entry?.claims
  if (kept && kept.domain === domain && kept.unique === unique) return kept
  const claims: KeptClaims = {domain, unique, claims: claimNames(svc, domain, unique)}
  if (entry) entry.claims = claims
  return claims
}

/**
 * The Services in order: the last order with what changed inserted by binary search, when most Services are the
 * objects of the last call (sorting 10,000 with a collator on every change costs more than the change).
 */
function sortedWith(memo: PlanMemo, services: Service[], order: (a: Service, b: Service) => number): Service[] {
  const changes = memo.input && inputChanges(memo, memo.input, services)
  let sorted: Service[]
  let added: Iterable<Service>
  if (changes && memo.sorted) {
    const went = new Set(changes.went)
    sorted = went.size > 0 ? memo.sorted.filter((s) => !went.has(s)) : memo.sorted
    added = changes.came
  } else {
    const now = new Set(services)
    const kept = memo.sorted?.filter((s) => now.has(s)) ?? []
    const had = new Set(kept)
    sorted = kept
    added = services.filter((s) => !had.has(s))
  }
  if (sorted.length < services.length / 2) sorted = [...services].sort(order)
  else {
    for (const s of added) {
      let lo = 0
      let hi = sorted.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (order(sorted[mid]!, s) <= 0) lo = mid + 1
        else hi = mid
      }
      sorted.splice(lo, 0, s)
    }
  }
  memo.sorted = sorted
  memo.input = [...services]
  return [...sorted]
}

/** Changes (of Service objects) above which inputChanges gives up. */
const INPUT_CHANGES_LIMIT = 256

/**
 * The Services of the last call that are not in `services` (went) and those in `services` that were not (came), in
 * one walk over both lists, or undefined when that walk cannot tell: the Services that stay keep their order in the
 * watch's lists. A Service without a memo entry was not in the last call (every Service planned gets one); one with
 * an entry that the walk does not meet in step makes it give up rather than guess.
 */
function inputChanges(
  memo: PlanMemo,
  last: readonly Service[],
  services: readonly Service[],
): {went: Service[]; came: Service[]} | undefined {
  return changesInOrder(last, services, (s) => !memo.services.has(s), INPUT_CHANGES_LIMIT)
}

/** The plan of one Service before naming, from the memo when its Service, slices, nodes and options are the same. */
function plannedFor(
  svc: Service,
  own: EndpointSlice[],
  nodes: Node[],
  options: PlanOptions,
  memo: PlanMemo | undefined,
): PlannedService {
  const kept = memo?.services.get(svc)
  if (kept && kept.nodes === nodes && kept.options === options && sameItems(kept.slices, own)) return kept.unnamed
  const unnamed = planService(svc, own, nodes, options)
  memo?.services.set(svc, {slices: own, nodes, options, unnamed})
  return unnamed
}

/** The named form of a planned Service: the memo's while names and warnings are unchanged, else a new object. */
function named(unnamed: PlannedService, naming: Naming, entry: ServiceMemo | undefined): PlannedService {
  if (
    entry?.named &&
    entry.unnamed === unnamed &&
    sameItems(entry.named.names, naming.names) &&
    sameItems(entry.nameWarnings ?? [], naming.warnings)
  ) {
    return entry.named
  }
  const warnings = naming.warnings.length > 0 ? unnamed.warnings.concat(naming.warnings) : unnamed.warnings
  const planned = withChanges(unnamed, {names: naming.names, warnings})
  if (entry) {
    entry.named = planned
    entry.nameWarnings = naming.warnings
  }
  return planned
}

/**
 * Turns a cluster snapshot into the plan: per Service its exposure, names, ports, modes and node targets. With a
 * memo (./memo.ts), Services whose objects, slices and target nodes are the ones of the last call keep their
 * planned objects: the plan equals the one built without it.
 */
export function buildPlan(snapshot: ClusterSnapshot, options: PlanOptions, memo?: PlanMemo): Plan {
  const selection = selectNodes(snapshot.nodes)
  let targetNodes = selection.targets
  if (memo) {
    if (memo.nodes && sameItems(memo.nodes, targetNodes)) targetNodes = memo.nodes as Node[]
    else memo.nodes = targetNodes
  }
  // One collator for every comparison: the same order as String.prototype.localeCompare, without building one per
  // call (https://tc39.es/ecma402/#sup-String.prototype.localeCompare), which matters with 10,000 Services.
  const {compare} = new Intl.Collator()
  const order = (a: Service, b: Service) => compare(a.namespace, b.namespace) || compare(a.name, b.name)
  const sorted = memo ? sortedWith(memo, snapshot.services, order) : [...snapshot.services].sort(order)
  const slices = slicesByService(snapshot.endpointSlices)
  const unnamed = sorted.map((svc) => {
    const own = slices.get(svc.namespace)?.get(svc.name) ?? NO_SLICES
    return plannedFor(svc, own, targetNodes, options, memo)
  })
  const warnings = [...selection.warnings]
  if (snapshot.nodes.length === 0 && unnamed.some((s) => isProxied(s.exposure))) {
    warnings.push('no nodes visible: NodePort Services have no targets')
  }
  const {naming, warnings: nameWarnings} = assignNames(unnamed, sorted, options.domain, memo)
  warnings.push(...nameWarnings)
  const services = unnamed.map((p, i) => {
    const n = naming[i]
    return n ? named(p, n, memo?.services.get(sorted[i]!)) : p
  })
  if (!snapshot.ingress) return {domain: options.domain, nodes: selection.planned, services, warnings}
  const hosts = planHosts(snapshot.ingress, snapshot.services, services, options.ingressService)
  warnings.push(...hosts.warnings)
  return {domain: options.domain, nodes: selection.planned, services, warnings, hosts: hosts.hosts}
}
