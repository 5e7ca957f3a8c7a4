// Ports for the tunnel gateways (tunnels.ts). With port 0, Linux searches its local port range for a free port on
// every bind, and the search slows as the range fills: binding 10,000 listeners on 127.0.0.1 took 4.5 s that way
// and 0.22 s on explicit ports taken in order (a Node loop on this machine; at 10,000 Services, 7,500 of them through
// the API server, it was most of serve's start). So on Linux the gateways take ports from that same range
// themselves, in order from a random start, skipping the reserved ones; the caller skips ports in use. Elsewhere
// the system picks (port 0).
import {readFileSync} from 'node:fs'

const RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range'
const RESERVED_FILE = '/proc/sys/net/ipv4/ip_local_reserved_ports'
/** Linux's default ip_local_port_range. */
const DEFAULT_RANGE: [number, number] = [32768, 60999]

/** A source of ports to try: 0 means "let the system pick". */
export type NextPort = () => number

/** `low high` as in ip_local_port_range; the default range when the text is not that. */
export function parsePortRange(text: string | undefined): [number, number] {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text ?? '')
  const [low, high] = m ? [Number(m[1]), Number(m[2])] : DEFAULT_RANGE
  return low >= 1 && high <= 65535 && low <= high ? [low, high] : DEFAULT_RANGE
}

/** The ports of ip_local_reserved_ports (`8080,9000-9010`); none for text that is not that. */
export function parseReservedPorts(text: string | undefined): Set<number> {
  const reserved = new Set<number>()
  for (const part of (text ?? '').trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim())
    if (!m) continue
    const [low, high] = [Number(m[1]), Number(m[2] ?? m[1])]
    for (let port = low; port <= Math.min(high, 65535); port++) reserved.add(port)
  }
  return reserved
}

/** Ports of `range` in order from `start`, wrapping round, without the reserved ones. Pure. */
export function portsInOrder(range: [number, number], reserved: Set<number>, start: number): NextPort {
  const [low, high] = range
  const size = high - low + 1
  let offset = (((start - low) % size) + size) % size
  return () => {
    for (let tried = 0; tried < size; tried++) {
      const port = low + offset
      offset = (offset + 1) % size
      if (!reserved.has(port)) return port
    }
    return 0
  }
}

/** The ports gateways try on this machine: Linux's local port range in order, or the system's choice elsewhere. */
export function gatewayPorts(platform: NodeJS.Platform = process.platform): NextPort {
  if (platform !== 'linux') return () => 0
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(file, 'utf8')
    } catch {
      return undefined
    }
  }
  const range = parsePortRange(read(RANGE_FILE))
  const start = range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1))
  return portsInOrder(range, parseReservedPorts(read(RESERVED_FILE)), start)
}
