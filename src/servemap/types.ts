// The contract between serve's loop and what it drives: the DNS responder (src/dns) and the listeners and
// health checks (src/proxy). The loop builds a ServeMap from the Plan (pure, src/serve/map.ts) and hands the
// parts to each side; each side diffs against what it has, so unrelated listeners and connections stay untouched.
import {hostPort} from '../net/address.js'
import type {PodEndpoint, PortMode, PortPath, Target} from '../plan/types.js'

/** A DNS SRV record (RFC 2782). */
export interface SrvRecord {
  priority: number
  weight: number
  port: number
  /** Host name the record points at, lowercase, no trailing dot. */
  target: string
}

/** Everything the DNS responder answers, for one zone. Names lowercase, no trailing dot. */
export interface DnsRecords {
  /** The zone apex, e.g. `kube.internal`. */
  domain: string
  /** Host name → IPv4 and IPv6 addresses (A and AAAA answers). */
  hosts: Map<string, string[]>
  /** SRV owner name (`_http._tcp.radarr.media.kube.internal`) → records. */
  srv: Map<string, SrvRecord[]>
}

/** How a target's health is probed: a TCP connect to the target itself, or an HTTP GET whose 200 means healthy. */
export type Probe = {kind: 'tcp'; address: string; port: number} | {kind: 'http'; address: string; port: number}

/** What the health checks last said of a probe; "unknown" until its first result, and counted as healthy. */
export type HealthState = 'up' | 'down' | 'unknown'

/** The probe deciding a target's health: its own, or a TCP connect to the target itself. */
export function probeOf(target: ProbedTarget): Probe {
  return target.probe ?? {kind: 'tcp', address: target.address, port: target.port}
}

/** One key per unique (kind, address, port): routes sharing a probe share its timer and its state. */
export function probeKey(probe: Probe): string {
  return `${probe.kind}://${hostPort(probe.address, probe.port)}`
}

/** A node target together with the probe that decides its health. */
export interface ProbedTarget extends Target {
  /**
   * Absent for the common case, a TCP connect to the target itself (see probeOf): a large cluster has hundreds of
   * thousands of targets, and most of them then need no object of their own.
   */
  probe?: Probe
  /**
   * `api-server`: a local tunnel gateway (src/proxy/tunnels.ts) that carries each connection to an endpoint Pod
   * over pods/portforward; it is not probed (the gateway tries the Pods itself) and `node` reads `api-server`.
   */
  via?: 'api-server'
  /** Used only when no other target of the list is healthy: a node path's way through the API server. */
  fallback?: boolean
}

/** One Service port the API server carries: the gateway serve keeps for it and the Pods it spreads streams over. */
export interface TunnelRoute {
  /** `namespace/name:port/TCP` (`cluster/namespace/name:port/TCP` with several clusters): one gateway per key. */
  key: string
  /** `namespace/name`, for logs. */
  service: string
  /** The cluster's label when several are served: its API server carries the streams. */
  cluster?: string
  namespace: string
  endpoints: PodEndpoint[]
  /** `http`: a stream no Pod took is answered with a 502 saying why, rather than a bare close. */
  mode: PortMode
}

/** A Service as the HTTP router sees it: the Host names it answers and the targets of its HTTP port. */
export interface HttpRoute {
  /** `namespace/name`, for logs and error pages. */
  service: string
  /** Host names (lowercase, no port, no trailing dot) routed here. */
  hosts: string[]
  targets: ProbedTarget[]
}

/** A listener on a per-service address: every connection or datagram goes to the targets, on `port`'s own number. */
export interface ForwardListener {
  /** `namespace/name`, for logs. */
  service: string
  address: string
  port: number
  protocol: 'TCP' | 'UDP'
  mode: PortMode
  targets: ProbedTarget[]
  /**
   * A port in `http` mode: the Host values a request may carry here (lowercase, no port): the Service's names, the
   * other hosts serve routes to it, its `.localhost` forms and `address`. The listener answers others with 421
   * unless serve runs with --no-host-check (src/proxy/listeners.ts). Absent on other ports.
   */
  hosts?: string[]
}

/**
 * A Service as the SNI listener (--https-port) sees it: the server names it answers and the targets of its TLS port.
 * Connections are passed through without being decrypted (src/proxy/sni.ts).
 */
export interface TlsRoute {
  /** `namespace/name`, for logs. */
  service: string
  /** Server names (lowercase, no trailing dot); `*.` followed by a domain covers one label. */
  hosts: string[]
  targets: ProbedTarget[]
}

/** What serve applies after each change. */
export interface ServeMap {
  dns: DnsRecords
  http: HttpRoute[]
  listeners: ForwardListener[]
  /** Routes of the SNI listener; absent when nothing has a TLS port. */
  tls?: TlsRoute[]
}

/** One line of serve's table: where a Service port can be reached from this workstation. */
export interface ServeRow {
  service: string
  name: string
  /** `address:port`, or undefined when the port is not reachable through serve. */
  endpoint?: string
  mode: string
  targets: ProbedTarget[]
  /** Why the port is not mapped, or how it is reached (`load balancer`). */
  note?: string
  /** The path taken, when the plan chose paths (PlanOptions.paths). */
  path?: PortPath
  /** For an Ingress or route host's row (`name` is the host): where it comes from, e.g. `Ingress media/radarr`. */
  source?: string
}
