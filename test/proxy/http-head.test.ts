import {describe, expect, it} from 'vitest'

import {
  appendForwarded,
  forwardedHead,
  forwardedSuffix,
  hasForwardedFields,
  MAX_HEAD_BYTES,
  ResponseTracker,
  scanRequestHead,
  type RequestHead,
} from '../../src/proxy/http-head.js'
import {scanRequestHeadByRegex} from './http-head-oracle.js'
import {seededRandom} from '../seeded-random.js'

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1')

describe('scanRequestHead', () => {
  it('reads a plain keep-alive GET', () => {
    const text = 'GET /a?b=1 HTTP/1.1\r\nHost: web.home.test:8080\r\nAccept: */*\r\n\r\nGET /next'
    expect(scanRequestHead(bytes(text))).toEqual({
      head: {
        method: 'GET',
        target: '/a?b=1',
        host: 'web.home.test:8080',
        bodyLength: 0,
        close: false,
        length: text.indexOf('GET /next'),
        fields: [
          ['Host', 'web.home.test:8080'],
          ['Accept', '*/*'],
        ],
      },
    })
  })

  it('reads the body length and Connection: close', () => {
    const scan = scanRequestHead(bytes('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 7\r\nConnection: Close\r\n\r\n'))
    expect('head' in scan && {bodyLength: scan.head.bodyLength, close: scan.head.close}).toEqual({
      bodyLength: 7,
      close: true,
    })
  })

  it('waits for the rest of a head that has not ended, down to its first byte', () => {
    for (const start of ['GET / HTTP/1.1\r\nHost: a\r\n', 'OPTIONS /x', 'OPTIONS ', 'PAT', 'D', '']) {
      expect([start, scanRequestHead(bytes(start))]).toEqual([start, {partial: true}])
    }
  })

  it('tells another protocol from its first bytes, without waiting for a head to end', () => {
    const starts = ['PRI * HTTP/2.0\r\n', '\x10\x1a\x00\x04MQTT', '\x16\x03\x01', 'PING\r\n', 'GET http://x/', 'hello']
    for (const start of starts) {
      expect([start, scanRequestHead(bytes(start))]).toEqual([start, {other: 'request line'}])
    }
  })

  const others: Array<[string, string, string]> = [
    ['a bare LF', 'GET / HTTP/1.1\nHost: a\n\n', 'bare LF'],
    ['a bare LF in a head still arriving', 'GET / HTTP/1.1\r\nHost: a\nX-A', 'bare LF'],
    ['Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', 'transfer-encoding'],
    [
      'two Content-Lengths',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n',
      'repeated content-length',
    ],
    [
      'a Content-Length that is not a number',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n',
      'content-length',
    ],
    ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 'repeated host'],
    ['no Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 'no host'],
    ['an absolute-form target', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n', 'request line'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n', 'request line'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n', 'request line'],
    ['an obs-fold line', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n', 'field line'],
    ['a control character in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n', 'field line'],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 'field line'],
    [
      'a WebSocket upgrade',
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      'upgrade',
    ],
    [
      'a Connection option other than keep-alive or close',
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: TE\r\n\r\n',
      'connection',
    ],
    ['Expect', 'PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n', 'expect'],
    ['a hop-by-hop Keep-Alive field', 'GET / HTTP/1.1\r\nHost: a\r\nKeep-Alive: timeout=5\r\n\r\n', 'keep-alive'],
    [
      'two X-Forwarded-For fields',
      'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1\r\nX-Forwarded-For: 2\r\n\r\n',
      'repeated x-forwarded-for',
    ],
    [
      'a head over the size limit',
      `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'x'.repeat(MAX_HEAD_BYTES)}`,
      'head too large',
    ],
  ]
  it.each(others)('leaves %s to the slow path', (_name, text, why) => {
    expect(scanRequestHead(bytes(text))).toEqual({other: why})
  })

  // A per-service address forwards heads byte for byte: it takes HTTP/1.0 too (ScanOptions.http10).
  const http10: Array<[string, string, Partial<RequestHead> | {other: string}]> = [
    ['HTTP/1.0, which closes by default', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n', {host: 'a', close: true}],
    ['HTTP/1.0 asking for keep-alive', 'GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n', {close: false}],
    ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', {host: '', close: true}],
    ['HTTP/1.1 with Connection: close', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', {close: true}],
    ['HTTP/1.1 without Host, still', 'GET / HTTP/1.1\r\n\r\n', {other: 'no host'}],
  ]
  it.each(http10)('with http10, reads %s', (_name, text, want) => {
    const scan = scanRequestHead(bytes(text), {http10: true})
    if ('other' in want) expect(scan).toEqual(want)
    else expect(scan).toMatchObject({head: want})
  })
})

describe('scanRequestHead against the regex oracle', () => {
  const random = seededRandom(20261203)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  const corpus = [
    'GET / HTTP/1.1\r\nHost: 127.0.30.5:80\r\n\r\n',
    'POST /api?x=1 HTTP/1.1\r\nhost: radarr.kube.internal\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello',
    'GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: a\r\n\r\n',
    'HEAD /b HTTP/1.1\r\nHost: a\r\nAccept:\t*/* \t\r\nCookie: s=1; t=2\r\nConnection: close\r\n\r\nGET /next',
  ]
  // Pieces that change a verdict: line ends, whitespace, controls, latin1 spaces, and the names the scan looks for.
  const pieces = [
    '\r',
    '\n',
    '\r\n',
    ' ',
    '\t',
    ':',
    '\x00',
    '\x7f',
    '\xa0',
    'a',
    'Z',
    '/',
    '0',
    '+5',
    'HTTP/1.0',
    '\r\nHost: b',
    '\r\nhost: c:8080',
    '\r\nContent-Length: 7',
    '\r\ncontent-length: x',
    '\r\nConnection: TE',
    '\r\nconnection: close',
    '\r\nTransfer-Encoding: chunked',
    '\r\nUpgrade: h2c',
    '\r\nExpect: 100-continue',
    '\r\nX-Forwarded-For: 1',
    '\r\nx-forwarded-host: h',
    '\r\nTE: trailers',
    '\r\nX-Long: ' + 'v'.repeat(300),
  ]
  function mutate(text: string): string {
    let out = text
    for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
      const at = Math.floor(random() * (out.length + 1))
      const cut = random() < 0.3 ? Math.floor(random() * 4) : 0
      out = out.slice(0, at) + (random() < 0.8 ? pick(pieces) : '') + out.slice(at + cut)
    }
    return out
  }

  it('gives the same verdict on 20,000 mutated heads, with and without HTTP/1.0', () => {
    const differ: string[] = []
    const verdicts = new Set<string>()
    for (let i = 0; i < 20_000; i++) {
      const text = mutate(pick(corpus))
      const options = {http10: random() < 0.5}
      const want = scanRequestHeadByRegex(bytes(text), options)
      const got = scanRequestHead(bytes(text), options)
      verdicts.add('head' in want ? 'head' : 'partial' in want ? 'partial' : want.other)
      if (JSON.stringify(got) !== JSON.stringify(want)) differ.push(JSON.stringify(text))
    }
    expect(differ.slice(0, 5)).toEqual([])
    // The mutations reach every kind of verdict, so agreeing means something.
    for (const verdict of ['head', 'partial', 'bare LF', 'request line', 'field line', 'repeated host', 'connection']) {
      expect([verdict, verdicts.has(verdict)]).toEqual([verdict, true])
    }
  })
})

describe('forwardedHead', () => {
  const head = (fields: Array<[string, string]>, host = 'web.home.test:8080'): RequestHead => ({
    method: 'GET',
    target: '/x',
    host,
    bodyLength: 0,
    close: false,
    length: 0,
    fields: [['Host', host], ...fields],
  })

  it('adds X-Forwarded-For, -Port, -Proto and -Host as http-proxy-3 does', () => {
    expect(forwardedHead(head([['Accept', '*/*']]), '127.0.0.1').toString('latin1')).toEqual(
      'GET /x HTTP/1.1\r\nHost: web.home.test:8080\r\nAccept: */*\r\n' +
        'x-forwarded-for: 127.0.0.1\r\nx-forwarded-port: 8080\r\nx-forwarded-proto: http\r\n' +
        'x-forwarded-host: web.home.test:8080\r\n\r\n',
    )
  })

  it("appends to the client's own X-Forwarded values and keeps its X-Forwarded-Host", () => {
    const sent = head(
      [
        ['X-Forwarded-For', '10.1.1.1'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'outer.example'],
      ],
      'web.home.test',
    )
    expect(forwardedHead(sent, '127.0.0.2').toString('latin1')).toEqual(
      'GET /x HTTP/1.1\r\nHost: web.home.test\r\nX-Forwarded-For: 10.1.1.1,127.0.0.2\r\n' +
        'X-Forwarded-Proto: https,http\r\nX-Forwarded-Host: outer.example\r\nx-forwarded-port: 80\r\n\r\n',
    )
  })
})

describe('appendForwarded', () => {
  const scanned = (text: string): RequestHead => {
    const scan = scanRequestHead(bytes(text))
    if (!('head' in scan)) throw new Error(`not a plain head: ${JSON.stringify(text)}`)
    return scan.head
  }
  const heads = [
    'GET / HTTP/1.1\r\nHost: web.kube.internal\r\n\r\n',
    'GET /a?b=1 HTTP/1.1\r\nhost:web.home.test:8080\r\nAccept:\t*/* \t\r\nCookie: s=1; t=2\r\n\r\nGET /next',
    'POST /api HTTP/1.1\r\nHost: [::1]:8443\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello',
    'DELETE /x HTTP/1.1\r\nX-Forwarded: not-one-of-ours\r\nHost: [fd00::1]\r\n\r\n',
  ]

  it.each(heads)('gives the node the same head as forwardedHead for %j', (text) => {
    const head = scanned(text)
    expect(hasForwardedFields(head)).toBe(false)
    const appended = appendForwarded(bytes(text), head, forwardedSuffix(head.host, '127.0.0.9'))
    const rebuilt = forwardedHead(head, '127.0.0.9')
    // The client's lines keep their spacing; read as a server reads them, the two heads are the same.
    const {length: _a, ...fromAppended} = scanned(appended.toString('latin1'))
    const {length: _b, ...fromRebuilt} = scanned(rebuilt.toString('latin1'))
    expect(fromAppended).toEqual(fromRebuilt)
    expect(appended.subarray(0, head.length - 2)).toEqual(bytes(text).subarray(0, head.length - 2))
    expect(appended.toString('latin1').endsWith('\r\n\r\n')).toBe(true)
  })

  it('names the port of an IPv6 Host value, not a digit inside the address', () => {
    expect(forwardedSuffix('[::1]:8080', '::1').toString('latin1')).toContain('x-forwarded-port: 8080\r\n')
    expect(forwardedSuffix('[::1]', '::1').toString('latin1')).toContain('x-forwarded-port: 80\r\n')
    expect(forwardedHead(scanned('GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n'), '::1').toString('latin1')).toContain(
      'x-forwarded-port: 80\r\n',
    )
  })

  it('leaves heads with X-Forwarded fields of their own to forwardedHead', () => {
    for (const name of ['X-Forwarded-For', 'x-forwarded-port', 'X-FORWARDED-PROTO', 'X-Forwarded-Host']) {
      expect([name, hasForwardedFields(scanned(`GET / HTTP/1.1\r\nHost: a\r\n${name}: b\r\n\r\n`))]).toEqual([
        name,
        true,
      ])
    }
  })
})

describe('ResponseTracker', () => {
  /** Feeds `pieces` one by one and says after each whether every request had its whole response. */
  function follow(methods: string[], pieces: string[]): {idle: boolean[]; framed: boolean} {
    const tracker = new ResponseTracker()
    for (const method of methods) tracker.request(method)
    const idle = pieces.map((piece) => {
      tracker.feed(bytes(piece))
      return tracker.idle
    })
    return {idle, framed: tracker.framed}
  }

  const cases: Array<{name: string; methods: string[]; pieces: string[]; idle: boolean[]; framed?: boolean}> = [
    {
      name: 'a Content-Length body, in pieces',
      methods: ['GET'],
      pieces: ['HTTP/1.1 200 OK\r\nContent-Le', 'ngth: 5\r\n\r\nhel', 'lo'],
      idle: [false, false, true],
    },
    {
      name: 'two pipelined responses in one piece',
      methods: ['GET', 'GET'],
      pieces: ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'],
      idle: [true],
    },
    {
      name: 'a chunked body with a chunk extension and a trailer, split everywhere',
      methods: ['POST'],
      pieces: [
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r',
        '\nhel',
        'lo\r\n0\r\nX-Sum: 1\r\n',
        '\r\n',
      ],
      idle: [false, false, false, true],
    },
    {
      name: 'a chunked body without trailers',
      methods: ['GET'],
      pieces: ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'],
      idle: [true],
    },
    {
      name: 'HEAD, 204 and 304 answers without a body whatever their Content-Length',
      methods: ['HEAD', 'GET', 'GET'],
      pieces: [
        'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n',
        'HTTP/1.1 204 No Content\r\n\r\n',
        'HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n',
      ],
      idle: [false, false, true],
    },
    {
      name: 'an interim 100 Continue before the final response',
      methods: ['PUT'],
      pieces: ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n'],
      idle: [false, true],
    },
    {
      name: 'a body that ends at close',
      methods: ['GET'],
      pieces: ['HTTP/1.1 200 OK\r\n\r\nstreaming'],
      idle: [false],
      framed: false,
    },
    {
      name: 'a response nobody asked for',
      methods: [],
      pieces: ['HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'],
      idle: [false],
      framed: false,
    },
  ]
  it.each(cases)('follows $name', ({methods, pieces, idle, framed = true}) => {
    expect(follow(methods, pieces)).toEqual({idle, framed})
  })

  it.each(cases)('follows $name cut at every byte, and its last piece whole, the same way', ({methods, pieces}) => {
    const stream = pieces.join('')
    const whole = follow(methods, [stream])
    for (let cut = 1; cut < stream.length; cut++) {
      const split = follow(methods, [stream.slice(0, cut), stream.slice(cut)])
      expect({cut, idle: split.idle[1], framed: split.framed}).toEqual({cut, idle: whole.idle[0], framed: whole.framed})
    }
    // Reads of one byte each: every line and head arrives in pieces.
    const single = follow(methods, [...stream])
    expect({idle: single.idle.at(-1), framed: single.framed}).toEqual({idle: whole.idle[0], framed: whole.framed})
  })

  it('reads a head that ends just within MAX_HEAD_BYTES of one read, and gives up on a longer one', () => {
    const head = (length: number): string => {
      const start = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-pad: '
      return `${start}${'p'.repeat(length - start.length - 4)}\r\n\r\n`
    }
    for (const [length, idle, framed] of [
      [MAX_HEAD_BYTES, true, true],
      [MAX_HEAD_BYTES + 1, false, false],
    ] as const) {
      const tracker = new ResponseTracker()
      tracker.request('GET')
      tracker.feed(bytes(`${head(length)}ok`))
      const afterHead = tracker.idle
      tracker.feed(bytes('x'.repeat(64 * 1024)))
      expect({length, idle: afterHead, framed: tracker.framed}).toEqual({length, idle, framed})
    }
  })
})
