// Who holds an address and port serve could not bind: on Linux, the socket tables in /proc/net (proc(5):
// /proc/net/tcp, /proc/net/udp) give the socket's inode, and the /proc/<pid>/fd links of the processes we may read
// give its owner. Elsewhere, or without the right to read the owner's fds, there is no name: callers say
// "another program".
import {readdirSync, readFileSync, readlinkSync} from 'node:fs'
import {endianness} from 'node:os'
import {readInstanceRecord} from './instance.js'

/** TCP_LISTEN in the `st` column of /proc/net/tcp (include/net/tcp_states.h); a bound UDP socket shows TCP_CLOSE. */
const LISTEN = '0A'
const UDP_BOUND = '07'

/** An IPv4 address as /proc/net/tcp writes it: the 32-bit value in the machine's byte order, in hex. */
function procHex(ip: string, order: 'LE' | 'BE'): string {
  const bytes = Buffer.from(ip.split('.').map(Number))
  const value = order === 'LE' ? bytes.readUInt32LE(0) : bytes.readUInt32BE(0)
  return value.toString(16).toUpperCase().padStart(8, '0')
}

/**
 * The inodes of the sockets in `table` (the text of /proc/net/tcp or /proc/net/udp) bound to `port` on `ip` or on
 * every address (0.0.0.0), listening (TCP) or bound (UDP). Pure.
 */
export function socketInodes(
  table: string,
  ip: string,
  port: number,
  protocol: 'TCP' | 'UDP',
  order: 'LE' | 'BE' = endianness(),
): string[] {
  const wanted = new Set(
    [`${procHex(ip, order)}:`, '00000000:'].map((a) => a + port.toString(16).toUpperCase().padStart(4, '0')),
  )
  const state = protocol === 'TCP' ? LISTEN : UDP_BOUND
  const inodes: string[] = []
  for (const line of table.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
    const fields = line.trim().split(/\s+/)
    if (fields.length < 10 || !wanted.has(fields[1] ?? '') || fields[3] !== state) continue
    inodes.push(fields[9]!)
  }
  return inodes
}

/** The pid whose open files include one of the sockets, among the processes this one may look into. */
function ownerOf(inodes: string[]): number | undefined {
  const links = new Set(inodes.map((inode) => `socket:[${inode}]`))
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${entry}/fd`)
    } catch {
      continue // another user's process, or gone
    }
    for (const fd of fds) {
      try {
        if (links.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry)
      } catch {
        // closed in between
      }
    }
  }
  return undefined
}

/**
 * Names who holds `ip:port`: `another kubectl-expose-lb serve (pid 1234, context "home")`, `nginx (pid 1234)`, or
 * undefined when it cannot be found out (not Linux, another user's process, gone).
 */
export function findPortHolder(ip: string, port: number, protocol: 'TCP' | 'UDP'): string | undefined {
  if (process.platform !== 'linux' || !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return undefined
  try {
    const table = readFileSync(protocol === 'TCP' ? '/proc/net/tcp' : '/proc/net/udp', 'latin1')
    const inodes = socketInodes(table, ip, port, protocol).filter((inode) => inode !== '0')
    const pid = inodes.length ? ownerOf(inodes) : undefined
    if (pid === undefined) return undefined
    const serve = readInstanceRecord(pid)
    if (serve) return `another kubectl-expose-lb serve (pid ${pid}, context "${serve.context}")`
    const name = readFileSync(`/proc/${pid}/comm`, 'latin1').trim()
    return `${name || 'a process'} (pid ${pid})`
  } catch {
    return undefined
  }
}
