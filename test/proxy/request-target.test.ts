import {describe, expect, it} from 'vitest'

import {
  countHostLines,
  hopByHopFields,
  isLoopbackHost,
  parseAbsoluteForm,
  rawPath,
} from '../../src/proxy/request-target.js'

describe('rawPath', () => {
  const cases: Array<{target: string; want: string}> = [
    {target: 'http://web.home.test', want: '/'},
    {target: 'http://web.home.test/a/../b?x=1', want: '/a/../b?x=1'},
    {target: 'http://web.home.test?x=1', want: '/?x=1'},
    {target: 'http://web.home.test/p#frag', want: '/p'},
    {target: 'http://web.home.test:8080/%7Euser', want: '/%7Euser'},
  ]
  for (const {target, want} of cases) {
    it(`keeps ${JSON.stringify(want)} of ${JSON.stringify(target)} as sent`, () => {
      expect(rawPath(target)).toEqual(want)
    })
  }
})

describe('parseAbsoluteForm', () => {
  it('reads an absolute-form target and refuses anything else', () => {
    expect(parseAbsoluteForm('http://web.home.test:8080/x')?.host).toEqual('web.home.test:8080')
    expect(parseAbsoluteForm('https://example.com/')?.protocol).toEqual('https:')
    expect(parseAbsoluteForm('web.home.test:443')).toBeUndefined()
    expect(parseAbsoluteForm('*')).toBeUndefined()
    expect(parseAbsoluteForm('http://[bad/')).toBeUndefined()
  })
})

describe('isLoopbackHost', () => {
  const cases: Array<[string, boolean]> = [
    ['localhost', true],
    ['LocalHost.:8080', true],
    ['radarr.localhost', true],
    ['radarr.media.localhost:8080', true],
    ['127.0.0.1:8080', true],
    ['127.77.0.5', true],
    ['[::1]:8080', true],
    ['[::1]', true],
    ['localhost.evil.example', false],
    ['evil-localhost', false],
    ['127.0.0.1.evil.example', false],
    ['128.0.0.1', false],
    ['192.168.1.10:80', false],
    ['[::2]:8080', false],
    ['radarr.kube.internal', false],
    ['', false],
  ]
  it.each(cases)('%s → %s', (host, want) => {
    expect(isLoopbackHost(host)).toBe(want)
  })
})

describe('countHostLines', () => {
  it('counts Host field lines whatever their case', () => {
    expect(countHostLines(['Host', 'a', 'accept', '*/*', 'HOST', 'b'])).toEqual(2)
    expect(countHostLines(['accept', '*/*'])).toEqual(0)
  })
})

describe('hopByHopFields', () => {
  const cases: Array<{case: string; headers: Record<string, string>; want: string[]}> = [
    {case: 'none present', headers: {host: 'a', accept: '*/*'}, want: []},
    {
      case: 'the fixed list',
      headers: {connection: 'keep-alive', 'keep-alive': 'timeout=5', te: 'trailers', upgrade: 'websocket'},
      want: ['connection', 'keep-alive', 'te', 'upgrade'],
    },
    {
      case: 'fields Connection names',
      headers: {connection: 'close, X-Trace', 'x-trace': '1'},
      want: ['connection', 'x-trace'],
    },
    {
      case: 'never Host or framing, even when named',
      headers: {connection: 'host, content-length, transfer-encoding', host: 'a', 'content-length': '1'},
      want: ['connection'],
    },
  ]
  for (const {case: name, headers, want} of cases) {
    it(name, () => {
      expect(hopByHopFields(headers)).toEqual(want)
    })
  }
})
