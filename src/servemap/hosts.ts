// Ingress and route hosts in the serve map: each answers DNS with the receiving Service's address, joins that
// Service's HTTP route by Host (the controller routes on the Host, so it goes unchanged) and its SNI route. Pure.
import {hostPort} from '../net/address.js'
import type {PlannedHost} from '../plan/types.js'
import type {HttpRoute, ServeRow, TlsRoute} from './types.js'

/** What a host needs of the Service that receives it, as buildServeMap placed that Service. */
export interface HostReceiver {
  /** Where DNS sends its names: the per-service address or the router, or the load balancer's own addresses. */
  addresses: string[]
  /** Its HTTP route on the router (absent without an HTTP port or for an lb-ready Service). */
  http?: HttpRoute
  /** Its route on the SNI listener (absent without a TLS port). */
  tls?: TlsRoute
  /** The Host values its per-service HTTP listeners accept (the DNS rebinding guard): the host joins them. */
  allowed: string[]
}

export interface HostContext {
  /** DNS names so far (generated names, the dashboard's): a host never replaces one. */
  dns: Map<string, string[]>
  /** By `namespace/name` (`cluster/namespace/name` with several clusters): every Service buildServeMap mapped. */
  receivers: Map<string, HostReceiver>
  rows: ServeRow[]
  warnings: string[]
  router: string
  httpPort: number
  httpsPort?: number
}

/**
 * Adds every host that has a mapped receiving Service. A host that is already a generated name (or the dashboard's)
 * loses, with a warning: those names are serve's own contract. Hosts without a Service were warned about by the plan.
 */
export function mapHosts(hosts: PlannedHost[], ctx: HostContext): void {
  for (const h of hosts) {
    if (!h.service) continue
    const id = `${h.cluster ? `${h.cluster}/` : ''}${h.service.namespace}/${h.service.name}`
    const source = `${h.source.kind} ${h.source.namespace}/${h.source.name}`
    const receiver = ctx.receivers.get(id)
    if (!receiver) {
      ctx.warnings.push(
        `host ${h.host} (${source}): Service ${id} is not reachable from outside the cluster; not mapped`,
      )
      continue
    }
    if (ctx.dns.has(h.host)) {
      ctx.warnings.push(`host ${h.host} (${source}) is also a name serve generates; the generated name keeps it`)
      continue
    }
    if (receiver.addresses.length > 0) ctx.dns.set(h.host, receiver.addresses)
    if (receiver.http) {
      receiver.http.hosts.push(h.host)
      receiver.allowed.push(h.host)
      ctx.rows.push({
        service: id,
        name: h.host,
        endpoint: hostPort(ctx.router, ctx.httpPort),
        mode: 'http',
        targets: receiver.http.targets,
        note: `(${source})`,
        source,
      })
    }
    if (receiver.tls) {
      receiver.tls.hosts.push(h.host)
      if (ctx.httpsPort !== undefined)
        ctx.rows.push({
          service: id,
          name: h.host,
          endpoint: hostPort(ctx.router, ctx.httpsPort),
          mode: 'tls',
          targets: receiver.tls.targets,
          note: `(${source})`,
          source,
        })
    } else if (h.tls && receiver.http) {
      ctx.warnings.push(`host ${h.host} (${source}) is served over TLS, but ${id} has no TLS port with targets`)
    }
  }
}
