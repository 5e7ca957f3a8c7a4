// Lists serve keeps as long as its map holds them, without spare room. An array that grew by push (filter and
// flatMap grow theirs so too) has room for 17 items from its first one: V8's growth rule (n + n/2 + 16,
// JSObject::NewElementsCapacity), 128 bytes more than a one-item list needs. At 10,000 Services serve held about
// 160,000 such lists of one to four items, 20 MB of its heap (a heap snapshot of test/bench/scale-bench.ts's serve);
// slice() copies a list into an array of its own length.

/** The items of `list` in a new array with no spare room (see above). */
export function fitted<T>(list: T[]): T[] {
  return list.slice()
}
