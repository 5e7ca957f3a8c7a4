import {describe, expect, it} from 'vitest'

import {checkRequestHost, isAllowedHost, type HostVerdict} from '../../src/proxy/host-check.js'
import {MAX_HEAD_BYTES} from '../../src/proxy/http-head.js'

const ALLOWED = new Set(['radarr.kube.internal', 'radarr.localhost', '127.77.0.5'])

describe('checkRequestHost', () => {
  const rows: Array<{case: string; bytes: string; verdict: HostVerdict}> = [
    {case: 'an allowed name', bytes: 'GET / HTTP/1.1\r\nHost: radarr.kube.internal\r\n\r\n', verdict: {pass: true}},
    {
      case: 'an allowed name in another case, with a port and a trailing dot',
      bytes: 'GET / HTTP/1.1\r\nhost:Radarr.Localhost.:8080 \r\n\r\n',
      verdict: {pass: true},
    },
    {
      case: 'the address with its port',
      bytes: 'GET / HTTP/1.1\r\nHost: 127.77.0.5:7878\r\n\r\n',
      verdict: {pass: true},
    },
    {case: 'no Host (HTTP/1.0 tools)', bytes: 'GET / HTTP/1.0\r\n\r\n', verdict: {pass: true}},
    {case: 'an empty Host', bytes: 'GET / HTTP/1.1\r\nHost:\r\n\r\n', verdict: {pass: true}},
    {
      case: 'another name',
      bytes: 'GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n',
      verdict: {refuse: 421, host: 'evil.example'},
    },
    {
      case: 'a name that only starts like an allowed one',
      bytes: 'GET / HTTP/1.1\r\nHost: radarr.kube.internal.evil.example\r\n\r\n',
      verdict: {refuse: 421, host: 'radarr.kube.internal.evil.example'},
    },
    {
      case: 'userinfo in Host',
      bytes: 'GET / HTTP/1.1\r\nHost: radarr.localhost@evil.example\r\n\r\n',
      verdict: {refuse: 421, host: 'radarr.localhost@evil.example'},
    },
    {
      case: 'any method, bare LF line ends',
      bytes: 'MKCALENDAR /x HTTP/1.1\nHost: evil.example\n\n',
      verdict: {refuse: 421, host: 'evil.example'},
    },
    {
      case: 'a second Host field',
      bytes: 'GET / HTTP/1.1\r\nHost: radarr.localhost\r\nX-A: 1\r\nHOST : evil.example\r\n\r\n',
      verdict: {refuse: 421, host: 'evil.example'},
    },
    {
      case: 'a folded Host field',
      bytes: 'GET / HTTP/1.1\r\nHost: radarr.localhost\r\n\tevil.example\r\n\r\n',
      verdict: {refuse: 421, host: 'radarr.localhost evil.example'},
    },
    {
      case: 'an absolute-form target for another host',
      bytes: 'GET http://evil.example:80/x HTTP/1.1\r\nHost: radarr.localhost\r\n\r\n',
      verdict: {refuse: 421, host: 'evil.example'},
    },
    {
      case: 'an absolute-form target for an allowed host',
      bytes: 'GET http://radarr.localhost/x HTTP/1.1\r\nHost: radarr.localhost\r\n\r\n',
      verdict: {pass: true},
    },
    {
      case: 'CONNECT to another host',
      bytes: 'CONNECT evil.example:443 HTTP/1.1\r\nHost: radarr.localhost\r\n\r\n',
      verdict: {refuse: 421, host: 'evil.example:443'},
    },
    {case: 'a head still arriving', bytes: 'GET / HTTP/1.1\r\nHost: evil.example\r\n', verdict: {wait: true}},
    {case: 'a request line still arriving', bytes: 'PROPFIND /a HTT', verdict: {wait: true}},
    {case: 'nothing yet', bytes: '', verdict: {wait: true}},
    {
      case: 'a head over the size limit',
      bytes: `GET / HTTP/1.1\r\nX-Big: ${'x'.repeat(MAX_HEAD_BYTES)}`,
      verdict: {refuse: 431, host: ''},
    },
    {case: 'an h2c preface', bytes: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', verdict: {pass: true}},
    {case: 'MQTT', bytes: '\x10\x1a\x00\x04MQTT', verdict: {pass: true}},
    {case: 'TLS', bytes: '\x16\x03\x01\x02\x00', verdict: {pass: true}},
    {case: 'a text protocol line', bytes: 'PING\r\n', verdict: {pass: true}},
    {case: 'a word longer than any method', bytes: 'x'.repeat(40), verdict: {pass: true}},
  ]
  it.each(rows)('$case', ({bytes, verdict}) => {
    expect(checkRequestHost(Buffer.from(bytes, 'latin1'), ALLOWED)).toEqual(verdict)
  })
  // Listeners pass the serve map's list of hosts as it is (listeners.ts): the same verdicts.
  it.each(rows)('$case (the allowed hosts as a list)', ({bytes, verdict}) => {
    expect(checkRequestHost(Buffer.from(bytes, 'latin1'), [...ALLOWED])).toEqual(verdict)
  })
})

describe('isAllowedHost', () => {
  const allowed = ['web.kube.internal', '*.apps.example.com', '127.77.0.9']
  const rows: Array<[string, boolean]> = [
    ['web.kube.internal', true],
    ['WEB.kube.internal.:8080', true],
    ['shop.apps.example.com', true],
    ['a.shop.apps.example.com', false],
    ['apps.example.com', false],
    ['127.77.0.9:80', true],
    ['other.kube.internal', false],
    ['', true],
  ]
  it.each(rows)('%s → %s, as a set and as a list', (host, want) => {
    expect([isAllowedHost(host, new Set(allowed)), isAllowedHost(host, allowed)]).toEqual([want, want])
  })
})
