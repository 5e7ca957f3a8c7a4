// The authoritative answerer, pure: DnsRecords → CompiledZone (records encoded once per change), then each query's
// bytes → the reply's bytes. Never recursive, never forwarding: names outside the zone are REFUSED.
//
// Rules, with their sources:
// - A/AAAA for hosts, SRV for SRV owners, SOA and NS at the apex; `ns.<zone>` is the NS host and answers A with the
//   responder's IPv4 listen address.
// - Unknown name in the zone: NXDOMAIN with the SOA in authority (RFC 2308 §2.1). A name that only has names below
//   it (an empty non-terminal) exists: NODATA (RFC 8020). Known name, other type: NODATA, NOERROR with the SOA in
//   authority (RFC 2308 §2.2). The SOA TTL and MINIMUM are 5 s, so negative answers are cached 5 s (RFC 2308 §5).
// - ANY answers every record set the name has: our sets are small, and RFC 8482 §4.3 allows answering with them.
// - AXFR/IXFR are REFUSED: zone transfers are not offered.
// - Opcode other than QUERY: NOTIMP, RD and CD not copied (they are QUERY's flags; wire.ts `encodeReply`);
//   QDCOUNT ≠ 1, a malformed message or two OPT records: FORMERR; EDNS version above 0: BADVERS (RFC 6891 §6.1.3);
//   class other than IN (or ANY): REFUSED.
// - A query with OPT gets our OPT back (payload 1232, version 0, DO copied; options ignored), except when the
//   message could not be read as a whole (FORMERR, header only). Over UDP a reply is limited to the requester's size
//   (512 without EDNS), never more than 1232; above it, TC=1 with the question only (RFC 2181 §9). TCP: no limit.
// - Replies echo the question as asked (case included); answer owners point at it. AA on in-zone answers; RA clear.
import type {DnsRecords, SrvRecord} from '../servemap/types.js'
import {
  CLASS,
  HEADER_LENGTH,
  MAX_TCP_MESSAGE,
  OPCODE_QUERY,
  RCODE,
  TYPE,
  encodeRecordData,
  encodeReply,
  isValidName,
  joinSections,
  nameWireLength,
  ownedSection,
  parseIPv4,
  parseIPv6,
  parseQuery,
  udpReplyLimit,
} from './wire.js'
import type {Question, RecordData, Section} from './wire.js'
import {emptyList, fitted} from '../fitted.js'

/** TTL of every record we serve: short, because Services and Nodes come and go. */
export const TTL_SECONDS = 5

/** SOA timers (RFC 1035 §3.3.13). Nobody transfers this zone; MINIMUM is the negative-caching TTL (RFC 2308 §4). */
export const SOA_TIMERS = {refreshSeconds: 3600, retrySeconds: 600, expireSeconds: 86_400, minimumSeconds: 5} as const

/** How the zone is compiled beyond its records. */
export interface ZoneOptions {
  /** SOA serial: any positive number that stays the same while the records do. */
  serial: number
  /** The responder's listen address; when it is a specific IPv4 address, `ns.<zone>` answers A with it. */
  nsAddress?: string
  /** The zone this one replaces: records it already encoded are reused (dns2's encoder is slow, ~30 µs each). */
  previous?: CompiledZone
  /**
   * `previous` is never answered from again (the DNS server replaces it): a patch changes its names map in place
   * rather than a copy. Copying 25,000 names (10,000 Services, test/bench/scale-bench.ts) took ~25 ms and left a
   * map's worth of garbage on every change.
   */
  handOver?: boolean
}

/** The record sets of one name, each encoded as an answer section owned by the question name (see sectionOf). */
export interface NameEntry {
  /** Every set, for ANY; a name's one set when it has one. */
  all: Section
  /** The type of the name's one set; 0 when it has none, or several (then `sets`). */
  only: number
  /**
   * The sets by type of a name that has several. A name with one set has no Map of its own: 20,000 names of the
   * 10,000 Services of test/bench/scale-bench.ts, about 3 MB of Maps.
   */
  sets: Map<number, Section> | undefined
}

