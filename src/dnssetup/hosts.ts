// Which Ingress and route hosts dns-setup routes to serve's responder, besides --domain, and which it cannot. Pure.
// Each host gets a routing domain of its own (the host itself; a wildcard's domain below the `*.`), never its parent
// domain: serve answers only the names it knows and REFUSED for the rest (src/dns/answer.ts), so routing all of
// `home.example.com` would break the sibling names the user's real DNS knows.
import {getDomain} from 'tldts'
import {normalizeHostName} from '../plan/hosts.js'
import {zoneProblem} from '../plan/zone.js'
import type {PlannedHost} from '../plan/types.js'

/** A host dns-setup leaves alone, and why; the fix for all of them is the hosts file (or a resolver of one's own). */
export interface UnroutedHost {
  host: string
  why: string
}

export interface HostRouting {
  /**
   * Hosts to route, sorted, as hosts are stored: an exact name, or `*.` and the domain for a wildcard (whose routing
   * domain is the part after `*.`). None lies under --domain or under another one's routing domain.
   */
  routed: string[]
  /** Hosts that need no routing of their own: under --domain, or under another routed host's domain. */
  covered: string[]
  notRouted: UnroutedHost[]
}

/** The domain a routed host sends to serve: the host, or what follows a wildcard's `*.`. */
export function routingDomain(host: string): string {
  return host.startsWith('*.') ? host.slice(2) : host
}

/** `name` is `domain` or a name below it. */
export function isUnder(name: string, domain: string): boolean {
  return name === domain || name.endsWith(`.${domain}`)
}

/**
 * Why a host cannot be routed by name to a DNS server, or undefined when it can. Single-label names are resolved by
 * LLMNR or the search list, never sent to a unicast DNS server (systemd-resolved: ResolveUnicastSingleLabel=no by
 * default, resolved.conf(5)); `.local` names go to multicast DNS (RFC 6762 §3). A routing domain always takes the
 * names below it too (resolvectl domain, resolver(5)): so a registrable domain itself (`example.com`, an apex
 * Ingress host) is not routed, nor a wildcard over a public suffix (`*.co.uk`), which would capture others' names.
 */
export function unroutableReason(host: string): string | undefined {
  const domain = routingDomain(host)
  if (!host.startsWith('*.') && !domain.includes('.'))
    return 'a single-label name, which resolvers do not send to a DNS server'
  if (isUnder(domain, 'local')) return 'a .local name, which resolvers send to multicast DNS (RFC 6762)'
  if (host.startsWith('*.') && zoneProblem(domain))
    return `a wildcard over ${domain}, which would send names that belong to others to serve`
  if (!host.startsWith('*.') && getDomain(domain, {allowPrivateDomains: true}) === domain)
    return 'a registrable domain: routing it would send every name under it to serve, which refuses those it does not know'
  return undefined
}

/**
 * Splits the hosts serve answers (those with a receiving Service) into routed, covered and not routed. Hosts without a
 * Service are not routed: serve does not answer them, so sending them to it would only make them fail.
 */
export function planHostRouting(hosts: readonly Pick<PlannedHost, 'host' | 'service'>[], domain: string): HostRouting {
  const notRouted: UnroutedHost[] = []
  const candidates = new Set<string>()
  const covered = new Set<string>()
  for (const h of hosts) {
    const host = normalizeHostName(h.host)
    if (!host) continue
    if (!h.service) {
      notRouted.push({host, why: 'no Service receives it, so serve does not answer it'})
      continue
    }
    if (isUnder(routingDomain(host), domain)) {
      covered.add(host)
      continue
    }
    const why = unroutableReason(host)
    if (why) notRouted.push({host, why})
    else candidates.add(host)
  }
  // A host below a wildcard's domain is covered by it (radarr.apps.example.com by *.apps.example.com): every mechanism
  // routes a wildcard as a suffix. An exact host covers nothing (a Windows NRPT rule for a name is for that name only).
  const routed: string[] = []
  for (const host of candidates) {
    const domainOf = routingDomain(host)
    const parent = [...candidates].some(
      (other) => other.startsWith('*.') && routingDomain(other) !== domainOf && isUnder(domainOf, routingDomain(other)),
    )
    if (parent) covered.add(host)
    else routed.push(host)
  }
  const byName = (a: string, b: string) => a.localeCompare(b)
  const seen = new Set<string>()
  return {
    routed: routed.sort(byName),
    covered: [...covered].sort(byName),
    notRouted: notRouted.filter((n) => !seen.has(n.host) && seen.add(n.host)).sort((a, b) => byName(a.host, b.host)),
  }
}

/** Whether `host` is one planHostRouting may route for `domain` (a state file's hosts must all be). */
export function isRoutableHost(host: string, domain: string): boolean {
  return (
    normalizeHostName(host) === host && !isUnder(routingDomain(host), domain) && unroutableReason(host) === undefined
  )
}

/**
 * The hosts a re-run routes: those routed before and the new ones, sorted. A host routed before stays even when a new
 * wildcard covers it now: its step is recorded, and --undo must find it in the plan again.
 */
export function mergeRouted(before: readonly string[], now: readonly string[]): string[] {
  return [...new Set([...before, ...now])].sort((a, b) => a.localeCompare(b))
}
