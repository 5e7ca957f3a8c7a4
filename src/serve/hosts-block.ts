// The managed block of a hosts file (hosts(5)) as text: rendered from serve's names, found, replaced or removed in
// a file's content. Pure: src/serve/hosts-file.ts reads and writes the file around it. Content is handled as
// latin1 text there, so one character here is one byte of the file and lines outside the block survive byte for
// byte.
import {ExposeLbError} from '../errors.js'

/**
 * Each serve marks its block with its own owner (`pid=<pid>`), so that serves sharing one hosts file keep to their
 * own block: `# BEGIN kubectl-expose-lb pid=1234 (managed; do not edit)` … `# END kubectl-expose-lb pid=1234`.
 * Blocks written before owners existed (no owner token) are still recognised, with owner undefined.
 */
const MARKER = 'kubectl-expose-lb'
const BEGIN_LINE = /^# BEGIN kubectl-expose-lb(?: (\S+))? \(managed; do not edit\)$/
const END_LINE = /^# END kubectl-expose-lb(?: (\S+))?$/

/** The owner token of the process `pid`. */
export function instanceOwner(pid: number): string {
  return `pid=${pid}`
}

/** The pid an owner token names, or undefined for a token this version does not write (or no token). */
export function ownerPid(owner: string | undefined): number | undefined {
  const match = owner === undefined ? null : /^pid=(\d+)$/.exec(owner)
  return match ? Number(match[1]) : undefined
}

/** First line of the block of `owner`. */
export function beginLine(owner: string): string {
  return `# BEGIN ${MARKER} ${owner} (managed; do not edit)`
}

/** Last line of the block of `owner`. */
export function endLine(owner: string): string {
  return `# END ${MARKER} ${owner}`
}

/** A token that cannot break a hosts(5) line: not empty, no whitespace, no comment sign. */
function isHostsToken(text: string): boolean {
  return text !== '' && !/[\s#]/.test(text)
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
 * The managed block of `owner` for `hosts` (name → addresses): one line per address listing its names, addresses
 * and names sorted, lines joined by `\n` with no final newline. Entries that cannot be written safely are left out
 * (see unwritableHostEntries).
 */
export function renderHostsBlock(hosts: Map<string, string[]>, owner: string): string {
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
  return [beginLine(owner), ...lines, endLine(owner)].join('\n')
}

/** Where a managed block sits in a file: character offsets, END line's terminator included in `end`. */
interface BlockSpan {
  /** Undefined for a block written before blocks had owners. */
  owner: string | undefined
  start: number
  end: number
  /** The END line's line ending (`''` when it is the file's last line without a newline). */
  terminator: string
}

/** The managed blocks of a file, in order; throws when markers do not pair up, rather than guess where one ends. */
function findBlocks(content: string): BlockSpan[] {
  let begin: {owner: string | undefined; start: number; line: number} | undefined
  const spans: BlockSpan[] = []
  const name = (owner: string | undefined) => (owner === undefined ? 'BEGIN' : `BEGIN ${owner}`)
  let lineNo = 0
  for (let start = 0; start < content.length;) {
    lineNo++
    const newline = content.indexOf('\n', start)
    const next = newline === -1 ? content.length : newline + 1
    const text = content.slice(start, newline === -1 ? next : newline).trim()
    const opening = BEGIN_LINE.exec(text)
    const closing = opening ? null : END_LINE.exec(text)
    if (opening) {
      const owner = opening[1]
      if (begin) throw damagedBlock(`a "${name(owner)}" line (line ${lineNo}) inside the block of line ${begin.line}`)
      if (spans.some((s) => s.owner === owner)) throw damagedBlock(`a second "${name(owner)}" line (line ${lineNo})`)
      begin = {owner, start, line: lineNo}
    } else if (closing) {
      if (!begin) throw damagedBlock(`"${text}" without a BEGIN line before it (line ${lineNo})`)
      if (closing[1] !== begin.owner) {
        throw damagedBlock(`"${text}" (line ${lineNo}) closes the "${name(begin.owner)}" block of line ${begin.line}`)
      }
      const terminator = newline === -1 ? '' : content[newline - 1] === '\r' ? '\r\n' : '\n'
      spans.push({owner: begin.owner, start: begin.start, end: next, terminator})
      begin = undefined
    }
    start = next
  }
  if (begin) throw damagedBlock(`the "${name(begin.owner)}" line (line ${begin.line}) has no END line after it`)
  return spans
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

/** The owners of the managed blocks in `content` (undefined for a block without one); throws when one is damaged. */
export function blockOwners(content: string): Array<string | undefined> {
  return findBlocks(content).map((span) => span.owner)
}

/**
 * `content` with the block of `owner` inserted (appended at the end), replaced, or removed (`block` undefined).
 * Everything outside that block, other serves' blocks included, is kept byte for byte; the block takes the file's
 * line ending. Appending to a file without a final newline adds the newline before the block and leaves the
 * block's last line without one, so removing the block gives back the original exactly. Throws when the file holds
 * a damaged block.
 */
export function replaceBlock(content: string, owner: string | undefined, block: string | undefined): string {
  const span = findBlocks(content).find((s) => s.owner === owner)
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
  return spliceSpan(content, span, text)
}

/** `content` without the blocks whose owner `remove` picks, and the owners removed. */
export function removeBlocks(
  content: string,
  remove: (owner: string | undefined) => boolean,
): {content: string; removed: Array<string | undefined>} {
  const doomed = findBlocks(content).filter((span) => remove(span.owner))
  let next = content
  // From the last block back, so the offsets of the ones before stay right.
  for (const span of [...doomed].reverse()) next = spliceSpan(next, span, undefined)
  return {content: next, removed: doomed.map((s) => s.owner)}
}

function spliceSpan(content: string, span: BlockSpan, text: string | undefined): string {
  const before = content.slice(0, span.start)
  const after = content.slice(span.end)
  if (text !== undefined) return before + text + span.terminator + after
  // A last block without a final newline was appended to a file without one: give that file back as it was.
  if (after === '' && span.terminator === '') return before.replace(/\r?\n$/, '')
  return before + after
}