/** The answer section `entry` holds for a question of `type`, if any. */
function sectionOf(entry: NameEntry, type: number): Section | undefined {
  if (type === TYPE.ANY) return entry.all
  return entry.sets ? entry.sets.get(type) : entry.only === type ? entry.all : undefined
}

/** A zone ready to answer from: built by `compileZone`, read by `answerQuery`. */
export interface CompiledZone {
  /** The apex, lowercase, no trailing dot. */
  readonly domain: string
  /** Records that were skipped (bad names or addresses), one sentence each. */
  readonly problems: readonly string[]
  readonly names: ReadonlyMap<string, NameEntry>
  /**
   * Hosts outside the zone (Ingress and route hosts, src/plan/hosts.ts): answered as exact names, everything else
   * outside the zone stays REFUSED. Keys lowercase, no trailing dot.
   */
  readonly outside: ReadonlyMap<string, NameEntry>
  /** Wildcard hosts (`*.apps.example.com`), keyed by the domain after `*.`: each covers one more label. */
  readonly wildcards: ReadonlyMap<string, NameEntry>
  /**
   * The SOA as an authority section, indexed by the wire length of the question name: its owner is a pointer to
   * the apex suffix of the question, which sits at a fixed offset once the question's length is known.
   */
  readonly negativeByQuestionLength: readonly (Section | undefined)[]
  /** Encoded records by `recordKey`, for the next compile to reuse. */
  readonly encoded: ReadonlyMap<string, Uint8Array>
  /** Parsed records and compiled entries, for the next compile to reuse (see ZoneSources). */
  readonly sources?: ZoneSources
}

/** Which transport a query came in on: UDP replies are limited in size, TCP ones are not. */
export type Transport = 'udp' | 'tcp'

/** Lowercase, without the trailing dot (docs/architecture.md: the DNS adapter strips it). */
function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '')
}

/**
 * What a compile keeps for the next (ZoneOptions.previous): each host's and SRV owner's parsed records, by the
 * array they came from, and each name's entry by the record list it was compiled from. serve's map keeps the
 * arrays of unchanged Services (src/servemap/memo.ts), so a change recompiles only the names whose records changed.
 */
interface ZoneSources {
  domain: string
  hosts: Map<string, Source<string[]>>
  srv: Map<string, Source<SrvRecord[]>>
  /** Entries by record list; a list is never changed after it is made. */
  entries: WeakMap<RecordData[], NameEntry>
  /**
   * A/AAAA lists by the address array they were parsed from (those without problems): the names that answer one
   * array (a Service's names share theirs, src/servemap/map.ts) share one list, and so one entry: at 10,000 Services
   * this kept a third of the zone's entries (test/bench/scale-bench.ts).
   */
  lists: WeakMap<string[], RecordData[]>
  /** How many sources with records own each name in the zone (hosts and SRV owners): a name of one can be patched. */
  owners: Map<string, number>
  /** How many sources with records each name is a parent of (the empty non-terminals, RFC 8020, and the rest). */
  below: Map<string, number>
  /** The nsAddress the zone was compiled with. */
  nsAddress?: string
  /**
   * The zone these sources describe. A patch (patchZone) updates the sources in place for the zone it makes, so an
   * older zone's sources no longer describe it: a compile from that one is not patched.
   */
  zone?: CompiledZone
}

/** One host's or SRV owner's records, parsed from `from`; `list` is undefined when the name was skipped. */
interface Source<T> {
  from: T
  name: string
  target: 'data' | 'outside' | 'wildcard'
  list?: RecordData[]
  /** Shared and empty for most (fitted). */
  problems: string[]
}

/**
 * A host's A/AAAA records (RFC 2181 §5: no duplicates in a set), or why it was skipped. The list is the one in
 * `lists` when these addresses were parsed before without a problem.
 */
