// From the plan to what serve applies: DNS records, HTTP routes by Host, and per-service listeners. Pure.
import {reservedNames} from '../plan/names.js'
import {hasNames, isProxied, viaApiServer} from '../plan/plan.js'
import type {Plan, PlannedPort, PlannedService} from '../plan/types.js'
import {assignment, rangeText, updateAssignment, type AddressRange} from './addresses.js'
import type {
  DnsRecords,
  ForwardListener,
  HttpRoute,
  ProbedTarget,
  ServeMap,
  ServeRow,
  SrvRecord,
  TlsRoute,
} from './types.js'

export type {ServeRow} from './types.js'
import {isTlsPort} from '../plan/hosts.js'
import {mapHosts, type HostReceiver} from './hosts.js'
import {hostPort, isUnspecified} from '../net/address.js'
import {routerAddressFor} from './remote.js'
import {API_SERVER_NOTE, gatewayTarget, tunnelKey, type GatewayAddress} from './tunnels.js'
import {forgetOnChange, type PartInputs, type ServeMapMemo, type ServicePart} from './memo.js'
import {assembleDns, partChanges, patchAssembled} from './assemble.js'
import {sameItems} from '../plan/memo.js'
import {emptyList, fitted, withChanges} from '../fitted.js'

export interface ServeOptions {
  /** Address of the DNS responder and the Host router (--listen). */
  listen: string
  httpPort: number
  /** The SNI listener's port (--https-port), for the rows of Ingress hosts; undefined when it does not run. */
  httpsPort?: number
  /** Per-service addresses (--ip-range), or undefined for `none`. */
  range?: AddressRange
  /**
   * Per-service addresses serve could not hold (another program has one of their ports), with why: their Services
   * are reached through the router instead, by name on the HTTP port, and DNS never hands such an address out.
   */
  unheld?: ReadonlyMap<string, string>
  /** Tunnel gateways by key (tunnelRoutes, src/servemap/tunnels.ts): where API-server paths connect. */
  tunnels?: ReadonlyMap<string, GatewayAddress>
  /** Tunnel keys the API server refused for want of RBAC, with the note their rows show. */
  tunnelDenied?: Map<string, string>
  /**
   * How many per-service listeners fit (serve's open-file budget, src/serve/fd-budget.ts), and the reason a row gives
   * an address that does not: addresses keep their listeners in map order until one does not fit; it and every later
   * one are given up, as addressesOverBudget decides from a whole map, and ServeBuild.overBudget names them.
   */
  listenerRoom?: {room: number; why: string}
}

export interface ServeBuild {
  map: ServeMap
  rows: ServeRow[]
  warnings: string[]
  /** With listenerRoom: the addresses given up in this build because their listeners did not fit. */
  overBudget?: Set<string>
}

/** `namespace/name`, or `cluster/namespace/name` when several clusters are served: per-service addresses hash it. */
function key(s: PlannedService): string {
  return s.cluster ? `${s.cluster}/${s.namespace}/${s.name}` : `${s.namespace}/${s.name}`
}

/** kube-proxy's node health server (--healthz-bind-address default 0.0.0.0:10256, pkg/proxy/healthcheck). */
export const KUBE_PROXY_HEALTHZ_PORT = 10256

/**
 * Targets with the probe that decides their health, as cloud load balancers probe: the Service's
 * healthCheckNodePort over HTTP for externalTrafficPolicy Local; a TCP connect to the NodePort otherwise; for UDP,
 * which has nothing to connect to, kube-proxy's /healthz on the node (cloud-provider-kind does the same).
 */
function probed(s: PlannedService, port: PlannedPort): ProbedTarget[] {
  if (s.externalTrafficPolicy === 'Local' && s.healthCheckNodePort) {
    const hcPort = s.healthCheckNodePort
    return port.targets.map((t) => withChanges(t, {probe: {kind: 'http', address: t.address, port: hcPort}}))
  }
  if (port.protocol === 'UDP') {
    return port.targets.map((t) =>
      withChanges(t, {probe: {kind: 'http', address: t.address, port: KUBE_PROXY_HEALTHZ_PORT}}),
    )
  }
  // A connect to the target itself needs no probe object (probeOf): the plan's targets serve as they are.
  return port.targets
}

