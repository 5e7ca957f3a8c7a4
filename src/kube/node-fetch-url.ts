// The `url` module node-fetch gets in the bundle (scripts/build.mjs). node-fetch v2, which client-node's Watch uses,
// parses every request URL with the legacy url.parse() (node_modules/node-fetch/lib/index.js, parseURL). Node 24
// reports that as DEP0169 on stderr unless the caller sits in node_modules, which nothing bundled does, so every
// `serve` printed a DeprecationWarning the first time a watch started, breaking `--log-format json`. node-fetch
// normalizes absolute URLs with `new URL()` before parsing them; this module gives it the same fields from the
// WHATWG parser, and nothing else of node:url.
import {URL, urlToHttpOptions} from 'node:url'

export {URL}

/** The fields of url.parse()'s result, which node-fetch reads and hands on to http.request() as options. */
export interface LegacyUrl {
  href: string
  protocol: string | null
  slashes: boolean | null
  auth: string | null
  host: string | null
  port: string | null
  hostname: string | null
  hash: string | null
  search: string | null
  query: string | null
  pathname: string | null
  path: string | null
}

/**
 * url.parse() for what node-fetch passes it: an absolute URL as the WHATWG parser serialized it, or anything else
 * (a relative URL), which comes back without protocol and hostname so node-fetch rejects it ("Only absolute URLs are
 * supported"), as it does with url.parse()'s answer.
 */
export function parse(input: string): LegacyUrl {
  if (!URL.canParse(input)) {
    return {
      href: input,
      protocol: null,
      slashes: null,
      auth: null,
      host: null,
      port: null,
      hostname: null,
      hash: null,
      search: null,
      query: null,
      pathname: input,
      path: input,
    }
  }
  const url = new URL(input)
  // As url.parse(): a bare "?" is kept in the request target, and user info without a password has no colon.
  const search = url.search || (url.href.replace(/#.*/, '').endsWith('?') ? '?' : '')
  const user = decodeURIComponent(url.username)
  const password = decodeURIComponent(url.password)
  return {
    href: url.href,
    protocol: url.protocol,
    slashes: url.href.startsWith(`${url.protocol}//`),
    auth: user || password ? (password ? `${user}:${password}` : user) : null,
    host: url.host,
    port: url.port || null,
    // urlToHttpOptions: the hostname http.request() wants, an IPv6 address without its brackets.
    hostname: urlToHttpOptions(url).hostname ?? null,
    hash: url.hash || null,
    search: search || null,
    query: search ? search.slice(1) : null,
    pathname: url.pathname,
    path: `${url.pathname}${search}`,
  }
}

/** url.format() for parse()'s answers, the only objects node-fetch formats (Request#url). */
export function format(url: LegacyUrl): string {
  return url.href
}