function hostSource(
  rawName: string,
  addresses: string[],
  domain: string,
  lists: WeakMap<string[], RecordData[]>,
): Source<string[]> {
  let name = normalizeName(rawName)
  let target: Source<string[]>['target'] = 'data'
  const problems: string[] = []
  if (name.startsWith('*.')) {
    name = name.slice(2)
    target = 'wildcard'
  } else if (!inZoneOf(domain, name)) {
    target = 'outside'
  }
  if (target === 'data' ? !(isValidName(name) && inZoneOf(domain, name)) : !isValidName(name)) {
    problems.push(
      target === 'data'
        ? `skipped host "${name}": not a valid name in ${domain}`
        : `skipped host "${rawName}": not a valid name`,
    )
    return {from: addresses, name, target, problems}
  }
  const parsed = lists.get(addresses)
  if (parsed) return {from: addresses, name, target, list: parsed, problems: emptyList()}
  const list: RecordData[] = []
  const seen = new Set<string>()
  for (const text of addresses) {
    const ipv6 = text.includes(':')
    const address = ipv6 ? parseIPv6(text) : parseIPv4(text)
    if (!address) {
      problems.push(`skipped address "${text}" of ${name}: not an IP${ipv6 ? 'v6' : 'v4'} address`)
    } else if (!seen.has(address)) {
      seen.add(address)
      list.push(ipv6 ? {type: TYPE.AAAA, address} : {type: TYPE.A, address})
    }
  }
  const kept = fitted(list)
  if (problems.length === 0) lists.set(addresses, kept)
  return {from: addresses, name, target, list: kept, problems: fitted(problems)}
}

/** An SRV owner's records, or why it (or one of them) was skipped. */
function srvSource(rawName: string, srvs: SrvRecord[], domain: string): Source<SrvRecord[]> {
  const name = normalizeName(rawName)
  const problems: string[] = []
  if (!(isValidName(name) && inZoneOf(domain, name))) {
    problems.push(`skipped SRV owner "${name}": not a valid name in ${domain}`)
    return {from: srvs, name, target: 'data', problems}
  }
  const list: RecordData[] = []
  for (const srv of srvs) {
    const target = normalizeName(srv.target)
    const fields = [srv.priority, srv.weight, srv.port]
    if (!isValidName(target) || !fields.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff)) {
      problems.push(`skipped SRV record of ${name} → ${srv.target}:${srv.port}: invalid target or number`)
      continue
    }
    list.push({type: TYPE.SRV, priority: srv.priority, weight: srv.weight, port: srv.port, target})
  }
  return {from: srvs, name, target: 'data', list: fitted(list), problems: fitted(problems)}
}

/** The names between `name` and the apex `domain`, nearest first, the apex last (none for the apex itself). */
function parentsOf(name: string, domain: string): string[] {
  const parents: string[] = []
  for (let parent = name; parent !== domain;) {
    parent = parent.slice(parent.indexOf('.') + 1)
    parents.push(parent)
  }
  return parents
}

function inZoneOf(domain: string, name: string): boolean {
  return name === domain || name.endsWith(`.${domain}`)
}

