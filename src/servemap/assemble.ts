// The DNS maps of a serve map (names → addresses, SRV owners → records), patched from the last call's for the
// Services whose parts came and went, instead of assembled anew from 10,000 parts on every change (a Map of some
// 20,000 names and one of 10,000 SRV owners, about 10 ms and several MB per change at test/bench/scale-bench.ts's
// scale). Pure apart from the maps it is handed to patch. The patched maps hold the same entries as a whole assembly;
// only the order differs (the entries of changed Services come last), which no reader depends on: DNS looks names up,
// the hosts file and the dashboard sort them (src/serve/hosts-block.ts, src/dashboard/state.ts).
import {changesInOrder} from '../plan/changes-in-order.js'
import type {AssembledDns, ServicePart} from './memo.js'
import type {SrvRecord} from './types.js'

/** Parts that came and went, together, above which the maps are assembled whole. */
const PATCH_LIMIT = 256

/**
 * The parts of `before` that are not in `after` (went) and those of `after` not in `before` (came), or undefined
 * when that is not found in one walk: more than PATCH_LIMIT of them, or a part of `after` that is neither `built`
 * in this call nor matched in order. Both lists are in map order and a part is in a list once, so an `after` part
 * found in `before` only out of order is never matched, and the walk gives up rather than guess.
 */
export function partChanges(
  before: readonly ServicePart[],
  after: readonly ServicePart[],
  built: ReadonlySet<ServicePart>,
): {went: ServicePart[]; came: ServicePart[]} | undefined {
  return changesInOrder(before, after, (part) => built.has(part), PATCH_LIMIT)
}

/**
 * Patches `assembled`'s maps in place: the names and SRV owners of the parts that went out, those of the parts that
 * came in. Returns false, with the maps untouched, when that would not give what a whole assembly gives: a name of a
 * part that went holds another part's answer, or a name that came is held by a part that stays (two parts sharing
 * a name: the whole assembly lets the later one in map order win).
 */
export function patchAssembled(assembled: AssembledDns, went: ServicePart[], came: ServicePart[]): boolean {
  const hosts = patchable(assembled.hosts, went.map(hostEntries), came.map(hostEntries))
  const srv =
    hosts &&
    patchable(
      assembled.srv,
      went.map((p) => p.srv),
      came.map((p) => p.srv),
    )
  if (!hosts || !srv) return false
  apply(assembled.hosts, hosts)
  apply(assembled.srv, srv)
  return true
}

type Entries<T> = Array<Array<[string, T]>>

/** A part's names, each with its answer (made only for the parts a patch moves). */
function hostEntries(part: ServicePart): Array<[string, string[]]> {
  const {answer} = part
  return answer ? part.names.map((name) => [name, answer]) : []
}

/** The names that leave and the entries that come, when the patch is exact (see patchAssembled). */
function patchable<T>(
  map: Map<string, T>,
  went: Entries<T>,
  came: Entries<T>,
): {leaving: Set<string>; came: Entries<T>} | undefined {
  const leaving = new Set<string>()
  for (const entries of went) {
    for (const [name, value] of entries) {
      if (map.get(name) !== value || leaving.has(name)) return undefined
      leaving.add(name)
    }
  }
  const coming = new Set<string>()
  for (const entries of came) {
    for (const [name] of entries) {
      if (coming.has(name) || (map.has(name) && !leaving.has(name))) return undefined
      coming.add(name)
    }
  }
  return {leaving, came}
}

function apply<T>(map: Map<string, T>, patch: {leaving: Set<string>; came: Entries<T>}): void {
  for (const name of patch.leaving) map.delete(name)
  for (const entries of patch.came) for (const [name, value] of entries) map.set(name, value)
}

/**
 * The DNS maps assembled whole: serve's own names, then every part's in map order (a later part's entry replaces an
 * earlier one's). `exact` tells whether no name was set twice, so that patchAssembled can keep the maps next time.
 */
export function assembleDns(
  parts: readonly ServicePart[],
  reservedNames: readonly string[],
  reserved: string[],
): {hosts: Map<string, string[]>; srv: Map<string, SrvRecord[]>; exact: boolean} {
  const hosts = new Map<string, string[]>()
  const srv = new Map<string, SrvRecord[]>()
  let hostSets = 0
  let srvSets = 0
  for (const name of reservedNames) {
    hosts.set(name, reserved)
    hostSets++
  }
  for (const part of parts) {
    if (part.answer) {
      for (const name of part.names) hosts.set(name, part.answer)
      hostSets += part.names.length
    }
    for (const [owner, records] of part.srv) srv.set(owner, records)
    srvSets += part.srv.length
  }
  return {hosts, srv, exact: hosts.size === hostSets && srv.size === srvSets}
}
