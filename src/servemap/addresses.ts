// Per-service loopback addresses, so every Service keeps its own port numbers (MQTT on 1883, DNS on 53). Pure.

/** A block of IPv4 loopback addresses given as a CIDR, e.g. 127.77.0.0/16. */
export interface AddressRange {
  /** First address of the block as a 32-bit number. */
  base: number
  size: number
}

const LOOPBACK_BASE = 127 << 24 // 127.0.0.0/8 answers on Linux and Windows without set-up

function ipToNumber(ip: string): number | undefined {
  const parts = ip.split('.')
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined
  return parts.reduce((n, p) => n * 256 + Number(p), 0)
}

/** Dotted IPv4 text of a 32-bit number. */
export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/**
 * Parses --ip-range: a CIDR inside 127.0.0.0/8 with at least 4 addresses, or `none` (macOS, where only
 * 127.0.0.1 answers). Returns an error message for anything else.
 */
export function parseIpRange(text: string): AddressRange | undefined | {error: string} {
  if (text === 'none') return undefined
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim())
  const ip = match ? ipToNumber(match[1]!) : undefined
  const bits = match ? Number(match[2]) : NaN
  if (ip === undefined || !(bits >= 8 && bits <= 30)) {
    return {error: `--ip-range "${text}" is not a CIDR like 127.77.0.0/16 (prefix 8 to 30), or none`}
  }
  const size = 2 ** (32 - bits)
  const base = ip - (ip % size)
  if (Math.floor(base / 2 ** 24) !== LOOPBACK_BASE / 2 ** 24) {
    return {error: `--ip-range "${text}" is not inside 127.0.0.0/8; per-service addresses must be loopback addresses`}
  }
  return {base, size}
}

/** The range as a CIDR, as --ip-range takes it. */
export function rangeText(range: AddressRange): string {
  return `${numberToIp(range.base)}/${32 - Math.log2(range.size)}`
}

/** FNV-1a, 32 bit: a stable spread of names over the range, the same on every run and machine. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

/**
 * One address per key (`namespace/name`), derived from a hash of the key so it survives restarts. The first and
 * last address of the range are left out. Collisions go to the next free address; keys are placed in sorted
 * order, so the outcome does not depend on the order they arrive in. Keys beyond the range's capacity get none.
 */
export function assignAddresses(keys: string[], range: AddressRange): Map<string, string> {
  const usable = range.size - 2
  const taken = new Set<number>()
  const result = new Map<string, string>()
  for (const key of [...new Set(keys)].sort()) {
    if (taken.size >= usable) break
    let slot = fnv1a(key) % usable
    while (taken.has(slot)) slot = (slot + 1) % usable
    taken.add(slot)
    result.set(key, numberToIp(range.base + 1 + slot))
  }
  return result
}
