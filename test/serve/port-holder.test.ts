import net from 'node:net'
import {describe, expect, it} from 'vitest'
import {findPortHolder, socketInodes} from '../../src/serve/port-holder.js'

// Lines in the form proc(5) gives for /proc/net/tcp (x86, little-endian: 127.0.0.1 is 0100007F).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:075B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:075B 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 20 4 30 10 -1
   3: 0201007F:075B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
`
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5555 2 0000000000000000 0
`

describe('socketInodes', () => {
  const cases: {name: string; table: string; ip: string; port: number; protocol: 'TCP' | 'UDP'; inodes: string[]}[] = [
    {
      name: 'a listener on the address and port',
      table: TCP,
      ip: '127.0.0.1',
      port: 1883,
      protocol: 'TCP',
      inodes: ['1111'],
    },
    {name: 'not a connection on that port', table: TCP, ip: '127.0.0.1', port: 1883, protocol: 'TCP', inodes: ['1111']},
    {name: 'a listener on every address', table: TCP, ip: '127.77.0.9', port: 8080, protocol: 'TCP', inodes: ['2222']},
    {name: 'another loopback address', table: TCP, ip: '127.0.1.2', port: 1883, protocol: 'TCP', inodes: ['4444']},
    {name: 'nothing there', table: TCP, ip: '127.0.0.1', port: 80, protocol: 'TCP', inodes: []},
    {name: 'a bound UDP socket', table: UDP, ip: '127.0.0.1', port: 53, protocol: 'UDP', inodes: ['5555']},
  ]
  it.each(cases)('$name', ({table, ip, port, protocol, inodes}) => {
    expect(socketInodes(table, ip, port, protocol, 'LE')).toEqual(inodes)
  })

  it('reads big-endian tables in their own byte order', () => {
    const be = TCP.replace('0100007F:075B 00000000', '7F000001:075B 00000000')
    expect(socketInodes(be, '127.0.0.1', 1883, 'TCP', 'BE')).toEqual(['1111'])
  })
})

describe.runIf(process.platform === 'linux')('findPortHolder', () => {
  it('names the process holding a TCP port (this one), and nothing for a free port', async () => {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const {port} = server.address() as net.AddressInfo
    try {
      expect(findPortHolder('127.0.0.1', port, 'TCP')).toMatch(new RegExp(` \\(pid ${process.pid}\\)$`))
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
    expect(findPortHolder('127.0.0.1', port, 'TCP')).toBeUndefined()
  })
})
