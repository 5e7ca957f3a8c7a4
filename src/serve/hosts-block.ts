// The managed block of a hosts file (hosts(5)) as text: rendered from serve's names, found, replaced or removed in
// a file's content. Pure: src/serve/hosts-file.ts reads and writes the file around it. Content is handled as
// latin1 text there, so one character here is one byte of the file and lines outside the block survive byte for
// byte.
import {ExposeLbError} from '../errors.js'

/** First line of the managed block. */
export const HOSTS_BEGIN = '# BEGIN kubectl-expose-lb (managed; do not edit)'
/** Last line of the managed block. */
export const HOSTS_END = '# END kubectl-expose-lb'

/**
 * A token that cannot break a hosts(5) line: not empty, no whitespace, no comment sign. A wildcard host (`*.apps.…`,
 * from an Ingress) is not one either: hosts files match names exactly, so it would stand for nothing.
 */
function isHostsToken(text: string): boolean {
  return text !== '' && !/[\s#]/.test(text) && !text.startsWith('*')
}

/** IPv4 first in numeric order, then IPv6 in text order: stable output, so an unchanged map renders the same. */
function compareAddresses(a: string, b: string): number {
  const a6 = a.includes(':')
  const b6 = b.includes(':')
  if (a6 !== b6) return a6 ? 1 : -1
  if (!a6) {
    const x = a.split('.').map(Number)
    const y = b.split('.').map(Number)
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      const d = (x[i] ?? -1) - (y[i] ?? -1)
      if (d !== 0 && !Number.isNaN(d)) return d
    }
  }
  return a < b ? -1 : a > b ? 1 : 0
}

/** Host names and addresses that cannot be written to a hosts file (they would break or inject a line). */
export function unwritableHostEntries(hosts: Map<string, string[]>): string[] {
  const bad: string[] = []
  for (const [name, addresses] of hosts) {
    if (!isHostsToken(name)) bad.push(JSON.stringify(name))
    else for (const a of addresses) if (!isHostsToken(a)) bad.push(`${name} → ${JSON.stringify(a)}`)
  }
  return bad
}

/**
 * The managed block for `hosts` (name → addresses): one line per address listing its names, addresses and names
 * sorted, lines joined by `\n` with no final newline. Entries that cannot be written safely are left out
 * (see unwritableHostEntries).
 */
export function renderHostsBlock(hosts: Map<string, string[]>): string {
  const byAddress = new Map<string, Set<string>>()
  for (const [name, addresses] of hosts) {
    if (!isHostsToken(name)) continue
    for (const address of addresses) {
      if (!isHostsToken(address)) continue
      let names = byAddress.get(address)
      if (!names) byAddress.set(address, (names = new Set()))
      names.add(name)
    }
  }
  const lines = [...byAddress.keys()]
    .sort(compareAddresses)
    .map((address) => `${address} ${[...(byAddress.get(address) ?? [])].sort().join(' ')}`)
  return [HOSTS_BEGIN, ...lines, HOSTS_END].join('\n')
}

/** Where the managed block sits in a file: character offsets, END line's terminator included in `end`. */
interface BlockSpan {
  start: number
  end: number
  /** The END line's line ending (`''` when it is the file's last line without a newline). */
  terminator: string
}

/** Finds the managed block; throws when its markers do not pair up, rather than guess where it ends. */
function findBlock(content: string): BlockSpan | undefined {
  let begin: {start: number; line: number} | undefined
  let span: BlockSpan | undefined
  let lineNo = 0
  for (let start = 0; start < content.length;) {
    lineNo++
    const newline = content.indexOf('\n', start)
    const next = newline === -1 ? content.length : newline + 1
    const text = content.slice(start, newline === -1 ? next : newline).trim()
    if (text === HOSTS_BEGIN) {
      if (begin || span) throw damagedBlock(`a second "${HOSTS_BEGIN}" line (line ${lineNo})`)
      begin = {start, line: lineNo}
    } else if (text === HOSTS_END) {
      if (!begin) throw damagedBlock(`"${HOSTS_END}" without a BEGIN line before it (line ${lineNo})`)
      const terminator = newline === -1 ? '' : content[newline - 1] === '\r' ? '\r\n' : '\n'
      span = {start: begin.start, end: next, terminator}
      begin = undefined
    }
    start = next
  }
  if (begin) throw damagedBlock(`"${HOSTS_BEGIN}" (line ${begin.line}) has no "${HOSTS_END}" line after it`)
  return span
}

/** The refusal to edit a file whose markers do not pair up; HostsFile adds the file's path. */
function damagedBlock(what: string): ExposeLbError {
  return new ExposeLbError(
    'usage',
    `the kubectl-expose-lb block is damaged: ${what} — not editing the file, so no line of yours is lost; remove the block's lines by hand`,
  )
}

/** The file's line ending: that of its first line (CRLF files stay CRLF), `\n` for a file of one line or none. */
function lineEnding(content: string): string {
  const newline = content.indexOf('\n')
  return newline > 0 && content[newline - 1] === '\r' ? '\r\n' : '\n'
}

/**
 * `content` with the managed block inserted (appended at the end), replaced, or removed (`block` undefined).
 * Everything outside the block is kept byte for byte; the block takes the file's line ending. Appending to a file
 * without a final newline adds the newline before the block and leaves the block's last line without one, so
 * removing the block gives back the original exactly. Throws when the file holds a damaged block.
 */
export function replaceBlock(content: string, block: string | undefined): string {
  const span = findBlock(content)
  const eol = lineEnding(content)
  const text = block
    ?.replace(/\r?\n$/, '')
    .split(/\r?\n/)
    .join(eol)
  if (!span) {
    if (text === undefined) return content
    if (content === '') return text + eol
    return content.endsWith('\n') ? content + text + eol : content + eol + text
  }
  const before = content.slice(0, span.start)
  const after = content.slice(span.end)
  if (text !== undefined) return before + text + span.terminator + after
  // A last block without a final newline was appended to a file without one: give that file back as it was.
  if (after === '' && span.terminator === '') return before.replace(/\r?\n$/, '')
  return before + after
}
