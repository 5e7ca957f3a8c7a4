// The DNS rebinding guard of per-service addresses. A page on another site can make its own name resolve to a
// loopback address (https://en.wikipedia.org/wiki/DNS_rebinding; browsers only begin to stop it: Chromium's Private
// Network Access, https://github.com/WICG/private-network-access/blob/main/explainer.md), and the browser then lets
// the page read what that address answers: for the browser it comes from the page's own origin. The requests still carry the page's
// name in Host, so a port in http mode answers only the Service's own names (ForwardListener.hosts, from the serve
// map) and refuses the rest with 421 Misdirected Request (RFC 9110 §15.5.20). Every first request of a connection is
// checked, whatever its method or form, before a byte of it reaches a node; a browser keeps each connection to one
// origin, so the later requests on it name the same host. Pure: bytes in, verdicts out.
import {MAX_HEAD_BYTES} from './http-head.js'
import {normalizeHost, parseAbsoluteForm} from './request-target.js'

/** `pass`: no request for another host (or no HTTP at all); `wait`: more bytes decide; `refuse`: answer and close. */
export type HostVerdict = {pass: true} | {wait: true} | {refuse: 421 | 431; host: string}

/** What the first request of a connection names (requestHosts). */
export type HostScan = {hosts: string[]} | {wait: true} | {notHttp: true} | {tooLarge: true}

/** RFC 9110 §5.6.2 token characters. */
const TCHAR = "[!#$%&'*+.^_`|~0-9A-Za-z-]"
/** Longer than any registered method (UPDATEREDIRECTREF has 17), so other protocols are told apart early. */
const MAX_METHOD = 32
const METHOD = `${TCHAR}{1,${MAX_METHOD}}`
/** RFC 9112 §3: method SP request-target SP HTTP-version; the target in any form, the version 1.0 or 1.1. */
const REQUEST_LINE = new RegExp(`^(${METHOD}) ([!-~]+) HTTP/1\\.[01]$`)
/** What a request line can be while it is still arriving. */
const REQUEST_LINE_START = new RegExp(
  `^(?:${TCHAR}{0,${MAX_METHOD}}|${METHOD} [!-~]*|${METHOD} [!-~]+ (?:H(?:T(?:T(?:P(?:/(?:1(?:\\.[01]?)?)?)?)?)?)?)?\\r?)$`,
)

/**
 * The hosts the request at the start of `bytes` names: its Host field values (every one, even folded or malformed,
 * as a lenient server may read them) and the authority of an absolute-form or CONNECT target (RFC 9112 §3.2.2,
 * §3.2.3). `wait` until its head has arrived; `notHttp` when the first line is no HTTP/1 request line.
 */
export function requestHosts(bytes: Buffer): HostScan {
  const text = bytes.toString('latin1', 0, Math.min(bytes.length, MAX_HEAD_BYTES))
  const lineEnd = text.indexOf('\n')
  if (lineEnd < 0) {
    if (!REQUEST_LINE_START.test(text)) return {notHttp: true}
    return bytes.length >= MAX_HEAD_BYTES ? {tooLarge: true} : {wait: true}
  }
  const request = REQUEST_LINE.exec(text.slice(0, lineEnd).replace(/\r$/, ''))
  if (!request) return {notHttp: true}
  const [, method = '', target = ''] = request
  const hosts: string[] = []
  if (method === 'CONNECT') hosts.push(target)
  else if (!target.startsWith('/') && target !== '*') hosts.push(parseAbsoluteForm(target)?.host ?? target)
  let folding = false
  for (let at = lineEnd + 1; ;) {
    const next = text.indexOf('\n', at)
    if (next < 0) return bytes.length >= MAX_HEAD_BYTES ? {tooLarge: true} : {wait: true}
    const line = text.slice(at, next).replace(/\r$/, '')
    at = next + 1
    if (line === '') return {hosts}
    // obs-fold (RFC 9112 §5.2): a line that starts with white space continues the field before it.
    if (/^[ \t]/.test(line)) {
      if (folding) hosts[hosts.length - 1] += ` ${line.trim()}`
      continue
    }
    const colon = line.indexOf(':')
    folding = colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'host'
    if (folding) hosts.push(line.slice(colon + 1).trim())
  }
}

/**
 * The names and addresses a port answers: a set, or the serve map's own list of a listener (listeners.ts: a few
 * names each, and thousands of listeners at scale, so no Set of its own per listener).
 */
export type AllowedHosts = ReadonlySet<string> | readonly string[]

function allows(allowed: AllowedHosts, name: string): boolean {
  return 'includes' in allowed ? allowed.includes(name) : allowed.has(name)
}

/**
 * Whether a Host value may be served on an address that answers `allowed` (lowercase names and addresses, no
 * port). An empty value passes: no browser sends one (the Fetch standard always sets Host), and HTTP/1.0 tools
 * may send none.
 */
export function isAllowedHost(host: string, allowed: AllowedHosts): boolean {
  if (host.trim() === '') return true
  const name = normalizeHost(host)
  if (name === undefined) return false
  if (allows(allowed, name)) return true
  // A wildcard Ingress host (`*.apps.example.com`) allows any one label in front of its domain.
  const dot = name.indexOf('.')
  return dot > 0 && allows(allowed, `*${name.slice(dot)}`)
}

/** The verdict on the first bytes of a connection to a port that answers `allowed`. */
export function checkRequestHost(bytes: Buffer, allowed: AllowedHosts): HostVerdict {
  const scan = requestHosts(bytes)
  if ('wait' in scan) return scan
  if ('notHttp' in scan) return {pass: true}
  // Its Host cannot be checked: refused as the router refuses a head over Node's limit.
  if ('tooLarge' in scan) return {refuse: 431, host: ''}
  const other = scan.hosts.find((host) => !isAllowedHost(host, allowed))
  return other === undefined ? {pass: true} : {refuse: 421, host: other}
}