/** Builds the answering structures for `records`. Throws when the zone apex itself is not a usable name. */
export function compileZone(records: DnsRecords, options: ZoneOptions): CompiledZone {
  const domain = normalizeName(records.domain)
  const nsHost = `ns.${domain}`
  const hostmaster = `hostmaster.${domain}`
  if (domain === '' || !isValidName(nsHost) || !isValidName(hostmaster)) {
    throw new Error(`cannot serve DNS zone "${records.domain}": not a valid domain name`)
  }
  const kept = options.previous?.sources?.domain === domain ? options.previous.sources : undefined
  const patched = kept && options.previous ? patchZone(records, options, options.previous, kept) : undefined
  if (patched) return patched
  const sources: ZoneSources = {
    domain,
    hosts: new Map(),
    srv: new Map(),
    entries: kept?.entries ?? new WeakMap(),
    lists: kept?.lists ?? new WeakMap(),
    owners: new Map(),
    below: new Map(),
    nsAddress: options.nsAddress,
  }
  const problems: string[] = []
  const data = new Map<string, RecordData[]>()
  const outsideData = new Map<string, RecordData[]>()
  const wildcardData = new Map<string, RecordData[]>()
  /** Lists made by this compile (a source's list is shared and copied before anything is added to it). */
  const own = new Set<RecordData[]>()
  const recordsOf = (name: string): RecordData[] => {
    let list = data.get(name)
    if (!list) {
      data.set(name, (list = []))
      own.add(list)
    }
    return list
  }
  /** Adds a source's records to its name's list, sharing the source's list when the name has no other. */
  const add = (target: Map<string, RecordData[]>, name: string, list: RecordData[]) => {
    const existing = target.get(name)
    if (!existing) target.set(name, list)
    else if (own.has(existing)) existing.push(...list)
    else {
      const joined = [...existing, ...list]
      own.add(joined)
      target.set(name, joined)
    }
  }

  recordsOf(domain).push(
    {type: TYPE.SOA, mname: nsHost, rname: hostmaster, serial: options.serial, ...SOA_TIMERS},
    {type: TYPE.NS, host: nsHost},
  )
  recordsOf(nsHost)
  for (const [rawName, addresses] of records.hosts) {
    const was = kept?.hosts.get(rawName)
    const source = was?.from === addresses ? was : hostSource(rawName, addresses, domain, sources.lists)
    sources.hosts.set(rawName, source)
    if (source.problems.length > 0) problems.push(...source.problems)
    if (!source.list) continue
    add(
      source.target === 'data' ? data : source.target === 'outside' ? outsideData : wildcardData,
      source.name,
      source.list,
    )
  }
  const nsAddress = options.nsAddress === undefined ? undefined : parseIPv4(options.nsAddress)
  if (!records.hosts.has(nsHost) && nsAddress && nsAddress !== '0.0.0.0') {
    add(data, nsHost, [{type: TYPE.A, address: nsAddress}])
  }
  for (const [rawName, srvs] of records.srv) {
    const was = kept?.srv.get(rawName)
    const source = was?.from === srvs ? was : srvSource(rawName, srvs, domain)
    sources.srv.set(rawName, source)
    if (source.problems.length > 0) problems.push(...source.problems)
    if (source.list) add(data, source.name, source.list)
  }
  // Every name between an owner and the apex exists, possibly with no records (RFC 8020 empty non-terminals).
  // The owners are the apex, ns and the sources' names, in that order: each source walks its parents once.
  for (const parent of parentsOf(nsHost, domain)) recordsOf(parent)
  for (const source of [...sources.hosts.values(), ...sources.srv.values()]) {
    if (!source.list || source.target !== 'data') continue
    for (const parent of count(sources, source, 1)) recordsOf(parent)
  }

  const {encoded, encode} = encoder(options.previous?.encoded)
  /** A source's list compiled before is the same records: its entry is reused. */
  const entryOf = (list: RecordData[]): NameEntry => {
    if (own.has(list)) return compileName(list, encode)
    let entry = sources.entries.get(list)
    if (!entry) sources.entries.set(list, (entry = compileName(list, encode)))
    return entry
  }
  const names = new Map<string, NameEntry>()
  for (const [name, list] of data) names.set(name, entryOf(list))
  const outside = new Map<string, NameEntry>()
  for (const [name, list] of outsideData) outside.set(name, entryOf(list))
  const wildcards = new Map<string, NameEntry>()
  for (const [name, list] of wildcardData) wildcards.set(name, entryOf(list))

  const negativeByQuestionLength = negativeSections(domain, encode(soaRecord(domain, options.serial)))
  const zone: CompiledZone = {domain, problems, names, outside, wildcards, negativeByQuestionLength, encoded, sources}
  sources.zone = zone
  return zone
}

