// What came and went between two lists of objects that mostly hold the same objects in the same order (the rows and
// target lists of two serve maps: the map memo keeps an unchanged Service's objects, src/servemap/memo.ts), found in
// one walk over both instead of a Set of each (12,000 rows and 25,000 target lists at 10,000 Services, per change).

/** Objects that came and went, together, above which listChanges gives up. */
const LIMIT = 256

/**
 * The objects of `before` not in `after` (went) and those of `after` not in `before` (came), in list order, or
 * undefined when one walk does not find them exactly: more than LIMIT, or the objects that stay not in the same
 * order. The walk matches `after`'s objects to `before`'s in order, looking ahead as far as the limit leaves room
 * for; what it could not match is then checked against the other list, so a guess that was wrong gives undefined,
 * never a wrong answer.
 */
export function listChanges<T>(before: readonly T[], after: readonly T[]): {went: T[]; came: T[]} | undefined {
  const went: T[] = []
  const came: T[] = []
  let i = 0
  for (const item of after) {
    if (before[i] === item) {
      i++
      continue
    }
    // Found k ahead, the k objects before it went: look no further than the limit allows.
    const end = Math.min(before.length, i + 1 + LIMIT - went.length - came.length)
    let k = i + 1
    while (k < end && before[k] !== item) k++
    if (k < end) {
      while (i < k) went.push(before[i++]!)
      i++
    } else {
      came.push(item)
    }
    if (went.length + came.length > LIMIT) return undefined
  }
  while (i < before.length) went.push(before[i++]!)
  if (went.length + came.length > LIMIT) return undefined
  if (came.length > 0) {
    const coming = new Set(came)
    for (const item of before) if (coming.has(item)) return undefined
  }
  if (went.length > 0) {
    const going = new Set(went)
    for (const item of after) if (going.has(item)) return undefined
  }
  return {went, came}
}
