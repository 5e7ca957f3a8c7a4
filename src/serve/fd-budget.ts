// How many sockets serve may open: each per-service listener and each tunnel gateway holds one file descriptor for
// as long as it is mapped, and the open-file limit (RLIMIT_NOFILE; Node raises the soft limit to the hard one at
// start, src/node.cc in nodejs/node) caps them all. With ten thousand Services the listeners alone can pass it
// (two per HTTP Service: its port and the router's), and every bind past it fails with EMFILE — and so would the
// health probes, the API watches and client connections after it. So serve keeps a reserve for those, and gives
// the per-service addresses that do not fit up: their Services answer the router's address instead (HTTP by name),
// as an address another program holds does (runtime.ts `unheld`).
import {readFileSync} from 'node:fs'
import type {ForwardListener} from '../servemap/types.js'

/** Descriptors kept free for what is not a listener: health probes, watches, DNS, client and upstream connections. */
export const FD_RESERVE = 2048

/** The soft open-file limit of this process, from /proc/self/limits (Linux); undefined where it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]
    return line === undefined || line === 'unlimited' ? undefined : Number(line)
  } catch {
    return undefined
  }
}

/**
 * The per-service addresses whose listeners do not fit under `limit` once `otherSockets` (tunnel gateways) and
 * FD_RESERVE are counted: addresses keep their listeners in map order (Services sorted by namespace and name) until
 * one does not fit; it and every later one are given up, so the set only moves at its end as Services come and go.
 * Pure.
 */
export function addressesOverBudget(
  listeners: readonly ForwardListener[],
  otherSockets: number,
  limit: number | undefined,
): Set<string> {
  const over = new Set<string>()
  if (limit === undefined) return over
  let room = limit - FD_RESERVE - otherSockets
  if (listeners.length <= room) return over
  const perAddress = new Map<string, number>()
  for (const l of listeners) perAddress.set(l.address, (perAddress.get(l.address) ?? 0) + 1)
  for (const [address, count] of perAddress) {
    if (over.size === 0 && count <= room) room -= count
    else over.add(address)
  }
  return over
}

/** Why an address was given up, for its rows (`not mapped: …`) and the warning. */
export function overBudgetReason(limit: number): string {
  return `the open-file limit (${limit}) has no room for its listeners; raise it (ulimit -n) and restart serve`
}