/**
 * The targets of a port on its path: node targets (with the API-server gateway as a fallback when the port has
 * one), or the gateway alone for the API-server path.
 */
function pathTargets(s: PlannedService, port: PlannedPort, options: ServeOptions): ProbedTarget[] {
  const gateway = port.endpoints?.length ? options.tunnels?.get(tunnelKey(s, port)) : undefined
  if (port.path === 'api-server') return gateway ? [gatewayTarget(gateway, false)] : []
  const targets = probed(s, port)
  return gateway && targets.length > 0 ? fitted([...targets, gatewayTarget(gateway, true)]) : targets
}

function portLabel(p: PlannedPort): string {
  return `${p.port}/${p.protocol}`
}

/**
 * The `.localhost` form of each generated name the Service has (browsers resolve `*.localhost` to this machine):
 * `<svc>.<ns>.localhost` always for one cluster, `<svc>.<ns>.<cluster>.localhost` always for several, and the
 * shorter forms while the Service holds them under the zone.
 */
function localhostNames(s: PlannedService, plan: Plan): string[] {
  const forms = [
    ...(s.cluster ? [`${s.name}.${s.namespace}.${s.cluster}`] : []),
    `${s.name}.${s.namespace}`,
    s.name,
  ].map((form) => form.toLowerCase())
  return forms.filter((form) => s.names.includes(`${form}.${plan.domain}`)).map((form) => `${form}.localhost`)
}

/**
 * The Host values a port in http mode answers on the Service's own address: every host serve routes to the Service,
 * both `.localhost` forms, and the address itself. A page on another site can have its own name resolve to this
 * address (DNS rebinding: https://en.wikipedia.org/wiki/DNS_rebinding), but its requests still carry that name, so
 * with this list they cannot use the workstation as a bridge into the cluster.
 */
function allowedHosts(s: PlannedService, routeHosts: string[], address: string): string[] {
  const own = [`${s.name}.${s.namespace}.localhost`, `${s.name}.localhost`]
  return [...new Set([...routeHosts, ...own, address])]
}

/** What the whole map shares when one Service's part is built. */
interface MapContext {
  plan: Plan
  options: ServeOptions
  router: string
  ownHttpListeners: boolean
  /** The per-service address assigned to the Service, if any. */
  assigned?: string
  /** Why that address cannot be used (ServeOptions.unheld, or listenerRoom), if it cannot. */
  unheld?: string
}

