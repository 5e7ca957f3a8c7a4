// The HTTP router's table of host names → routes, kept in step with serve's map. A change to one Service swaps that
// Service's route only: serve's map memo (src/servemap/memo.ts) hands an unchanged Service's route object back on
// every change, so the routes that appeared and went are found by identity, and the table is patched for their
// names instead of being rebuilt for every name of every Service (about 35,000 at 10,000 Services).
import type {HttpRoute} from '../servemap/types.js'
import {normalizeHost} from './request-target.js'

/** What the table keeps: a Service's route by its host names (an HTTP route, or a TLS route of the SNI listener). */
export interface NamedRoute {
  service: string
  hosts: readonly string[]
}

/** A route in the table, with where its round-robin over targets starts next. */
export interface RouteEntry<R extends NamedRoute = HttpRoute> {
  route: R
  /** Round-robin start for `orderHealthy` (src/proxy/pick.ts). */
  counter: number
}

/** Host names (normalized, `*.` wildcards as they are) to routes: the first route in the list with a name wins. */
export class RouteTable<R extends NamedRoute = HttpRoute> {
  private entries = new Map<string, RouteEntry<R>>()
  /** The list of the last `set`. */
  private routes: readonly R[] = []
  /**
   * How many more routes of that list than the one in `entries` have each name, for the names two or more have: a
   * name of one route only can be patched. A count for every name was a Map of 35,000 at 10,000 Services (1.8 MB).
   */
  private shared = new Map<string, number>()
  private wildcards = 0
  private readonly names = new WeakMap<R, readonly string[]>()

  /** The entry of a normalized name (or `*.` wildcard key). */
  get(name: string): RouteEntry<R> | undefined {
    return this.entries.get(name)
  }

  /** The entry of a normalized name: its own, or a wildcard's (`*.` and the rest) covering its first label. */
  lookup(name: string): RouteEntry<R> | undefined {
    const entry = this.entries.get(name)
    if (entry || this.wildcards === 0) return entry
    const dot = name.indexOf('.')
    return dot < 0 ? undefined : this.entries.get(`*${name.slice(dot)}`)
  }

  /** Whether any name is a wildcard, so a lookup of an unknown name needs a second get. */
  get hasWildcards(): boolean {
    return this.wildcards > 0
  }

  /** Every name in the table. */
  keys(): IterableIterator<string> {
    return this.entries.keys()
  }

  /**
   * Makes the table the one `routes` gives, as a rebuild would: the first route with a name has it. Only the names
   * of routes that appeared or went are touched, unless one of those names is (or was) another route's too; then,
   * or when a route object is in the list twice, the table is built afresh. A Service's new route takes the
   * round-robin position of the route it had.
   */
  set(routes: readonly R[]): void {
    if (!this.patch(routes)) this.rebuild(routes)
    this.routes = routes
  }

  /**
   * The route's hosts normalized, each name once, found once per route object: its own list when that is so already
   * (serve's routes, 8,000 at 10,000 Services, keep no copy).
   */
  private namesOf(route: R): readonly string[] {
    let names = this.names.get(route)
    if (!names) {
      const normalized = new Set<string>()
      for (const host of route.hosts) {
        const name = normalizeHost(host)
        if (name !== undefined) normalized.add(name)
      }
      const same = normalized.size === route.hosts.length && route.hosts.every((host) => normalized.has(host))
      this.names.set(route, (names = same ? route.hosts : [...normalized]))
    }
    return names
  }

  private rebuild(routes: readonly R[]): void {
    const previous = new Map<string, number>()
    for (const entry of this.entries.values()) previous.set(entry.route.service, entry.counter)
    const entries = new Map<string, RouteEntry<R>>()
    const shared = new Map<string, number>()
    this.wildcards = 0
    for (const route of routes) {
      const entry: RouteEntry<R> = {route, counter: previous.get(route.service) ?? 0}
      for (const name of this.namesOf(route)) {
        if (entries.has(name)) {
          shared.set(name, (shared.get(name) ?? 0) + 1)
          continue
        }
        entries.set(name, entry)
        if (name.startsWith('*.')) this.wildcards++
      }
    }
    this.entries = entries
    this.shared = shared
  }

  /** How many routes of the last list have `name`. */
  private claims(name: string): number {
    return this.entries.has(name) ? 1 + (this.shared.get(name) ?? 0) : 0
  }

  /** Swaps the names of the routes that went for those of the routes that came; false when it cannot. */
  private patch(routes: readonly R[]): boolean {
    const was = new Set(this.routes)
    const is = new Set(routes)
    if (was.size !== this.routes.length || is.size !== routes.length) return false
    const gone = this.routes.filter((r) => !is.has(r))
    const came = routes.filter((r) => !was.has(r))
    // Each name touched must be one route's only, before and after: then list order cannot decide who has it.
    const delta = new Map<string, number>()
    for (const r of gone) for (const name of this.namesOf(r)) delta.set(name, (delta.get(name) ?? 0) - 1)
    for (const r of came) for (const name of this.namesOf(r)) delta.set(name, (delta.get(name) ?? 0) + 1)
    for (const [name, by] of delta) {
      const before = this.claims(name)
      if (before > 1 || before + by > 1) return false
    }
    const counters = new Map<string, number>()
    for (const r of gone) {
      for (const name of this.namesOf(r)) {
        const entry = this.entries.get(name)
        if (entry?.route !== r) continue
        counters.set(r.service, entry.counter)
        this.entries.delete(name)
        if (name.startsWith('*.')) this.wildcards--
      }
    }
    for (const r of came) {
      const entry: RouteEntry<R> = {route: r, counter: counters.get(r.service) ?? 0}
      for (const name of this.namesOf(r)) {
        this.entries.set(name, entry)
        if (name.startsWith('*.')) this.wildcards++
      }
    }
    // The names touched had one route at most, before and after: none is in `shared`.
    return true
  }
}
