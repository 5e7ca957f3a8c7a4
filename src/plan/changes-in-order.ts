// What came and went between two lists whose lasting items keep their order (a watch's list of Services from one call
// to the next; a serve map's Service parts), in one walk over both instead of a Set of each. Pure.

/**
 * The items of `before` not in `after` (went) and those of `after` not in `before` (came), in list order, or
 * undefined when one walk cannot tell: more than `limit` of them, or an item of `after` that is not `isNew` and not
 * met in order in `before`. The caller's `isNew` must be true exactly for the items `before` does not hold; an item
 * met out of order makes the walk give up rather than guess.
 */
export function changesInOrder<T>(
  before: readonly T[],
  after: readonly T[],
  isNew: (item: T) => boolean,
  limit: number,
): {went: T[]; came: T[]} | undefined {
  const went: T[] = []
  const came: T[] = []
  let i = 0
  for (const item of after) {
    if (i < before.length && before[i] === item) {
      i++
      continue
    }
    if (isNew(item)) came.push(item)
    else {
      while (i < before.length && before[i] !== item) went.push(before[i++]!)
      if (i === before.length) return undefined
      i++
    }
    if (went.length + came.length > limit) return undefined
  }
  while (i < before.length) went.push(before[i++]!)
  return went.length + came.length > limit ? undefined : {went, came}
}
