// Label and field selectors, as the API server parses them from `labelSelector` / `fieldSelector`.
// Grammar: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
import type {KubeObject} from './kinds.js'

/** A selector string the server refuses; the caller turns it into a 400 BadRequest. */
export class SelectorError extends Error {
  override readonly name = 'SelectorError'
}

/** A compiled selector: true when the object matches. */
export type Matcher = (obj: KubeObject) => boolean

const KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`
const VALUE = String.raw`[-A-Za-z0-9_.]*`
const EQUALITY = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`)
const SET = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^()]*)\\)$`)
const EXISTS = new RegExp(`^(!?)\\s*(${KEY})$`)

/** Splits on commas outside parentheses: `a in (x,y),b` is two requirements. */
function splitRequirements(selector: string): string[] {
  const parts: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i]
    if (c === '(') depth++
    else if (c === ')') depth--
    else if (c === ',' && depth === 0) {
      parts.push(selector.slice(start, i))
      start = i + 1
    }
  }
  parts.push(selector.slice(start))
  return parts.map((p) => p.trim())
}

function labelRequirement(text: string): (labels: Record<string, string>) => boolean {
  let m = EQUALITY.exec(text)
  if (m) {
    const [, key, op, value] = m as unknown as [string, string, string, string]
    // `!=` also matches objects without the label, as on a real server.
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value
  }
  m = SET.exec(text)
  if (m) {
    const [, key, op, list] = m as unknown as [string, string, string, string]
    const values = new Set(list.split(',').map((v) => v.trim()))
    return op === 'in' ? (l) => key in l && values.has(l[key]!) : (l) => !(key in l && values.has(l[key]!))
  }
  m = EXISTS.exec(text)
  if (m) {
    const [, not, key] = m as unknown as [string, string, string]
    return not ? (l) => !(key in l) : (l) => key in l
  }
  throw new SelectorError(
    `unable to parse requirement: found '${text}', expected: key, !key, key=value, key!=value, key in (…), key notin (…)`,
  )
}

/** Compiles a label selector; comma means AND, an empty selector matches everything. */
export function parseLabelSelector(selector: string): Matcher {
  if (selector.trim() === '') return () => true
  const requirements = splitRequirements(selector).map(labelRequirement)
  return (obj) => {
    const labels = obj.metadata.labels ?? {}
    return requirements.every((r) => r(labels))
  }
}

// Fields every resource supports; other field labels differ per resource on a real server.
const FIELDS: Record<string, (obj: KubeObject) => string> = {
  'metadata.name': (obj) => obj.metadata.name,
  'metadata.namespace': (obj) => obj.metadata.namespace ?? '',
}

/**
 * Compiles a field selector (`metadata.name=x,metadata.namespace!=y`); unsupported fields are a SelectorError.
 * `extra` adds the field labels one resource supports beyond the metadata ones (Events: involvedObject.*).
 */
export function parseFieldSelector(selector: string, extra: Record<string, (obj: KubeObject) => string> = {}): Matcher {
  if (selector.trim() === '') return () => true
  const requirements = splitRequirements(selector).map((text) => {
    const m = /^([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*)$/.exec(text)
    if (!m) throw new SelectorError(`invalid selector: '${text}'; can't understand '${text}'`)
    const [, field, op, value] = m as unknown as [string, string, string, string]
    const read = FIELDS[field] ?? extra[field]
    if (!read) throw new SelectorError(`field label not supported: ${field}`)
    return (obj: KubeObject) => (read(obj) === value) === (op !== '!=')
  })
  return (obj) => requirements.every((r) => r(obj))
}