/** Builds one Service's DNS records, routes, listeners, rows and warnings. */
function mapService(s: PlannedService, ctx: MapContext): ServicePart {
  const {plan, options, router, ownHttpListeners} = ctx
  const part: ServicePart = {names: s.names, srv: [], http: [], tls: [], listeners: [], rows: [], warnings: []}
  const {rows, listeners, warnings} = part
  const addSrv = (s: PlannedService, p: PlannedPort, port: number) => {
    if (!p.name) return
    const where = s.cluster ? `${s.name}.${s.namespace}.${s.cluster}` : `${s.name}.${s.namespace}`
    const owner = `_${p.name}._${p.protocol === 'UDP' ? 'udp' : 'tcp'}.${where}.${plan.domain}`.toLowerCase()
    part.srv.push([owner, [{priority: 0, weight: 0, port, target: s.names[0]!}]])
  }

  const id = key(s)
  const shortest = [...s.names].sort((a, b) => a.length - b.length)[0] ?? `${s.name}.${s.namespace}`
  if (!hasNames(s)) {
    const why = s.ports.find((p) => p.pathNote)?.pathNote
    rows.push({
      service: id,
      name: shortest,
      mode: '-',
      targets: emptyList(),
      note: why ?? `${s.exposure}: not reachable from outside the cluster`,
      ...(s.ports.length && s.ports[0]!.path ? {path: 'none' as const} : {}),
    })
    return part
  }
  if (s.exposure === 'lb-ready') {
    const ips = s.loadBalancerIngress.filter((a) => /^[\d.]+$|:/.test(a))
    part.receiver = [id, {addresses: ips, allowed: []}]
    if (ips.length) part.answer = ips
    for (const p of s.ports) {
      if (ips.length) addSrv(s, p, p.port)
      rows.push({
        service: id,
        name: shortest,
        endpoint: hostPort(ips[0] ?? s.loadBalancerIngress[0] ?? '-', p.port),
        mode: p.mode,
        targets: emptyList(),
        note: 'load balancer',
        ...(p.path ? {path: p.path} : {}),
      })
    }
    return part
  }
  const {assigned, unheld} = ctx
  const address = unheld === undefined ? assigned : undefined
  if (options.range && !assigned)
    warnings.push(`${id}: --ip-range has no free address left; only its HTTP port is mapped`)
  part.answer = [address ?? router]

  let httpPortUsed = false
  // concat makes an array of its own length (a literal with a spread has room for 17 items); mapHosts may add to it.
  const routeHosts = s.names.concat(localhostNames(s, plan))
  const allowed = address ? allowedHosts(s, routeHosts, address) : []
  const ownTcpPorts = new Set(s.ports.filter((p) => p.protocol === 'TCP').map((p) => p.port))
  const receiver: HostReceiver = {addresses: [address ?? router], allowed}
  part.receiver = [id, receiver]
  const tlsPort = s.ports.find((p) => isTlsPort(p) && p.targets.length > 0)
  if (tlsPort) {
    receiver.tls = {service: id, hosts: [...routeHosts], targets: probed(s, tlsPort)}
    part.tls.push(receiver.tls)
  }
  for (const p of s.ports) {
    const targets = pathTargets(s, p, options)
    const path = p.path ? {path: p.path} : {}
    if (p.path === 'none') {
      rows.push({service: id, name: shortest, mode: p.mode, targets, note: `${portLabel(p)}: ${p.pathNote}`, ...path})
      continue
    }
    if (targets.length === 0) {
      const denied = options.tunnelDenied?.get(tunnelKey(s, p))
      const none = p.path !== 'api-server' ? 'no targets' : (denied ?? 'no ready endpoint Pods')
      rows.push({service: id, name: shortest, mode: p.mode, targets, note: `${portLabel(p)}: ${none}`, ...path})
      continue
    }
    const via = p.path === 'api-server' ? {note: API_SERVER_NOTE} : {}
    if (p.protocol === 'SCTP') continue
    const onHttpPort = p.mode === 'http' && !httpPortUsed
    if (onHttpPort) {
      httpPortUsed = true
      receiver.http = {service: id, hosts: routeHosts, targets}
      part.http.push(receiver.http)
    }
    if (address) {
      const checked = p.mode === 'http' ? {hosts: allowed} : {}
      listeners.push({service: id, address, port: p.port, protocol: p.protocol, mode: p.mode, targets, ...checked})
      if (onHttpPort && ownHttpListeners && !ownTcpPorts.has(options.httpPort)) {
        listeners.push({
          service: id,
          address,
          port: options.httpPort,
          protocol: 'TCP',
          mode: p.mode,
          targets,
          ...checked,
        })
      }
      addSrv(s, p, p.port)
      rows.push({
        service: id,
        name: shortest,
        endpoint: hostPort(address, p.port),
        mode: p.mode,
        targets,
        ...via,
        ...path,
      })
    } else if (onHttpPort) {
      addSrv(s, p, options.httpPort)
      rows.push({
        service: id,
        name: shortest,
        endpoint: hostPort(router, options.httpPort),
        mode: p.mode,
        targets,
        ...via,
        ...path,
      })
    } else {
      rows.push({
        service: id,
        name: shortest,
        mode: p.mode,
        targets,
        note: unheld
          ? `${portLabel(p)}: not mapped: ${unheld}`
          : `${portLabel(p)}: not mapped without --ip-range (only HTTP is routed by Host)`,
        ...path,
      })
    }
  }
  return part
}

/** A Service's part with its lists fitted (src/fitted.ts): the map keeps one per Service. */
function fittedPart(part: ServicePart): ServicePart {
  const {srv, http, tls, listeners, rows, warnings} = part
  return withChanges(part, {
    srv: fitted(srv),
    http: fitted(http),
    tls: fitted(tls),
    listeners: fitted(listeners),
    rows: fitted(rows),
    warnings: fitted(warnings),
  })
}

