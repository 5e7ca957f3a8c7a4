// Target choice for one request, connection or UDP session. Pure: no I/O, no clock, no randomness — the caller
// passes health in as a function and the rotation start from a per-route counter, so the order is table-testable.
import {hostPort} from '../net/address.js'
import type {ProbedTarget} from '../servemap/types.js'

/**
 * The order in which to try targets: healthy ones first, rotated by `start` (round-robin when `start` comes from a
 * per-route counter), then the unhealthy ones in their given order as a last try when every healthy one fails on
 * connect. "Unknown" health counts as healthy; that is the caller's `isHealthy`.
 *
 * Callers refuse at once when the first entry is unhealthy (no healthy target at all) instead of sending traffic to
 * nodes the health checks call down — cloud-provider-kind's Envoy does the same with `healthy_panic_threshold: 0`.
 *
 * Fallback targets (a node path's way through the API server) come after the healthy ones: they carry traffic
 * only when every other target is down, or failed on connect.
 */
export function orderTargets(
  targets: ProbedTarget[],
  isHealthy: (target: ProbedTarget) => boolean,
  start: number,
): ProbedTarget[] {
  const healthy: ProbedTarget[] = []
  const fallbacks: ProbedTarget[] = []
  const unhealthy: ProbedTarget[] = []
  for (const target of targets) {
    if (!isHealthy(target)) unhealthy.push(target)
    else (target.fallback ? fallbacks : healthy).push(target)
  }
  if (healthy.length === 0) return [...fallbacks, ...unhealthy]
  const offset = rotation(start, healthy.length)
  return [...healthy.slice(offset), ...healthy.slice(0, offset), ...fallbacks, ...unhealthy]
}

/** True when `ordered` (from `orderTargets`) holds a target worth trying: its first entry is healthy. */
export function hasHealthyTarget(ordered: ProbedTarget[], isHealthy: (target: ProbedTarget) => boolean): boolean {
  const first = ordered[0]
  return first !== undefined && isHealthy(first)
}

/** `orderTargets`, or undefined when no target is healthy (callers then refuse instead of trying). */
export function orderHealthy(
  targets: ProbedTarget[],
  isHealthy: (target: ProbedTarget) => boolean,
  start: number,
): ProbedTarget[] | undefined {
  const ordered = orderTargets(targets, isHealthy, start)
  return hasHealthyTarget(ordered, isHealthy) ? ordered : undefined
}

/** `node-a (127.0.10.1:30878)`: how targets are named in logs and error pages. */
export function formatTarget(target: {node: string; address: string; port: number}): string {
  return `${target.node} (${hostPort(target.address, target.port)})`
}

/** `node-a (127.0.10.1:30878), node-b (127.0.10.2:30878)`, or `no nodes` for an empty list. */
export function formatTargets(targets: Array<{node: string; address: string; port: number}>): string {
  return targets.length === 0 ? 'no nodes' : targets.map((t) => formatTarget(t)).join(', ')
}

/** The order in which a tunnel gateway tries endpoint Pods for one stream: all of them, rotated by `start`. */
export function orderEndpoints<T>(endpoints: readonly T[], start: number): T[] {
  if (endpoints.length === 0) return []
  const offset = rotation(start, endpoints.length)
  return [...endpoints.slice(offset), ...endpoints.slice(0, offset)]
}

function rotation(start: number, length: number): number {
  const whole = Number.isFinite(start) ? Math.trunc(start) : 0
  return ((whole % length) + length) % length
}
