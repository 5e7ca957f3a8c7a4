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
  return assignment(keys, range).result
}

/**
 * An assignment with what updateAssignment needs to change it: the key in each slot, and the slots a key went past
 * (taken when it looked, so it went on to the next).
 */
export interface Assignment {
  keys: string[]
  range: AddressRange
  result: Map<string, string>
  slots: Map<number, string>
  passed: Set<number>
  /** Every key has an address (the range did not run out). */
  complete: boolean
}

/** assignAddresses, keeping what updateAssignment needs. */
export function assignment(keys: string[], range: AddressRange): Assignment {
  const usable = range.size - 2
  const slots = new Map<number, string>()
  const passed = new Set<number>()
  const result = new Map<string, string>()
  const unique = [...new Set(keys)].sort()
  for (const key of unique) {
    if (slots.size >= usable) break
    let slot = fnv1a(key) % usable
    while (slots.has(slot)) {
      passed.add(slot)
      slot = (slot + 1) % usable
    }
    slots.set(slot, key)
    result.set(key, numberToIp(range.base + 1 + slot))
  }
  return {keys, range, result, slots, passed, complete: result.size === keys.length}
}

/** Keys that came and went, together, above which updateAssignment does not try. */
const UPDATE_LIMIT = 256

/**
 * Changes `last` in place to the assignment of `keys` (in the same range), when that is what assignAddresses gives
 * for them; returns false, `last` untouched, when it cannot tell, and the caller assigns afresh. Keys are placed in
 * sorted order, each in the first free slot from its hash, so:
 * - a key that came takes its hash's slot when that is free: no key took it nor went past it (one that reached it
 *   would have stopped there), so no other key's place depends on it;
 * - a key that went frees its slot when no key went past that slot: no other key's place depended on it.
 * Anything else (a collision, a key in the list twice, the range full, keys found out of order) is left to the
 * caller. Both key lists are in map order, where the keys that stay keep their order.
 */
export function updateAssignment(last: Assignment, keys: string[]): boolean {
  if (!last.complete) return false
  const came: string[] = []
  const went: string[] = []
  let i = 0
  for (const key of keys) {
    if (i < last.keys.length && last.keys[i] === key) {
      i++
      continue
    }
    if (last.result.has(key)) {
      // A key that stays, out of step with the last list: what lies between went, or the order changed.
      while (i < last.keys.length && last.keys[i] !== key) went.push(last.keys[i++]!)
      if (i === last.keys.length) return false
      i++
    } else {
      came.push(key)
    }
    if (came.length + went.length > UPDATE_LIMIT) return false
  }
  while (i < last.keys.length) went.push(last.keys[i++]!)
  if (came.length + went.length > UPDATE_LIMIT) return false
  const usable = last.range.size - 2
  if (last.slots.size - went.length + came.length > usable) return false
  const freed: number[] = []
  for (const key of went) {
    const address = last.result.get(key)
    const slot = address === undefined ? -1 : ipToNumber(address)! - last.range.base - 1
    if (last.slots.get(slot) !== key || last.passed.has(slot)) return false
    freed.push(slot)
  }
  const homes = new Set<number>()
  for (const key of came) {
    const home = fnv1a(key) % usable
    if ((last.slots.has(home) && !freed.includes(home)) || homes.has(home)) return false
    homes.add(home)
  }
  // A freed slot taken again by a key that came: the key that went had not been passed, and the new one stops there.
  for (const [n, key] of went.entries()) {
    last.slots.delete(freed[n]!)
    last.result.delete(key)
  }
  for (const key of came) {
    const home = fnv1a(key) % usable
    last.slots.set(home, key)
    last.result.set(key, numberToIp(last.range.base + 1 + home))
  }
  last.keys = keys
  return true
}