/**
 * Builds DNS records, HTTP routes and listeners for every mapped Service, plus the rows of serve's table. With a
 * memo (./memo.ts), a Service whose planned object and inputs are those of the last call keeps its part: the map
 * equals the one built without it.
 */
export function buildServeMap(plan: Plan, options: ServeOptions, memo?: ServeMapMemo): ServeBuild {
  const http: HttpRoute[] = []
  const tls: TlsRoute[] = []
  const listeners: ForwardListener[] = []
  const rows: ServeRow[] = []
  const warnings: string[] = []
  const proxied = plan.services.filter((s) => isProxied(s.exposure) || viaApiServer(s))
  // A kept part's key is the string made last time: no new string per Service, and sameItems compares it at once.
  const idOf = (s: PlannedService) => memo?.parts.get(s)?.id ?? key(s)
  const addresses = options.range ? addressesFor(proxied.map(idOf), options.range, memo) : new Map<string, string>()
  // Where this machine reaches the router: --listen, or loopback when the router binds every address.
  const router = routerAddressFor(options.listen)
  // A router bound to every address already holds the HTTP port on the per-service addresses too.
  const ownHttpListeners = !isUnspecified(options.listen)
  // serve's dashboard (src/dashboard) answers on the router; the plan keeps these names from every Service.
  // With a memo, the same answer array as last time: the DNS zone then sees these names unchanged.
  const reserved = memo?.reserved?.router === router ? memo.reserved.answer : [router]
  if (memo) memo.reserved = {router, answer: reserved}

  // Ingress hosts join their receiving Service's routes (mapHosts changes its part): those parts are built afresh.
  const receiving = new Set<string>()
  for (const h of plan.hosts ?? []) {
    if (h.service) receiving.add(`${h.cluster ? `${h.cluster}/` : ''}${h.service.namespace}/${h.service.name}`)
  }
  if (memo) {
    const range = options.range ? rangeText(options.range) : ''
    forgetOnChange(memo, [options.listen, options.httpPort, range, plan.domain].join(' '))
  }
  /** Parts built in this call (not kept): ./assemble.ts tells the parts that came from them. */
  const built = new Set<ServicePart>()
  /** The Service's part: kept when its inputs are the last ones, else built (and kept for the next call). */
  const partOf = (s: PlannedService, id: string, assigned: string | undefined, unheld: string | undefined) => {
    const kept = memo && !receiving.has(id) ? memo.parts.get(s) : undefined
    if (kept && sameInputs(kept.inputs, assigned, unheld, kept.tunnelKeys, options)) return kept.part
    // The context is made only for a part that is built: most are kept.
    const part = fittedPart(mapService(s, {plan, options, router, ownHttpListeners, assigned, unheld}))
    built.add(part)
    if (!memo || receiving.has(id)) return part
    const tunnelKeys = kept?.tunnelKeys ?? s.ports.map((p) => tunnelKey(s, p))
    memo.parts.set(s, {id, tunnelKeys, inputs: partInputs(assigned, unheld, tunnelKeys, options), part})
    return part
  }
  const budget = options.listenerRoom
  let room = budget?.room ?? 0
  const overBudget = new Set<string>()
  const parts: ServicePart[] = []
  for (const s of plan.services) {
    const id = idOf(s)
    const assigned = addresses.get(id)
    let part = partOf(s, id, assigned, assigned === undefined ? undefined : options.unheld?.get(assigned))
    if (budget && assigned !== undefined && part.listeners.length > 0) {
      // The address's listeners fit, or it and every later address are given up (the Service answers the router's).
      if (overBudget.size === 0 && part.listeners.length <= room) room -= part.listeners.length
      else {
        overBudget.add(assigned)
        part = partOf(s, id, assigned, budget.why)
      }
    }
    parts.push(part)
    for (const r of part.http) http.push(r)
    for (const r of part.tls) tls.push(r)
    for (const l of part.listeners) listeners.push(l)
    for (const r of part.rows) rows.push(r)
    for (const w of part.warnings) warnings.push(w)
  }
  const {hosts, srv} = dnsMaps(plan, parts, built, reserved, memo)
  if (plan.hosts?.length) {
    const receivers = new Map<string, HostReceiver>()
    for (const part of parts) if (part.receiver) receivers.set(part.receiver[0], part.receiver[1])
    const ports = {router, httpPort: options.httpPort, httpsPort: options.httpsPort}
    mapHosts(plan.hosts, {dns: hosts, receivers, rows, warnings, ...ports})
  }
  const dns: DnsRecords = {domain: plan.domain, hosts, srv}
  return {
    map: {dns, http, listeners, ...(tls.length > 0 ? {tls} : {})},
    rows,
    warnings,
    ...(budget ? {overBudget} : {}),
  }
}

