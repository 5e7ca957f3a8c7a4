// What the dashboard shows, as the JSON document served at /api/routes: serve's rows grouped by Service, with the
// names to reach each one, links for its web ports and the health of every target. Pure: the runtime passes the
// applied ServeBuild and a health lookup in.
import {hostPort} from '../net/address.js'
import type {ServeBuild, ServeRow} from '../servemap/map.js'
import type {HealthState, ProbedTarget} from '../servemap/types.js'
import type {PortPath} from '../plan/types.js'

/** The document served at `/api/routes`; the page renders exactly this. */
export interface RoutesDocument {
  /** The zone apex, e.g. `kube.internal`. */
  domain: string
  /** The port of the Host router: where the links point. */
  httpPort: number
  /** Services serve maps, in plan order (namespace, then name). */
  services: RouteService[]
  /** Services that cannot be reached from outside the cluster, with the reason. */
  unmapped: UnmappedService[]
  /** serve's warnings about the current map (e.g. an exhausted --ip-range). */
  warnings: string[]
}

/** A mapped Service. */
export interface RouteService {
  /** `namespace/name`. */
  service: string
  /** DNS names in the zone, shortest first. */
  names: string[]
  /** `http://<name>:<port>/` for each name a web port answers on, `.localhost` names included. */
  links: string[]
  ports: RoutePort[]
}

/** One Service port as serve reaches it. */
export interface RoutePort {
  /** `address:port` on this workstation; absent when the port is not reachable through serve. */
  endpoint?: string
  /** `http`, `tcp` or `udp`. */
  mode: string
  /** Why the port is not reachable, or how it is (`load balancer`, `via API server: …`). */
  note?: string
  /** `node`, `api-server`, `lb` or `none` (src/plan/paths.ts). */
  path?: PortPath
  targets: RouteTarget[]
}

/** A node the port's traffic goes to, with the result of its health checks. */
export interface RouteTarget {
  node: string
  /** `address:port` of the node's NodePort. */
  endpoint: string
  health: HealthState
  /** `api-server`: the local tunnel gateway (not probed); `fallback` when it stands in only for down nodes. */
  via?: 'api-server'
  fallback?: boolean
}

export interface UnmappedService {
  service: string
  name: string
  note: string
}

const HTTP_DEFAULT_PORT = 80 // RFC 9110 §4.2.1: left out of URLs

/** `http://host/` on port 80, `http://host:port/` otherwise. */
export function httpLink(host: string, port: number): string {
  return `http://${host}${port === HTTP_DEFAULT_PORT ? '' : `:${port}`}/`
}

const HTTPS_DEFAULT_PORT = 443

/** `https://host/` on port 443, `https://host:port/` otherwise: an Ingress host through serve's SNI listener. */
export function httpsLink(host: string, port: number): string {
  return `https://${host}${port === HTTPS_DEFAULT_PORT ? '' : `:${port}`}/`
}

/** Names in the zone first, then `.localhost` names; shorter before longer within each. */
function byPreference(a: string, b: string): number {
  const local = (name: string) => (name.endsWith('.localhost') ? 1 : 0)
  return local(a) - local(b) || a.length - b.length || a.localeCompare(b)
}

/**
 * Every name of a Service: the hosts of its HTTP route when it has one; else the names answering its own
 * per-service address (unique to it); else its long name `<svc>.<ns>.<zone>` and the short one from its row.
 */
function namesOf(build: ServeBuild, service: string, rows: ServeRow[]): {zone: string[]; local: string[]} {
  const {dns, http, listeners} = build.map
  const route = http.find((r) => r.service === service)
  let names: string[]
  if (route) {
    names = route.hosts
  } else {
    const own = new Set(listeners.filter((l) => l.service === service).map((l) => l.address))
    const [namespace = '', name = ''] = service.split('/')
    const fallback = [`${name}.${namespace}.${dns.domain}`, ...rows.map((r) => r.name)]
    names = own.size
      ? [...dns.hosts].filter(([, addresses]) => addresses.some((a) => own.has(a))).map(([host]) => host)
      : fallback.filter((host) => dns.hosts.has(host))
  }
  const unique = [...new Set(names)].sort(byPreference)
  return {zone: unique.filter((n) => !n.endsWith('.localhost')), local: unique.filter((n) => n.endsWith('.localhost'))}
}

/** Port number of an `address:port` endpoint (IPv6 in brackets). */
function portOf(endpoint: string): number | undefined {
  const port = Number(endpoint.slice(endpoint.lastIndexOf(':') + 1))
  return Number.isInteger(port) && port > 0 ? port : undefined
}

/** Builds the dashboard's document from the applied map and the current health of each probe. */
export function dashboardState(
  build: ServeBuild | undefined,
  state: (target: ProbedTarget) => HealthState,
  info: {domain: string; httpPort: number; notes?: string[]},
): RoutesDocument {
  const doc: RoutesDocument = {
    domain: info.domain,
    httpPort: info.httpPort,
    services: [],
    unmapped: [],
    // What the source says of itself first (a cluster that is away), then the map's own warnings.
    warnings: [...(info.notes ?? []), ...(build?.warnings ?? [])],
  }
  if (!build) return doc
  const grouped = new Map<string, ServeRow[]>()
  for (const row of build.rows) grouped.set(row.service, [...(grouped.get(row.service) ?? []), row])

  for (const [service, rows] of grouped) {
    // map.ts gives rows of Services it does not map the mode `-` and a note saying why.
    if (rows.every((r) => r.mode === '-')) {
      doc.unmapped.push({
        service,
        name: rows[0]?.name ?? service,
        note: rows.map((r) => r.note ?? 'not mapped').join('; '),
      })
      continue
    }
    const {zone, local} = namesOf(build, service, rows)
    const links: string[] = []
    if (build.map.http.some((r) => r.service === service)) {
      // The router answers every HTTP route's names on --http-port.
      for (const name of [...zone, ...local]) links.push(httpLink(name, info.httpPort))
    } else {
      // A load balancer's web port answers the Service's names (DNS gives its address) on the port's own number.
      for (const row of rows) {
        const port = row.mode === 'http' && row.endpoint ? portOf(row.endpoint) : undefined
        if (port !== undefined) for (const name of zone) links.push(httpLink(name, port))
      }
    }
    // Ingress and route hosts served over TLS (rows in mode tls, src/servemap/hosts.ts): their https links come first.
    const secure = rows.flatMap((r) => {
      const port = r.mode === 'tls' && r.endpoint ? portOf(r.endpoint) : undefined
      return port === undefined ? [] : [httpsLink(r.name, port)]
    })
    doc.services.push({
      service,
      names: zone,
      links: [...new Set([...secure, ...links])],
      // A plain property first: a leading spread gives each row a hidden class of its own on Node 20 (src/fitted.ts).
      ports: rows.map((r) => ({
        mode: r.mode,
        ...(r.endpoint === undefined ? {} : {endpoint: r.endpoint}),
        ...(r.note === undefined ? {} : {note: r.note}),
        ...(r.path === undefined ? {} : {path: r.path}),
        targets: r.targets.map((t) => ({
          node: t.node,
          endpoint: hostPort(t.address, t.port),
          health: state(t),
          ...(t.via ? {via: t.via} : {}),
          ...(t.fallback ? {fallback: true} : {}),
        })),
      })),
    })
  }
  return doc
}
