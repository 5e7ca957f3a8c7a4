// LAN mode: serve listening where other machines reach it (--listen 192.168.1.20, or 0.0.0.0 with --advertise).
// A loopback per-service address means nothing on another machine, and 0.0.0.0 is not an address at all, so DNS
// gives remote clients records in which each of those is replaced by the advertised address, where the Host router
// answers HTTP; load-balancer addresses from the cluster are kept. Local clients keep the loopback records. Pure.
import {isLoopback, isUnspecified} from '../net/address.js'
import type {DnsRecords} from './types.js'

/** The address local clients are given for the router: --listen, or loopback when it binds every address. */
export function routerAddressFor(listen: string): string {
  if (!isUnspecified(listen)) return listen
  return listen.includes(':') ? '::1' : '127.0.0.1'
}

const onlyHere = (address: string) => isLoopback(address) || isUnspecified(address)

/**
 * The records remote clients get: every loopback or unspecified address becomes `advertise`; an SRV record stays
 * only when its target is reachable from elsewhere as it is (per-service ports listen on loopback alone).
 */
export function remoteRecords(local: DnsRecords, advertise: string): DnsRecords {
  const hosts = new Map<string, string[]>()
  for (const [name, addresses] of local.hosts) {
    hosts.set(name, [...new Set(addresses.map((a) => (onlyHere(a) ? advertise : a)))])
  }
  const srv = new Map(
    [...local.srv].filter(([, records]) =>
      records.every((r) => (local.hosts.get(r.target) ?? []).every((a) => !onlyHere(a))),
    ),
  )
  return {domain: local.domain, hosts, srv}
}