/** The apex's SOA record. */
function soaRecord(domain: string, serial: number): RecordData {
  return {type: TYPE.SOA, mname: `ns.${domain}`, rname: `hostmaster.${domain}`, serial, ...SOA_TIMERS}
}

/** The SOA as an authority section for each question length (CompiledZone.negativeByQuestionLength). */
function negativeSections(domain: string, soa: Uint8Array): (Section | undefined)[] {
  const apexLength = nameWireLength(domain)
  const sections: (Section | undefined)[] = []
  for (let length = apexLength; length <= 255; length++) {
    sections[length] = ownedSection(HEADER_LENGTH + length - apexLength, [soa])
  }
  return sections
}

/** Encodes records once per compile, reusing the bytes the previous compile made for an equal record. */
function encoder(reusable: ReadonlyMap<string, Uint8Array> | undefined) {
  const encoded = new Map<string, Uint8Array>()
  const encode = (record: RecordData): Uint8Array => {
    const key = recordKey(record)
    let bytes = encoded.get(key) ?? reusable?.get(key)
    if (!bytes) bytes = encodeRecordData(record, TTL_SECONDS)
    encoded.set(key, bytes)
    return bytes
  }
  return {encoded, encode}
}

/**
 * Adds `by` to the owner count of a source's name and the counts of its parents (a source with records in the zone);
 * returns those parents. Found again on each call rather than kept per source: a compile or a patch counts a source
 * once, and 30,000 sources at 10,000 Services would keep an array and its name slices each.
 */
function count(sources: ZoneSources, source: Source<unknown>, by: 1 | -1): string[] {
  const parents = parentsOf(source.name, sources.domain)
  bump(sources.owners, source.name, by)
  for (const parent of parents) bump(sources.below, parent, by)
  return parents
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by
  if (n === 0) counts.delete(key)
  else counts.set(key, n)
}

/** Beyond this many changed hosts and SRV owners, compiling the whole zone is as quick as patching it. */
const PATCH_LIMIT = 500

/**
 * The zone for `records` made from `previous` by recompiling only the names whose sources changed (and their
 * parents' existence), or undefined when it cannot be, and compileZone compiles the whole zone: previous had
 * problems, a changed source is outside the zone, a wildcard, skipped, the apex or the NS host, or owns a name
 * another source owns too. The result equals compileZone's without `previous`; the names map is a copy, so
 * `previous` goes on answering as it did, unless it is handed over (ZoneOptions.handOver). serve's map hands unchanged Services' record arrays back
 * (src/servemap/memo.ts), so the changed sources are found by identity.
 */
