// A small strict XML reader for the tests of the generated launchd property list and Task Scheduler XML: elements,
// attributes, character data with the five predefined entities and character references, comments, one XML
// declaration and one DOCTYPE. Anything else (an unknown entity, a stray `<` or `&`, `--` in a comment, a tag that
// does not close, two roots) throws, so a file that reads here is well-formed XML in these respects.
// Then `readPlist` turns a property list into JS values, as strictly as the DTD
// (http://www.apple.com/DTDs/PropertyList-1.0.dtd): dict entries are key/value pairs, keys are unique.

export interface XmlElement {
  name: string
  attributes: Record<string, string>
  children: Array<XmlElement | string>
}

const NAME = /^[A-Za-z_][\w.-]*/

function decode(text: string, at: number): string {
  return text.replace(/&([^;&<]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw new Error(`bare & in character data near offset ${at}`)
    const named: Record<string, string> = {amp: '&', lt: '<', gt: '>', quot: '"', apos: "'"}
    if (ref in named) return named[ref]!
    const num = /^#(x[0-9A-Fa-f]+|[0-9]+)$/.exec(ref)
    if (!num) throw new Error(`unknown entity &${ref}; near offset ${at}`)
    return String.fromCodePoint(num[1]!.startsWith('x') ? parseInt(num[1]!.slice(1), 16) : Number(num[1]))
  })
}

/** Parses a whole document; returns its root element. */
export function parseXml(text: string): XmlElement {
  let i = 0
  const stack: XmlElement[] = []
  let root: XmlElement | undefined
  let sawDeclaration = false
  let sawDoctype = false
  const fail = (what: string): never => {
    throw new Error(`${what} at offset ${i}`)
  }
  while (i < text.length) {
    if (text.startsWith('<?xml', i)) {
      if (i !== 0 || sawDeclaration) fail('XML declaration not at the start')
      const end = text.indexOf('?>', i)
      if (end < 0) fail('unterminated XML declaration')
      sawDeclaration = true
      i = end + 2
    } else if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4)
      if (end < 0) fail('unterminated comment')
      if (text.slice(i + 4, end).includes('--')) fail('"--" inside a comment')
      i = end + 3
    } else if (text.startsWith('<!DOCTYPE', i)) {
      if (sawDoctype || root || stack.length) fail('misplaced DOCTYPE')
      const end = text.indexOf('>', i)
      if (end < 0) fail('unterminated DOCTYPE')
      sawDoctype = true
      i = end + 1
    } else if (text.startsWith('</', i)) {
      const m = NAME.exec(text.slice(i + 2))
      const open = stack.pop()
      if (!m || !open || m[0] !== open.name) fail(`closing tag does not match <${open?.name}>`)
      i += 2 + m![0].length
      while (/\s/.test(text[i] ?? '')) i++
      if (text[i] !== '>') fail('malformed closing tag')
      i++
      if (stack.length === 0) root = open
    } else if (text[i] === '<') {
      const m = NAME.exec(text.slice(i + 1))
      if (!m) fail('malformed tag')
      if (root) fail('a second root element')
      const element: XmlElement = {name: m![0], attributes: {}, children: []}
      i += 1 + m![0].length
      for (;;) {
        const space = /^\s*/.exec(text.slice(i))![0].length
        i += space
        if (text.startsWith('/>', i) || text[i] === '>') break
        if (space === 0) fail('attributes must be separated by white space')
        const attr = /^([A-Za-z_][\w.:-]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/.exec(text.slice(i))
        if (!attr) fail('malformed attribute')
        if (attr![1]! in element.attributes) fail(`attribute ${attr![1]} twice`)
        element.attributes[attr![1]!] = decode(attr![3] ?? attr![4] ?? '', i)
        i += attr![0].length
      }
      const parent = stack.at(-1)
      parent?.children.push(element)
      if (text.startsWith('/>', i)) {
        i += 2
        if (!parent) root = element
      } else {
        i += 1
        stack.push(element)
      }
    } else {
      const end = text.indexOf('<', i)
      const raw = text.slice(i, end < 0 ? text.length : end)
      const parent = stack.at(-1)
      if (!parent) {
        if (raw.trim()) fail('text outside the root element')
      } else {
        if (raw.includes('>') && raw.includes(']]>')) fail('"]]>" in character data')
        parent.children.push(decode(raw, i))
      }
      i += raw.length
    }
  }
  if (stack.length > 0 || !root) throw new Error(`unclosed element <${stack.at(-1)?.name ?? 'root'}>`)
  return root
}

/** The element children (white space between them dropped; other text throws). */
export function elements(parent: XmlElement): XmlElement[] {
  return parent.children.filter((c): c is XmlElement => {
    if (typeof c === 'string') {
      if (c.trim()) throw new Error(`unexpected text ${JSON.stringify(c)} in <${parent.name}>`)
      return false
    }
    return true
  })
}

/** An element's text (it must have no element children). */
export function text(element: XmlElement): string {
  if (element.children.some((c) => typeof c !== 'string')) throw new Error(`<${element.name}> holds elements`)
  return element.children.join('')
}

/** The first child element with this name, by path (`Settings/RestartOnFailure/Count`). */
export function child(element: XmlElement, path: string): XmlElement {
  let at = element
  for (const name of path.split('/')) {
    const next = elements(at).find((e) => e.name === name)
    if (!next) throw new Error(`<${at.name}> has no <${name}>`)
    at = next
  }
  return at
}

export type PlistValue = string | number | boolean | PlistValue[] | {[key: string]: PlistValue}

function plistValue(e: XmlElement): PlistValue {
  switch (e.name) {
    case 'string':
      return text(e)
    case 'integer': {
      const t = text(e)
      if (!/^[+-]?\d+$/.test(t)) throw new Error(`<integer>${t}</integer> is not an integer`)
      return Number(t)
    }
    case 'true':
    case 'false':
      if (e.children.length > 0) throw new Error(`<${e.name}/> must be empty`)
      return e.name === 'true'
    case 'array':
      return elements(e).map(plistValue)
    case 'dict': {
      const items = elements(e)
      const dict: {[key: string]: PlistValue} = {}
      for (let k = 0; k < items.length; k += 2) {
        const key = items[k]!
        const value = items[k + 1]
        if (key.name !== 'key') throw new Error(`<dict> expects <key>, found <${key.name}>`)
        if (!value || value.name === 'key') throw new Error(`<key>${text(key)}</key> has no value`)
        if (text(key) in dict) throw new Error(`<key>${text(key)}</key> twice`)
        dict[text(key)] = plistValue(value)
      }
      return dict
    }
    default:
      throw new Error(`<${e.name}> is not a property list element this reader knows`)
  }
}

/** Reads a whole XML property list (version 1.0, one root value). */
export function readPlist(document: string): PlistValue {
  if (!document.startsWith('<?xml version="1.0" encoding="UTF-8"?>')) throw new Error('no UTF-8 XML declaration')
  if (!document.includes('<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN"')) throw new Error('no plist DOCTYPE')
  const root = parseXml(document)
  if (root.name !== 'plist' || root.attributes.version !== '1.0') throw new Error('root is not <plist version="1.0">')
  const values = elements(root)
  if (values.length !== 1) throw new Error(`<plist> holds ${values.length} values, not one`)
  return plistValue(values[0]!)
}
