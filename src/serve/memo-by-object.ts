// A function's results kept per argument object (a WeakMap), for serve's loop: see runtime.ts.
/**
 * `fn` with its results kept per argument object, for as long as that object lives. The results are kept as they
 * are, with no wrapper object each (10,000 rows at 10,000 Services): an undefined one is told apart by `has`.
 */
export function memoByObject<K extends object, V>(fn: (key: K) => V): (key: K) => V {
  const kept = new WeakMap<K, V>()
  return (key) => {
    let value = kept.get(key)
    if (value === undefined && !kept.has(key)) kept.set(key, (value = fn(key)))
    return value as V
  }
}
