// Reading API objects as plain JSON, defensively: a field of the wrong shape is treated as absent. Shared by the
// converters (convert.ts, convert-ingress.ts) and the pending diagnosis's reads (pending.ts).

export type Json = Record<string, unknown>

/** An object, or `{}` for anything else. */
export const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {})
/** An array, or `[]` for anything else. */
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
/** A non-empty string, or undefined. */
export const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
/** The non-empty strings of an array. */
export const strs = (v: unknown): string[] => arr(v).filter((x): x is string => typeof x === 'string' && x !== '')
/** A positive integer, or undefined. */
export const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined
/** The string values of an object (labels, annotations, ConfigMap data). */
export const strMap = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(obj(v)).filter((e): e is [string, string] => typeof e[1] === 'string'))
