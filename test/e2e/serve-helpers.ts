// Running `kubectl expose-lb serve` as a child process for e2e tests, and small real clients.
import {spawn, type ChildProcess} from 'node:child_process'
import dgram from 'node:dgram'
import {promises as dns, type LookupAddress} from 'node:dns'
import http from 'node:http'
import net from 'node:net'
import {delimiter, dirname} from 'node:path'
import {BIN_DIR, scratchDir} from './helpers.js'

/** serve ends a stop 10 s after the signal at most (grace 5 s, then 5 s for parts still closing: src/serve/runtime.ts). */
const STOP_REPORT_MS = 15_000

export interface ServeProcess {
  child: ChildProcess
  dnsPort: number
  dnsTcpPort: number
  httpPort: number
  stdout(): string
  stderr(): string
  resolver: dns.Resolver
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Starts `kubectl expose-lb serve <args>` through kubectl and waits for its "serving" line. Each serve has a runtime
 * folder of its own (XDG_RUNTIME_DIR) unless `runtimeDir` is given: tests running at once must not see each
 * other's serves, a test of two serves on one machine must.
 */
export async function startServe(
  args: string[],
  listen = '127.0.0.1',
  runtimeDir: string = scratchDir(),
): Promise<ServeProcess> {
  const at = listen.replaceAll('.', '\\.')
  const child = spawn('kubectl', ['expose-lb', 'serve', '--dns-port', '0', '--http-port', '0', ...args], {
    env: {
      PATH: [BIN_DIR, dirname(process.execPath), process.env.PATH].join(delimiter),
      HOME: process.env.HOME,
      XDG_RUNTIME_DIR: runtimeDir,
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const line = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString()
      const m = new RegExp(`DNS on ${at}:(\\d+)(?: \\(udp, tcp\\)|/udp, (\\d+)/tcp), HTTP on ${at}:(\\d+)`).exec(err)
      if (m) resolve(m)
    })
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${err}`)))
  })
  const dnsPort = Number(line[1])
  const resolver = new dns.Resolver({timeout: 2000, tries: 2})
  resolver.setServers([`127.0.0.1:${dnsPort}`])
  return {
    child,
    dnsPort,
    dnsTcpPort: Number(line[2] ?? line[1]),
    httpPort: Number(line[3]),
    stdout: () => out,
    stderr: () => err,
    resolver,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal)
      // A stop that hangs fails the caller's hook by its timeout; what serve said (it names a part still closing after
      // the grace period) is the clue, so it goes to the test output first.
      const late = setTimeout(() => {
        process.stderr.write(
          `serve (pid ${child.pid}) has not exited ${STOP_REPORT_MS / 1000} s after ${signal}; its stderr:\n${err}\n`,
        )
      }, STOP_REPORT_MS)
      try {
        return await exited
      } finally {
        clearTimeout(late)
      }
    },
  }
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** One HTTP GET with a fresh connection (no agent): status, body, and the backend node that answered. */
export function get(
  url: string,
  headers: Record<string, string> = {},
  lookup?: string,
): Promise<{status: number; body: string; node?: string}> {
  return new Promise((resolve, reject) => {
    // `lookup` pins the name to an address, as curl --resolve does.
    const pinned: net.LookupFunction = (_host, options, callback) =>
      options.all
        ? (callback as (e: null, a: LookupAddress[]) => void)(null, [{address: lookup!, family: 4}])
        : callback(null, lookup!, 4)
    const req = http.get(url, {headers, agent: false, ...(lookup ? {lookup: pinned} : {})}, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () =>
        resolve({status: res.statusCode ?? 0, body, node: res.headers['x-served-by'] as string | undefined}),
      )
    })
    req.setTimeout(5000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/** Opens a TCP connection, sends `payload`, half-closes, and returns everything received until the server ends. */
export function tcpExchange(address: string, port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host: address, port, allowHalfOpen: true})
    let data = ''
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')))
    socket.on('connect', () => socket.end(payload))
    socket.on('data', (d) => (data += d.toString()))
    socket.on('end', () => resolve(data))
    socket.on('error', reject)
  })
}

/** Sends one UDP datagram and waits for one reply. */
export function udpExchange(address: string, port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4')
    const timer = setTimeout(() => {
      socket.close()
      reject(new Error('no UDP reply'))
    }, 3000)
    socket.on('message', (msg) => {
      clearTimeout(timer)
      socket.close()
      resolve(msg)
    })
    socket.send(payload, port, address)
  })
}
