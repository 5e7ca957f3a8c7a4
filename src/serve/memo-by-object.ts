// A function's results kept per argument object (a WeakMap), for serve's loop: see runtime.ts.
/** `fn` with its results kept per argument object, for as long as that object lives. */
export function memoByObject<K extends object, V>(fn: (key: K) => V): (key: K) => V {
  const kept = new WeakMap<K, {value: V}>()
  return (key) => {
    let entry = kept.get(key)
    if (!entry) kept.set(key, (entry = {value: fn(key)}))
    return entry.value
  }
}
