// How serve's many small objects are made, so that each takes no more memory than it holds. At 10,000 Services serve
// keeps hundreds of thousands of them (heap snapshots of test/bench/scale-bench.ts's serve).

// An array that grew by push (filter, flatMap and an array literal with a spread grow theirs so too) has room for 17
// items from its first one: V8's growth rule (n + n/2 + 16, JSObject::NewElementsCapacity), 128 bytes more than a
// one-item list needs. At 10,000 Services serve held about 160,000 such lists of one to four items, 20 MB of its heap;
// slice() copies a list into an array of its own length.

// An empty array still takes 32 bytes, and at 10,000 Services serve held about 140,000 of them (lists of problems,
// warnings, external IPs and the like that stay empty): 4.5 MB. Lists that stay empty share one.

/** The one empty list that lists which stay empty share. Frozen: a push into it throws instead of reaching the others. */
const NONE: readonly never[] = Object.freeze([])

/** The shared empty list (see above), for a list that is never added to. */
export function emptyList<T>(): T[] {
  return NONE as never[]
}

/** The items of `list` in a new array with no spare room, or the shared empty list when it has none (see above). */
export function fitted<T>(list: T[]): T[] {
  return list.length === 0 ? emptyList() : list.slice()
}

// An object literal that starts with a spread and goes on with more properties (`{...base, names}`) gets a hidden
// class of its own on Node 20: V8 11.3 makes a new map for each object its CloneObjectIC copies and then extends
// (checked with %HaveSameMap; V8 12, Node 22, shares them). A map and its descriptors take about 200 bytes, and
// property reads on such objects cannot be cached. At 10,000 Services serve held about 98,000 maps, 9.8 MB.
// Object.assign onto a new object adds the properties one by one along shared transitions; so does a literal that
// starts with a plain property (`{port, ...(name ? {name} : {})}`).

/** `{...base, ...changes}`, with the hidden classes shared on Node 20 too (see above). */
export function withChanges<T extends object, C extends object>(base: T, changes: C): Omit<T, keyof C> & C {
  return Object.assign({}, base, changes)
}
