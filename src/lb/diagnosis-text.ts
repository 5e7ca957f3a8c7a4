/**
 * Helpers the modules' diagnoses share: quoting events, finding a module's own events, a controller that is not
 * running, and IPv4 pool membership. Pure.
 */
import type {Workload} from '../plan/types.js'
import {describe} from './evidence.js'
import type {ClusterEvent, DiagnosisContext, Pending} from './types.js'

/** An event as evidence: type, reason, who reported it, and its message exactly as the cluster has it. */
export function eventLine(e: ClusterEvent): string {
  const kind =
    e.regarding.kind === 'Service' ? '' : `${e.regarding.kind} ${e.regarding.namespace}/${e.regarding.name}: `
  const times = e.count > 1 ? ` (x${e.count})` : ''
  return `${kind}${e.type} ${e.reason}${times} from ${e.source}: ${e.message}`
}

/** The newest Warning event on the Service whose reporter passes `from` (all when undefined). */
export function latestWarning(ctx: DiagnosisContext, from?: (source: string) => boolean): ClusterEvent | undefined {
  return ctx.events.filter((e) => e.type === 'Warning' && (from === undefined || from(e.source))).at(-1)
}

/**
 * controller-not-running when every one of `controllers` reports pods and none is ready; undefined otherwise
 * (also when no controller was seen, or readiness is unknown).
 */
export function controllerDown(controllers: Workload[], display: string, namespaceHint: string): Pending | undefined {
  const counted = controllers.filter((w) => w.pods !== undefined)
  if (counted.length === 0 || counted.some((w) => (w.pods?.ready ?? 0) > 0)) return undefined
  const names = counted.map(describe)
  return {
    reason: 'controller-not-running',
    message: `${display} is installed but its controller has no ready pod (${names.join(', ')}), so nothing hands out addresses`,
    fix: `find out why its pods are not ready: \`kubectl -n ${counted[0]?.namespace ?? namespaceHint} get pods\` and \`kubectl describe\` the failing one`,
    evidence: counted.map((w) => `${describe(w)}: ${w.pods?.ready ?? 0}/${w.pods?.desired ?? 0} pods ready`),
  }
}

/** An IPv4 address as a number, or undefined. */
export function ipv4(text: string): number | undefined {
  const parts = text.trim().split('.')
  if (parts.length !== 4) return undefined
  let n = 0
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined
    n = n * 256 + Number(part)
  }
  return n
}

/**
 * Whether `ip` lies in a pool entry written as MetalLB and Cilium accept them: `a.b.c.d/n` or `a.b.c.d-e.f.g.h`.
 * Undefined when either is not IPv4 (the caller then cannot tell).
 */
export function inAddressBlock(ip: string, block: string): boolean | undefined {
  const address = ipv4(ip)
  if (address === undefined) return undefined
  const dash = block.indexOf('-')
  if (dash !== -1) {
    const start = ipv4(block.slice(0, dash))
    const end = ipv4(block.slice(dash + 1))
    if (start === undefined || end === undefined) return undefined
    return address >= start && address <= end
  }
  const [base = '', bits = '32'] = block.split('/')
  const network = ipv4(base)
  const prefix = Number(bits)
  if (network === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined
  const size = 2 ** (32 - prefix)
  const start = Math.floor(network / size) * size
  return address >= start && address < start + size
}
