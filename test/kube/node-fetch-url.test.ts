// The url module node-fetch gets in the bundle: url.parse()'s fields for the URLs node-fetch parses (absolute ones
// already serialized by `new URL()`), without calling url.parse() (DEP0169 on Node 24).
import {describe, expect, it} from 'vitest'
import {format, parse, type LegacyUrl} from '../../src/kube/node-fetch-url.js'

/** url.parse()'s answer for an https URL with only a host and path; rows override the rest. */
const legacy = (fields: Partial<LegacyUrl>): LegacyUrl => ({
  href: '',
  protocol: 'https:',
  slashes: true,
  auth: null,
  host: null,
  port: null,
  hostname: null,
  hash: null,
  search: null,
  query: null,
  pathname: '/',
  path: '/',
  ...fields,
})

const ROWS: {case: string; input: string; parsed: LegacyUrl}[] = [
  {
    case: 'a watch on the API server: port and query kept, as http.request() needs them',
    input: 'https://127.0.0.1:6443/api/v1/services?watch=true&resourceVersion=5',
    parsed: legacy({
      href: 'https://127.0.0.1:6443/api/v1/services?watch=true&resourceVersion=5',
      host: '127.0.0.1:6443',
      port: '6443',
      hostname: '127.0.0.1',
      search: '?watch=true&resourceVersion=5',
      query: 'watch=true&resourceVersion=5',
      pathname: '/api/v1/services',
      path: '/api/v1/services?watch=true&resourceVersion=5',
    }),
  },
  {
    case: 'an IPv6 API server: brackets in host, none in hostname',
    input: 'https://[fd00::1]:6443/api',
    parsed: legacy({
      href: 'https://[fd00::1]:6443/api',
      host: '[fd00::1]:6443',
      port: '6443',
      hostname: 'fd00::1',
      pathname: '/api',
      path: '/api',
    }),
  },
  {
    case: 'user info: decoded in auth; href as the WHATWG parser wrote it',
    input: 'http://u%40x:p%3Aw@kube.example/#top',
    parsed: legacy({
      href: 'http://u%40x:p%3Aw@kube.example/#top',
      protocol: 'http:',
      auth: 'u@x:p:w',
      host: 'kube.example',
      hostname: 'kube.example',
      hash: '#top',
    }),
  },
  {
    case: 'a user without a password',
    input: 'https://admin@kube.example/',
    parsed: legacy({
      href: 'https://admin@kube.example/',
      auth: 'admin',
      host: 'kube.example',
      hostname: 'kube.example',
    }),
  },
  {
    case: 'a bare "?" stays in the request target',
    input: 'https://kube.example/api?',
    parsed: legacy({
      href: 'https://kube.example/api?',
      host: 'kube.example',
      hostname: 'kube.example',
      search: '?',
      query: '',
      pathname: '/api',
      path: '/api?',
    }),
  },
  {
    case: 'a relative URL: no protocol or hostname, so node-fetch refuses it',
    input: '/api/v1/nodes',
    parsed: legacy({
      href: '/api/v1/nodes',
      protocol: null,
      slashes: null,
      pathname: '/api/v1/nodes',
      path: '/api/v1/nodes',
    }),
  },
]

describe('parse', () => {
  it.each(ROWS)('$case', ({input, parsed}) => {
    expect(parse(input)).toEqual(parsed)
  })
})

describe('format', () => {
  it("gives back the parsed URL's href (node-fetch's Request#url)", () => {
    expect(format(parse('https://[fd00::1]:6443/api?watch=1'))).toBe('https://[fd00::1]:6443/api?watch=1')
  })
})
