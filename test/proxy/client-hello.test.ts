// The ClientHello reader against real hellos (Node's TLS client, captured on a loopback socket) and hand-built ones:
// whole, cut short at every byte, fragmented over several records, without SNI, and malformed.
import {beforeAll, describe, expect, it} from 'vitest'
import {MAX_HELLO_BYTES, scanClientHello} from '../../src/proxy/client-hello.js'
import {captureClientHello} from './tls-hello.js'

/** Splits the handshake inside one record into records of at most `size` bytes (RFC 8446 §5.1 allows it). */
function fragment(record: Buffer, size: number): Buffer {
  const body = record.subarray(5)
  const parts: Buffer[] = []
  for (let at = 0; at < body.length; at += size) {
    const piece = body.subarray(at, at + size)
    parts.push(Buffer.from([22, 3, 1, piece.length >> 8, piece.length & 255]), piece)
  }
  return Buffer.concat(parts)
}

/** A ClientHello record built by hand with the given extensions (type, data). */
function handHello(extensions: Array<[number, Buffer]>): Buffer {
  const ext = Buffer.concat(extensions.map(([type, data]) => Buffer.concat([u16(type), u16(data.length), data])))
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32),
    Buffer.from([0]), // session id
    u16(2),
    Buffer.from([0x13, 0x01]), // TLS_AES_128_GCM_SHA256
    Buffer.from([1, 0]), // null compression
    ...(extensions.length > 0 ? [u16(ext.length), ext] : []),
  ])
  const handshake = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body])
  return Buffer.concat([Buffer.from([22, 3, 1, handshake.length >> 8, handshake.length & 255]), handshake])
}

function u16(n: number): Buffer {
  return Buffer.from([n >> 8, n & 255])
}

function sni(name: string): [number, Buffer] {
  const host = Buffer.from(name, 'latin1')
  const entry = Buffer.concat([Buffer.from([0]), u16(host.length), host])
  return [0, Buffer.concat([u16(entry.length), entry])]
}

let real: Buffer
let withoutSni: Buffer

beforeAll(async () => {
  real = await captureClientHello('radarr.home.example.com')
  withoutSni = await captureClientHello('')
})

describe('scanClientHello with real hellos', () => {
  it("reads Node's ClientHello server name", () => {
    expect(scanClientHello(real)).toEqual({kind: 'hello', serverName: 'radarr.home.example.com'})
  })

  it('asks for more at every length short of the whole hello', () => {
    const length = 5 + real.readUInt16BE(3)
    for (let cut = 0; cut < length; cut++) expect(scanClientHello(real.subarray(0, cut))).toEqual({kind: 'more'})
  })

  it('reads a hello fragmented over records of 1, 7 and 100 bytes, and asks for more before its end', () => {
    for (const size of [1, 7, 100]) {
      const pieces = fragment(real.subarray(0, 5 + real.readUInt16BE(3)), size)
      expect(scanClientHello(pieces)).toEqual({kind: 'hello', serverName: 'radarr.home.example.com'})
      expect(scanClientHello(pieces.subarray(0, pieces.length - 1))).toEqual({kind: 'more'})
    }
  })

  it('reads a hello without server name as such (Node sends none for an empty servername)', () => {
    expect(scanClientHello(withoutSni)).toEqual({kind: 'hello'})
  })
})

describe('scanClientHello with hand-built input', () => {
  it.each([
    [
      'an upper-case name with a trailing dot',
      handHello([[10, Buffer.from([0, 2, 0, 29])], sni('Radarr.Home.Example.COM.')]),
      {kind: 'hello', serverName: 'radarr.home.example.com'},
    ],
    ['no extensions at all', handHello([]), {kind: 'hello'}],
    ['extensions without server_name', handHello([[16, Buffer.from([0, 3, 2, 104, 50])]]), {kind: 'hello'}],
    [
      'HTTP instead of TLS',
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      {kind: 'invalid', reason: 'not a TLS handshake'},
    ],
    [
      'a name with a space',
      handHello([sni('bad name.example.com')]),
      {kind: 'invalid', reason: 'malformed server_name: not a host name'},
    ],
    ['an empty name', handHello([sni('')]), {kind: 'invalid', reason: 'malformed server_name: empty host name'}],
  ])('%s', (_case, bytes, expected) => {
    expect(scanClientHello(bytes)).toEqual(expected)
  })

  it('refuses a record other than handshake before the hello is whole', () => {
    const hello = handHello([sni('a.example.com')])
    const split = fragment(hello, 20)
    const appData = Buffer.from([23, 3, 3, 0, 1, 0])
    expect(scanClientHello(Buffer.concat([split.subarray(0, 25), appData]))).toEqual({
      kind: 'invalid',
      reason: 'a record other than handshake before the ClientHello ended',
    })
  })

  it('refuses a hello that claims more than MAX_HELLO_BYTES, before reading it', () => {
    const size = MAX_HELLO_BYTES + 1
    const head = Buffer.from([22, 3, 1, 0, 4, 1, size >> 16, (size >> 8) & 255, size & 255])
    expect(scanClientHello(head)).toEqual({kind: 'invalid', reason: `ClientHello of ${size + 4} bytes is too large`})
  })

  it('refuses a first handshake message that is not a ClientHello, and extensions running past the end', () => {
    const serverHello = Buffer.from([22, 3, 3, 0, 4, 2, 0, 0, 0])
    expect(scanClientHello(serverHello)).toEqual({
      kind: 'invalid',
      reason: 'the first handshake message is not a ClientHello',
    })
    const hello = handHello([sni('a.example.com')])
    const at = hello.length - 22 - 2 // the extensions' length, before the one 22-byte server_name extension
    expect(hello.readUInt16BE(at)).toBe(22)
    hello.writeUInt16BE(22 + 50, at)
    expect(scanClientHello(hello)).toEqual({kind: 'invalid', reason: 'malformed ClientHello: extensions cut short'})
  })
})
