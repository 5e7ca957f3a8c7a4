import dgram from 'node:dgram'

import {describe, expect, it, onTestFinished} from 'vitest'

import {bindUdpResponder, rawUdp, type RawUdp} from '../../src/dns/udp-socket.js'
import {importLine, snippet} from '../run-snippet.js'

/** A UDP client on `address`; closed after the test. */
function client(address: string): dgram.Socket {
  const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4')
  onTestFinished(() => new Promise<void>((closed) => socket.close(() => closed())))
  return socket
}

/** Sends `text` to `port` and resolves with the first reply, or undefined when none comes within `waitMs`. */
function exchange(socket: dgram.Socket, address: string, port: number, text: string, waitMs = 1000) {
  return new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), waitMs)
    socket.once('message', (reply) => {
      clearTimeout(timer)
      resolve(reply.toString())
    })
    socket.send(text, port, address)
  })
}

async function bound(address: string, bindings: RawUdp | null, answer: Parameters<typeof bindUdpResponder>[2]) {
  const errors: Error[] = []
  const responder = await bindUdpResponder(address, 0, answer, (error) => errors.push(error), bindings)
  onTestFinished(() => responder.close())
  return {responder, errors}
}

describe("the DNS responder's UDP socket", () => {
  it("finds Node's UDP handle on this Node (20, 22 and 24 all have it: the responder answers on it)", () => {
    expect(rawUdp).toBeDefined()
  })

  describe.each([
    ['a UDP handle', rawUdp ?? null],
    ['dgram.Socket', null],
  ] as const)('on %s', (_, bindings) => {
    it('answers each datagram to its sender, with the address it came from, and sends nothing when told to', async () => {
      const seen: string[] = []
      const {responder, errors} = await bound('127.0.10.130', bindings, (message, from) => {
        seen.push(from)
        const text = message.toString()
        return text === 'quiet' ? undefined : Buffer.from(`re:${text}`)
      })
      expect(responder.port).toBeGreaterThan(0)
      const socket = client('127.0.10.131')
      socket.bind(0, '127.0.10.131')
      await new Promise((listening) => socket.once('listening', listening))
      expect(await exchange(socket, '127.0.10.130', responder.port, 'one')).toBe('re:one')
      expect(await exchange(socket, '127.0.10.130', responder.port, 'quiet', 200)).toBeUndefined()
      expect(await exchange(socket, '127.0.10.130', responder.port, 'two')).toBe('re:two')
      expect(seen).toEqual(['127.0.10.131', '127.0.10.131', '127.0.10.131'])
      expect(errors).toEqual([])
    })

    it('answers over IPv6 too', async () => {
      const {responder} = await bound('::1', bindings, (message) => Buffer.from(`v6:${message.toString()}`))
      expect(await exchange(client('::1'), '::1', responder.port, 'x')).toBe('v6:x')
    })

    it('rejects a taken port with its errno, and frees its own on close (twice is fine)', async () => {
      const {responder} = await bound('127.0.10.132', bindings, () => undefined)
      const taken = bindUdpResponder(
        '127.0.10.132',
        responder.port,
        () => undefined,
        () => {},
        bindings,
      )
      await expect(taken).rejects.toMatchObject({code: 'EADDRINUSE'})
      await Promise.all([responder.close(), responder.close()])
      const again = await bindUdpResponder(
        '127.0.10.132',
        responder.port,
        () => undefined,
        () => {},
        bindings,
      )
      onTestFinished(() => again.close())
      expect(again.port).toBe(responder.port)
    })
  })

  it('closes the handle when its bind fails, so nothing is left holding the event loop', async () => {
    if (!rawUdp) throw new Error('this Node has no UDP handle: the test above says so')
    const handles: {closed: boolean}[] = []
    const counting: RawUdp = {
      newSendReq: rawUdp.newSendReq,
      newHandle: () => {
        const handle = rawUdp!.newHandle()
        const entry = {closed: false}
        handles.push(entry)
        const close = handle.close.bind(handle)
        handle.close = (callback?: () => void) => {
          entry.closed = true
          close(callback)
        }
        return handle
      },
    }
    const first = await bindUdpResponder(
      '127.0.10.133',
      0,
      () => undefined,
      () => {},
      counting,
    )
    onTestFinished(() => first.close())
    await expect(
      bindUdpResponder(
        '127.0.10.133',
        first.port,
        () => undefined,
        () => {},
        counting,
      ),
    ).rejects.toThrow(/bind EADDRINUSE 127\.0\.10\.133:\d+/)
    expect(handles.map((h) => h.closed)).toEqual([false, true])
  })

  it('sends again with a request the kernel took at once, and leaves a queued one its reply and the request', async () => {
    if (!rawUdp) throw new Error('this Node has no UDP handle: the test above says so')
    // Every third send is reported as queued (0), as Node does when the kernel's buffer is full.
    const sends: {req: object; list: unknown}[] = []
    const queuing: RawUdp = {
      newSendReq: rawUdp.newSendReq,
      newHandle: () => {
        const handle = rawUdp!.newHandle()
        const send = handle.send.bind(handle)
        handle.send = (req, list, ...rest) => {
          const sent = send(req, list, ...rest)
          sends.push({req, list: undefined})
          return sends.length % 3 === 0 ? 0 : sent
        }
        return handle
      },
    }
    const {responder} = await bound('127.0.10.134', queuing, (message) => Buffer.from(`re:${message.toString()}`))
    const socket = client('127.0.10.134')
    for (const text of ['a', 'b', 'c', 'd', 'e']) {
      expect(await exchange(socket, '127.0.10.134', responder.port, text)).toBe(`re:${text}`)
    }
    for (const send of sends) send.list = (send.req as {list?: Uint8Array[]}).list?.map((b) => b.toString())
    const [first, second, third, fourth, fifth] = sends
    expect(second!.req).toBe(first!.req)
    expect(third!.req).toBe(first!.req)
    expect(third!.list).toEqual(['re:c'])
    expect(fourth!.req).not.toBe(third!.req)
    expect(fifth!.req).toBe(fourth!.req)
    expect(fifth!.list).toBeUndefined()
  })

  it('is not used when the user asked Node to warn about pending deprecations (process.binding is one)', async () => {
    const run = snippet(importLine('rawUdp', 'src/dns/udp-socket.ts') + "console.log(rawUdp ? 'handle' : 'dgram')\n")
    expect((await run()).stdout.trim()).toBe('handle')
    const flagged = await run(['--pending-deprecation'])
    expect(flagged.stdout.trim()).toBe('dgram')
    expect(flagged.stderr).not.toContain('DEP0111')
  })
})