function patchZone(
  records: DnsRecords,
  options: ZoneOptions,
  previous: CompiledZone,
  kept: ZoneSources,
): CompiledZone | undefined {
  const {domain} = kept
  const nsHost = `ns.${domain}`
  if (kept.zone !== previous || kept.nsAddress !== options.nsAddress || previous.problems.length > 0) return undefined
  // The apex entry is made anew (its SOA carries the serial): from the SOA, the NS and the host that owns the apex
  // (serve answers it with the router's address, src/plan/names.ts reservedNames), as compileZone lists them.
  const apexOwners = kept.owners.get(domain) ?? 0
  const apexHost = apexOwners === 1 ? kept.hosts.get(domain) : undefined
  if (apexOwners > 1 || (apexOwners === 1 && (apexHost?.name !== domain || !apexHost.list))) return undefined
  const came: Array<Source<unknown>> = []
  const went: Array<Source<unknown>> = []
  /** Sources in `now` whose `from` is not the kept one's, and kept sources whose name `now` no longer has. */
  const diff = <T>(
    now: Map<string, T>,
    was: Map<string, Source<T>>,
    make: (raw: string, from: T) => Source<T>,
  ): Array<[string, Source<T>]> | undefined => {
    const made: Array<[string, Source<T>]> = []
    let fresh = 0
    let over = false
    // forEach, not for…of: no [name, value] pair per entry (25,000 names at 10,000 Services, on every change).
    now.forEach((from, raw) => {
      if (over) return
      const old = was.get(raw)
      if (old?.from === from) return
      if (made.length >= PATCH_LIMIT) {
        over = true
        return
      }
      if (old) went.push(old)
      else fresh++
      const source = make(raw, from)
      made.push([raw, source])
      came.push(source)
    })
    if (over) return undefined
    // Names that went: the kept ones now lacks (only looked for when the counts say there are some).
    if (was.size - (now.size - fresh) > 0) {
      was.forEach((old, raw) => {
        if (now.has(raw)) return
        went.push(old)
        made.push([raw, undefined as never])
      })
    }
    return made
  }
  const hosts = diff(records.hosts, kept.hosts, (raw, from) => hostSource(raw, from, domain, kept.lists))
  const srv = hosts && diff(records.srv, kept.srv, (raw, from) => srvSource(raw, from, domain))
  if (!hosts || !srv || went.length + came.length > PATCH_LIMIT) return undefined
  for (const source of [...went, ...came]) {
    if (source.target !== 'data' || source.problems.length > 0 || !source.list) return undefined
    if (source.name === domain || source.name === nsHost) return undefined
  }
  // Each name a changed source owns must be one source's only, before and after.
  const owners = new Map<string, number>()
  for (const s of went) owners.set(s.name, (owners.get(s.name) ?? kept.owners.get(s.name) ?? 0) - 1)
  for (const s of came) owners.set(s.name, (owners.get(s.name) ?? kept.owners.get(s.name) ?? 0) + 1)
  for (const [name, n] of owners) if (n > 1 || (kept.owners.get(name) ?? 0) > 1) return undefined

  for (const [raw, source] of hosts) {
    if (source) kept.hosts.set(raw, source)
    else kept.hosts.delete(raw)
  }
  for (const [raw, source] of srv) {
    if (source) kept.srv.set(raw, source)
    else kept.srv.delete(raw)
  }
  const {encoded, encode} = encoder(previous.encoded)
  // compileZone and patchZone make every zone's names map; ReadonlyMap is what answering needs of it.
  const names = options.handOver ? (previous.names as Map<string, NameEntry>) : new Map(previous.names)
  const touched = new Set<string>()
  for (const s of went) {
    touched.add(s.name)
    for (const parent of count(kept, s, -1)) touched.add(parent)
  }
  for (const s of came) {
    touched.add(s.name)
    for (const parent of count(kept, s, 1)) touched.add(parent)
  }
  const owner = new Map(came.map((s) => [s.name, s]))
  for (const name of touched) {
    if (name === domain || name === nsHost) continue
    const source = owner.get(name)
    if (source) {
      let entry = kept.entries.get(source.list!)
      if (!entry) kept.entries.set(source.list!, (entry = compileName(source.list!, encode)))
      names.set(name, entry)
    } else if (kept.owners.has(name)) {
      continue // its own records did not change: only what is below it did
    } else if (kept.below.has(name)) {
      names.set(name, EMPTY_NAME)
    } else {
      names.delete(name)
    }
  }
  const soa = soaRecord(domain, options.serial)
  names.set(domain, compileName([soa, {type: TYPE.NS, host: nsHost}, ...(apexHost?.list ?? [])], encode))
  const zone: CompiledZone = {
    domain,
    problems: previous.problems,
    names,
    outside: previous.outside,
    wildcards: previous.wildcards,
    negativeByQuestionLength: negativeSections(domain, encode(soa)),
    encoded,
    sources: kept,
  }
  kept.zone = zone
  return zone
}

/** A string that identifies a record's encoding (owner names are not part of it). */
function recordKey(record: RecordData): string {
  return Object.values(record).join(' ')
}

/** The order sets appear in for ANY. */
const SET_ORDER = [TYPE.SOA, TYPE.NS, TYPE.A, TYPE.AAAA, TYPE.SRV]

