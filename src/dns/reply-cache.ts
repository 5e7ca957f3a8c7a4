// Replies to questions asked before, sent again with the new query's ID. A reply depends only on the zone, the
// transport and the query's octets (answer.ts): the same octets after the ID, over UDP, from the same zone, get the
// same reply but for the ID it echoes. Resolvers and browsers ask for the same few names again and again, so a reply
// is encoded once per zone and copied after that: parsing, the zone lookup and encoding are left out
// (docs/performance.md, tenth session). The server drops its caches when the zone changes.

/** Enough for every name a workstation asks for between two changes; a flood of new questions clears it. */
const DEFAULT_MAX_ENTRIES = 1024

/** Longer queries (large EDNS options) are answered as they come: rare, and costly to compare. */
const MAX_QUERY_LENGTH = 512

/** The octets of a DNS header (RFC 1035 §4.1.1); the first two are the ID. */
const HEADER_LENGTH = 12

interface Entry {
  /** The whole query, ID included (compared from the third octet). */
  query: Uint8Array
  reply: Uint8Array
}

export class ReplyCache {
  private readonly entries = new Map<number, Entry>()

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {}

  /** The reply to a query with the same octets as `message` after its ID, given `message`'s ID; else undefined. */
  replay(message: Uint8Array): Uint8Array | undefined {
    if (message.length < HEADER_LENGTH || message.length > MAX_QUERY_LENGTH) return undefined
    const entry = this.entries.get(keyOf(message))
    if (!entry || !sameAfterId(entry.query, message)) return undefined
    const out = Buffer.allocUnsafe(entry.reply.length)
    out.set(entry.reply)
    out[0] = message[0]!
    out[1] = message[1]!
    return out
  }

  /** Keeps `reply` for queries like `message` (copies of both: neither keeps a socket's buffer alive). */
  remember(message: Uint8Array, reply: Uint8Array): void {
    if (message.length < HEADER_LENGTH || message.length > MAX_QUERY_LENGTH) return
    if (this.entries.size >= this.maxEntries) this.entries.clear()
    this.entries.set(keyOf(message), {query: new Uint8Array(message), reply: new Uint8Array(reply)})
  }

  clear(): void {
    this.entries.clear()
  }

  get size(): number {
    return this.entries.size
  }
}

/** FNV-1a of the octets after the ID, cut to 30 bits so that it stays a small integer (a fast Map key). */
function keyOf(message: Uint8Array): number {
  let hash = 0x811c9dc5
  for (let i = 2; i < message.length; i++) hash = Math.imul(hash ^ message[i]!, 0x01000193)
  return hash & 0x3fffffff
}

function sameAfterId(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 2; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
