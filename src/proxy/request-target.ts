// What the router reads from a request before it routes it, and which header fields stop at this hop. Pure: strings
// in, names and field lists out, so the Host and request-target rules (RFC 9112 §3.2) are table-testable apart from
// any socket.
import {hostPort} from '../net/address.js'
import type {ProbedTarget} from '../servemap/types.js'

/**
 * RFC 9110 §7.6.1: hop-by-hop fields a proxy must not forward (plus the legacy Proxy-Connection). Transfer-Encoding
 * is left to Node: it tells the upstream request to frame the body as chunked, as the client's was.
 */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']

/** Fields a hop must keep whatever Connection lists: routing and message framing depend on them. */
const PROTECTED_FIELDS = new Set(['', 'host', 'transfer-encoding', 'content-length'])

/** Header fields by lowercase name, as Node parses them (`http.IncomingHttpHeaders` fits). */
export type HeaderFields = Readonly<Record<string, string | string[] | undefined>>

/**
 * The route key for a Host value: lowercase, without `:port` and without a trailing dot. IPv6 literals (and
 * anything else that cannot be a DNS name with an optional port) give undefined, so they never match a route.
 */
export function normalizeHost(host: string): string | undefined {
  const match = /^([^:[\]]+?)(?::\d*)?$/.exec(host.trim())
  const name = match?.[1]?.toLowerCase().replace(/\.$/, '')
  return name === undefined || name === '' ? undefined : name
}

/**
 * Whether a Host value names this machine by a loopback name or address: `localhost` and `*.localhost` (RFC 6761
 * §6.3; browsers resolve them to loopback themselves, never through DNS), an address in 127.0.0.0/8, or [::1].
 */
export function isLoopbackHost(host: string): boolean {
  if (/^\[::1\](?::\d*)?$/.test(host.trim())) return true
  const name = normalizeHost(host)
  if (name === undefined) return false
  return name === 'localhost' || name.endsWith('.localhost') || /^127(?:\.\d{1,3}){3}$/.test(name)
}

/** How many Host field lines `rawHeaders` (Node's name, value, name, … list) holds: RFC 9112 §3.2 allows one. */
export function countHostLines(rawHeaders: readonly string[]): number {
  let lines = 0
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === 'host') lines++
  return lines
}

/** The hop-by-hop fields present in `headers`, including those its Connection header names (RFC 9110 §7.6.1). */
export function hopByHopFields(headers: HeaderFields): string[] {
  const connection = headers.connection
  const listed = (typeof connection === 'string' ? connection : '').split(',').map((name) => name.trim().toLowerCase())
  return [...new Set([...HOP_BY_HOP, ...listed])].filter((name) => !PROTECTED_FIELDS.has(name) && name in headers)
}

/** An absolute-form request-target (RFC 9112 §3.2.2) as a URL, or undefined when it is not one. */
export function parseAbsoluteForm(target: string): URL | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return undefined
  try {
    return new URL(target)
  } catch {
    return undefined
  }
}

/** The path and query of an absolute-form target exactly as sent (`/` when it has none), for the origin-form. */
export function rawPath(absoluteTarget: string): string {
  const rest = absoluteTarget.slice(absoluteTarget.indexOf('//') + 2)
  const start = rest.search(/[/?#]/)
  const path = start < 0 ? '/' : rest.slice(start).replace(/#.*$/, '')
  return path.startsWith('/') ? path : `/${path}`
}

/** The URL http-proxy-3 is given for a node target: only its origin counts, the path is the client's. */
export function targetUrl(target: ProbedTarget): URL {
  return new URL(`http://${hostPort(target.address, target.port)}`)
}
