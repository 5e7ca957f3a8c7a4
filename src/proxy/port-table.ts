// A map from small whole numbers (ports, or a port with a kind bit) to small whole numbers (a count, a packed
// health state), kept in two Int32Arrays rather than a Map. The health monitor and serve's probe set each keep one
// per node address, and at 2,500 NodePort Services on 100 nodes they hold 250,000 entries each: as Maps that was
// 11.5 MB apiece (a heap snapshot of serve at that scale, test/bench/scale-bench.ts), as these tables about 3.
// V8's Map stores each entry as three tagged words plus a share of its bucket array, and doubles its capacity
// (v8/src/objects/ordered-hash-table.h); here an entry is two 4-byte slots at a load of at most 3/4.
//
// Open addressing with linear probing; a delete shifts the entries after it back (no tombstones), so a table that
// shrinks and grows again stays as fast as a fresh one.

const EMPTY = -1
const MIN_CAPACITY = 8
/** Multiplier of Fibonacci hashing (2^32 / golden ratio): spreads consecutive ports over the table. */
const GOLDEN = 0x9e3779b1

/** Whole numbers from 0 to 2^31 - 1 → 32-bit whole numbers; iteration order is stable while the size is. */
export class PortTable {
  private keys: Int32Array
  private values: Int32Array
  private shift: number
  private count = 0

  constructor() {
    this.keys = new Int32Array(MIN_CAPACITY).fill(EMPTY)
    this.values = new Int32Array(MIN_CAPACITY)
    this.shift = 32 - Math.log2(MIN_CAPACITY)
  }

  get size(): number {
    return this.count
  }

  has(key: number): boolean {
    return this.slotOf(key) >= 0
  }

  get(key: number): number | undefined {
    const slot = this.slotOf(key)
    return slot < 0 ? undefined : this.values[slot]
  }

  set(key: number, value: number): this {
    if (!Number.isInteger(key) || key < 0 || key > 0x7fffffff) throw new RangeError(`not a table key: ${key}`)
    const slot = this.slotOf(key)
    if (slot >= 0) {
      this.values[slot] = value
      return this
    }
    if ((this.count + 1) * 4 > this.keys.length * 3) this.resize(this.keys.length * 2)
    this.insert(key, value)
    this.count++
    return this
  }

  delete(key: number): boolean {
    let slot = this.slotOf(key)
    if (slot < 0) return false
    const {keys, values} = this
    const mask = keys.length - 1
    // Backward shift: move each later entry of the run into the hole when its home slot does not lie after it.
    for (let next = (slot + 1) & mask; keys[next] !== EMPTY; next = (next + 1) & mask) {
      const home = this.home(keys[next]!)
      const between = slot <= next ? home > slot && home <= next : home > slot || home <= next
      if (between) continue
      keys[slot] = keys[next]!
      values[slot] = values[next]!
      slot = next
    }
    keys[slot] = EMPTY
    this.count--
    if (this.keys.length > MIN_CAPACITY && this.count * 8 < this.keys.length) this.resize(this.keys.length / 2)
    return true
  }

  /** The keys, in table order (a new array: the table may change while the caller goes through it). */
  portList(): number[] {
    const list: number[] = []
    const {keys} = this
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) list.push(keys[i]!)
    return list
  }

  /**
   * Calls `visit` with each entry, in table order. Setting an existing key meanwhile is fine; entries added or
   * deleted during the walk may or may not be visited (the walk goes on over the table as it was).
   */
  forEach(visit: (value: number, key: number) => void): void {
    const {keys, values} = this
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      if (key !== EMPTY) visit(values[i]!, key)
    }
  }

  private home(key: number): number {
    return Math.imul(key, GOLDEN) >>> this.shift
  }

  /** The slot holding `key`, or -1. */
  private slotOf(key: number): number {
    const {keys} = this
    const mask = keys.length - 1
    for (let slot = this.home(key); ; slot = (slot + 1) & mask) {
      const at = keys[slot]!
      if (at === key) return slot
      if (at === EMPTY) return -1
    }
  }

  private insert(key: number, value: number): void {
    const {keys} = this
    const mask = keys.length - 1
    let slot = this.home(key)
    while (keys[slot] !== EMPTY) slot = (slot + 1) & mask
    keys[slot] = key
    this.values[slot] = value
  }

  private resize(capacity: number): void {
    const {keys, values} = this
    this.keys = new Int32Array(capacity).fill(EMPTY)
    this.values = new Int32Array(capacity)
    this.shift = 32 - Math.log2(capacity)
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) this.insert(keys[i]!, values[i]!)
  }
}
