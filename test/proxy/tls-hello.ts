// The ClientHello a real TLS client sends (Node's), captured on loopback: for the ClientHello reader's tests, the
// SNI listener's tests and the SNI bench.
import net from 'node:net'
import tls from 'node:tls'
import {scanClientHello} from '../../src/proxy/client-hello.js'

/** The first flight of Node's TLS client for `servername` ('' for none), read by a plain TCP server. */
export async function captureClientHello(servername: string): Promise<Buffer> {
  let bytes = Buffer.alloc(0)
  const server = net.createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk])
      if (scanClientHello(bytes).kind !== 'more') socket.destroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => {
    const client = tls.connect({host: '127.0.0.1', port, servername, rejectUnauthorized: false})
    client.on('error', () => resolve())
    client.on('close', () => resolve())
  })
  await new Promise<void>((resolve) => server.close(() => resolve()))
  const scan = scanClientHello(bytes)
  if (scan.kind !== 'hello' || (scan.serverName ?? '') !== servername)
    throw new Error(`no ClientHello for "${servername}"`)
  return bytes
}