/**
 * The DNS maps of `parts`: the last call's patched in place for the parts that came and went when the memo has them
 * (./assemble.ts), else assembled whole (and kept for the next call, unless Ingress hosts join them: mapHosts adds
 * to them, or two parts share a name).
 */
function dnsMaps(
  plan: Plan,
  parts: ServicePart[],
  built: ReadonlySet<ServicePart>,
  reserved: string[],
  memo: ServeMapMemo | undefined,
): {hosts: Map<string, string[]>; srv: Map<string, SrvRecord[]>} {
  const last = memo?.assembled
  // Ingress hosts join the maps (mapHosts): then they are assembled whole. The watch gives an empty list without any.
  const ingress = (plan.hosts?.length ?? 0) > 0
  if (memo && last && last.reserved === reserved && !ingress) {
    const changes = partChanges(last.parts, parts, built)
    if (changes && patchAssembled(last, changes.went, changes.came)) {
      last.parts = parts
      return last
    }
  }
  const {hosts, srv, exact} = assembleDns(parts, reservedNames(plan.domain), reserved)
  if (memo) memo.assembled = exact && !ingress ? {parts, reserved, hosts, srv} : undefined
  return {hosts, srv}
}

/** What a Service's part depends on besides its planned object and the shared options: its address and gateways. */
function partInputs(
  assigned: string | undefined,
  unheld: string | undefined,
  tunnelKeys: string[],
  options: ServeOptions,
): PartInputs {
  return {
    assigned,
    unheld,
    gateways: emptyWhenAllUnset(tunnelKeys.map((k) => options.tunnels?.get(k))),
    denied: emptyWhenAllUnset(tunnelKeys.map((k) => options.tunnelDenied?.get(k))),
  }
}

/**
 * `list`, or the shared empty list when every item is undefined: most Services have no port the API server refused,
 * and without --paths none has a gateway (sameInputs reads past the end of a list as undefined).
 */
function emptyWhenAllUnset<T>(list: Array<T | undefined>): Array<T | undefined> {
  return list.some((item) => item !== undefined) ? list : emptyList()
}

/** Whether partInputs would be equal to `kept` now, without making them. */
function sameInputs(
  kept: PartInputs,
  assigned: string | undefined,
  unheld: string | undefined,
  tunnelKeys: string[],
  options: ServeOptions,
): boolean {
  if (kept.assigned !== assigned) return false
  if (kept.unheld !== unheld) return false
  for (let i = 0; i < tunnelKeys.length; i++) {
    const was = kept.gateways[i]
    const now = options.tunnels?.get(tunnelKeys[i]!)
    if (was !== now && (was?.address !== now?.address || was?.port !== now?.port)) return false
    if (kept.denied[i] !== options.tunnelDenied?.get(tunnelKeys[i]!)) return false
  }
  return true
}

/**
 * Per-service addresses: the last ones again when the keys and range are the same, the last ones changed for the keys
 * that came and went when that gives the same (updateAssignment), else assigned afresh.
 */
function addressesFor(keys: string[], range: AddressRange, memo: ServeMapMemo | undefined): Map<string, string> {
  const last = memo?.addresses
  if (last && last.range === range && (sameItems(last.keys, keys) || updateAssignment(last, keys))) return last.result
  const fresh = assignment(keys, range)
  if (memo) memo.addresses = fresh
  return fresh.result
}