function compileName(list: RecordData[], encode: (record: RecordData) => Uint8Array): NameEntry {
  // A name with no records (an empty non-terminal, RFC 8020) or one set shares what it can: a third of a Service's
  // names have none, and most of the rest one set (memory at 10,000 Services, test/bench/scale-bench.ts).
  if (list.length === 0) return EMPTY_NAME
  const sets = new Map<number, Section>()
  for (const type of SET_ORDER) {
    const encoded = list.filter((r) => r.type === type).map(encode)
    if (encoded.length > 0) sets.set(type, ownedSection(HEADER_LENGTH, encoded))
  }
  if (sets.size > 1) return {all: joinSections([...sets.values()]), only: 0, sets}
  const [one] = sets
  return one ? {all: one[1], only: one[0], sets: undefined} : EMPTY_NAME
}

/** The entry of every name without records; never changed (answerQuery only reads entries). */
const EMPTY_NAME: NameEntry = {all: {count: 0, bytes: new Uint8Array(0)}, only: 0, sets: undefined}

/**
 * The reply to one received message, or undefined when it deserves none (shorter than a header, or itself a
 * response). Over UDP a reply larger than the requester accepts goes out truncated (TC=1, sections emptied).
 */
export function answerQuery(zone: CompiledZone, query: Uint8Array, transport: Transport): Uint8Array | undefined {
  const parsed = parseQuery(query)
  if (parsed.kind === 'drop') return undefined
  const {header} = parsed
  if (parsed.kind === 'malformed') {
    return encodeReply({header, aa: false, rcode: RCODE.FORMERR, maxLength: MAX_TCP_MESSAGE})
  }
  const {edns} = parsed
  const question = parsed.questionCount === 1 ? parsed.question : undefined
  const maxLength = transport === 'udp' ? udpReplyLimit(edns) : MAX_TCP_MESSAGE
  const reply = (rcode: number, aa = false, answer?: Section, authority?: Section) =>
    encodeReply({header, aa, rcode, question, answer, authority, edns, maxLength})

  if (header.opcode !== OPCODE_QUERY) return reply(RCODE.NOTIMP)
  if (edns && edns.version > 0) return reply(RCODE.BADVERS)
  if (!question) return reply(RCODE.FORMERR)
  if (question.class !== CLASS.IN && question.class !== CLASS.ANY) return reply(RCODE.REFUSED)
  if (question.type === TYPE.AXFR || question.type === TYPE.IXFR) return reply(RCODE.REFUSED)
  if (!isInZone(zone.domain, question.name)) {
    // Only the Ingress and route hosts serve knows: those answer, every other name outside the zone is REFUSED.
    const host = zone.outside.get(question.name) ?? wildcardFor(zone, question.name)
    if (!host) return reply(RCODE.REFUSED)
    const answer = sectionOf(host, question.type)
    return reply(RCODE.NOERROR, true, answer && answer.count > 0 ? answer : undefined)
  }

  const negative = negativeFor(zone, question)
  const entry = zone.names.get(question.name) ?? wildcardFor(zone, question.name)
  if (!entry) return reply(RCODE.NXDOMAIN, true, undefined, negative)
  const answer = sectionOf(entry, question.type)
  if (!answer || answer.count === 0) return reply(RCODE.NOERROR, true, undefined, negative)
  return reply(RCODE.NOERROR, true, answer)
}

/** The wildcard host covering `name` (one label in front of its domain), if any. */
function wildcardFor(zone: CompiledZone, name: string): NameEntry | undefined {
  if (zone.wildcards.size === 0) return undefined
  const dot = name.indexOf('.')
  return dot < 0 ? undefined : zone.wildcards.get(name.slice(dot + 1))
}

function isInZone(domain: string, name: string): boolean {
  return name.length === domain.length
    ? name === domain
    : name.endsWith(domain) && name.charCodeAt(name.length - domain.length - 1) === 0x2e
}

function negativeFor(zone: CompiledZone, question: Question): Section | undefined {
  return zone.negativeByQuestionLength[question.wire.length]
}
