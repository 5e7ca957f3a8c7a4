/**
 * A suggested block of addresses for an in-cluster load balancer to hand out (MetalLB, Cilium LB-IPAM, kube-vip).
 * Pure and a guess: the API shows node addresses but not the netmask, the gateway or the DHCP pool, so the block
 * sits near the top of the nodes' /24, skips every address the cluster is known to use, and the user must check it.
 */
import type {Node, Service} from '../plan/types.js'

/**
 * The block, as last octets of the nodes' /24: near the top, where home routers rarely start DHCP pools, and below
 * .251–.254, which routers and access points often take for themselves.
 */
export const BLOCK_FIRST = 240
export const BLOCK_LAST = 250

/** An inclusive run of IPv4 addresses. */
export interface AddressRange {
  start: string
  end: string
}

export type RangeSuggestion =
  | {
      ok: true
      /** The /24 the block is in, e.g. `192.168.1.0/24`. */
      subnet: string
      /** The block minus taken addresses, as contiguous runs in ascending order. */
      ranges: AddressRange[]
      /** Facts the user should know about how the block was chosen. */
      notes: string[]
    }
  | {ok: false; reason: string}

/** Suggests a block in the most common /24 of the nodes' IPv4 InternalIPs, skipping addresses already in use. */
export function suggestRange(input: {nodes: Node[]; services?: Service[]}): RangeSuggestion {
  const nodes = input.nodes.filter((node) => !node.deleting)
  if (nodes.length === 0) return {ok: false, reason: 'no nodes could be seen, so their subnet is unknown'}
  const networks = countNetworks(nodes)
  const [best, ...others] = networks
  if (best === undefined) {
    return {
      ok: false,
      reason:
        'no node has an IPv4 InternalIP (IPv6-only, or addresses not reported), so no IPv4 range can be suggested',
    }
  }

  const taken = takenAddresses(input.nodes, input.services ?? [])
  const free: number[] = []
  for (let last = BLOCK_FIRST; last <= BLOCK_LAST; last++) {
    if (!taken.has(`${best.prefix}.${last}`)) free.push(last)
  }
  const subnet = `${best.prefix}.0/24`
  if (free.length === 0) {
    return {
      ok: false,
      reason: `every address from .${BLOCK_FIRST} to .${BLOCK_LAST} of ${subnet} is used by a node or a Service`,
    }
  }

  const notes: string[] = []
  const skipped = BLOCK_LAST - BLOCK_FIRST + 1 - free.length
  if (skipped > 0) {
    notes.push(`${plural(skipped, 'address')} of .${BLOCK_FIRST}–.${BLOCK_LAST} already in use left out`)
  }
  const missing = nodes.length - networks.reduce((sum, n) => sum + n.nodes, 0)
  if (others.length > 0) {
    const all = networks.map((n) => `${n.prefix}.0/24: ${plural(n.nodes, 'node')}`).join(', ')
    notes.push(`the nodes are in several /24 networks (${all}): the block is in ${subnet}, the most common`)
  }
  if (missing > 0) notes.push(`${plural(missing, 'node')} without an IPv4 InternalIP left out`)
  return {ok: true, subnet, ranges: toRuns(best.prefix, free), notes}
}

/** `a-b` per run, joined by `separator`: the range syntax MetalLB, MicroK8s and kube-vip accept. */
export function formatRanges(ranges: AddressRange[], separator = ','): string {
  return ranges.map((r) => `${r.start}-${r.end}`).join(separator)
}

interface Network {
  /** The first three octets, e.g. `192.168.1`. */
  prefix: string
  nodes: number
}

/** Nodes per /24 of their first IPv4 InternalIP (the one kubelet reports first), most nodes first, ties by order. */
function countNetworks(nodes: Node[]): Network[] {
  const counts = new Map<string, number>()
  for (const node of nodes) {
    const octets = node.addresses
      .filter((a) => a.type === 'InternalIP')
      .map((a) => parseIPv4(a.address))
      .find((parsed) => parsed !== undefined)
    if (octets === undefined) continue
    const prefix = octets.slice(0, 3).join('.')
    counts.set(prefix, (counts.get(prefix) ?? 0) + 1)
  }
  // Array.prototype.sort is stable, so equal counts keep the order of first appearance.
  return [...counts].map(([prefix, n]) => ({prefix, nodes: n})).sort((a, b) => b.nodes - a.nodes)
}

/** Every IPv4 address the cluster shows as in use: node addresses of any type, Service external and LB IPs. */
function takenAddresses(nodes: Node[], services: Service[]): Set<string> {
  const ips = [
    ...nodes.flatMap((node) => node.addresses.map((a) => a.address)),
    ...services.flatMap((svc) => [
      ...svc.externalIPs,
      ...svc.loadBalancerIngress.flatMap((ingress) => (ingress.ip === undefined ? [] : [ingress.ip])),
    ]),
  ]
  return new Set(ips.flatMap((ip) => parseIPv4(ip)?.join('.') ?? []))
}

/** The four octets of a dotted-quad IPv4 address, or undefined for anything else (IPv6, hostnames). */
export function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.')
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return undefined
  const octets = parts.map(Number)
  return octets.every((o) => o <= 255) ? octets : undefined
}

function toRuns(prefix: string, lastOctets: number[]): AddressRange[] {
  const runs: Array<[number, number]> = []
  for (const last of lastOctets) {
    const run = runs.at(-1)
    if (run !== undefined && run[1] === last - 1) run[1] = last
    else runs.push([last, last])
  }
  return runs.map(([first, last]) => ({start: `${prefix}.${first}`, end: `${prefix}.${last}`}))
}

function plural(n: number, word: string): string {
  return `${n} ${n === 1 ? word : word === 'address' ? 'addresses' : `${word}s`}`
}
