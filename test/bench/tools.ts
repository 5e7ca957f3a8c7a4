// The standard servers and load tools the serve bench compares against (Debian packages): nginx, HAProxy and
// dnsmasq started with generated configs in a temp dir, wrk and dnsperf run once and their output parsed.
import {spawnSync} from 'node:child_process'
import dgram from 'node:dgram'
import {accessSync, constants, createReadStream, writeFileSync} from 'node:fs'
import net from 'node:net'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {startProcess, type Proc} from './procs.js'

/** Where Debian puts daemons, which are not on every user's PATH. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin']
const READY_TIMEOUT_MS = 10_000

const installTried = new Set<string>()

function onPath(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN_DIRS]
  for (const dir of dirs) {
    const file = join(dir, name)
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {
      // not here
    }
  }
  return undefined
}

/**
 * The path of `name`; when it is missing and `install` is set, one `apt-get install -y <pkg>` attempt (noted in
 * `notes`), else undefined and a note saying which rows are skipped.
 */
export function findTool(name: string, pkg: string, notes: string[], install = true): string | undefined {
  const found = onPath(name)
  if (found || !install || installTried.has(pkg)) return found
  installTried.add(pkg)
  notes.push(`${name} not found: tried \`apt-get install -y ${pkg}\``)
  const r = spawnSync('apt-get', ['install', '-y', pkg], {stdio: 'ignore', timeout: 300_000})
  const after = onPath(name)
  if (!after) notes.push(`${name}: install failed (status ${r.status ?? r.error?.message}); its rows are skipped`)
  return after
}

/** One line of version text for the machine header, or undefined when the tool is missing. */
export function toolVersion(path: string | undefined, args: string[]): string | undefined {
  if (!path) return undefined
  const r = spawnSync(path, args, {encoding: 'utf8', timeout: 5000})
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`
  return /\d+\.\d+(\.\d+)?/.exec(text)?.[0]
}

/**
 * A port free for both TCP and UDP on `host` right now. External tools need a number up front; the small race
 * with other processes taking it is accepted here (tests must never do this).
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const server = net.createServer()
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port))
    })
    const udp = dgram.createSocket('udp4')
    const udpFree = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false))
      udp.bind(port, host, () => resolve(true))
    })
    udp.close()
    await new Promise((resolve) => server.close(resolve))
    if (udpFree) return port
  }
}

/** The last non-empty line of a child's output: usually the reason it exited. */
export function lastLine(output: string): string {
  return (
    output
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? '(no output)'
  )
}

/**
 * Resolves once `host:port` accepts a TCP connection (with `http`: answers an HTTP request, which nginx does only
 * once every listen address is bound — it keeps the first ones listening while retrying a busy one); throws if
 * `proc` exits first or nothing answers in time.
 */
export async function waitForTcp(
  host: string,
  port: number,
  proc?: Proc,
  {http = false, timeoutMs = READY_TIMEOUT_MS} = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (proc?.hasExited())
      throw new Error(`${proc.name} exited: ${lastLine(proc.output())}\n${proc.output().slice(-2000)}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({host, port})
      let reply = ''
      s.setTimeout(1000, () => s.destroy())
      s.once('connect', () => {
        if (!http) {
          s.destroy()
          resolve(true)
        } else s.write('GET / HTTP/1.0\r\n\r\n')
      })
      s.on('data', (d) => (reply += d.toString()))
      s.once('close', () => resolve(reply.startsWith('HTTP/')))
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

// ---- nginx -----------------------------------------------------------------------------------------------------

/** The lines every generated nginx config starts with: foreground, files in `dir`, no access log. */
function nginxPreamble(dir: string, name: string, workers: number): string {
  return `daemon off;
master_process on;
worker_processes ${workers};
pid ${join(dir, `${name}.pid`)};
error_log ${join(dir, `${name}.error.log`)} warn;
events { worker_connections 8192; }
`
}

function nginxHttpCommon(dir: string, name: string): string {
  const temp = (what: string) => join(dir, `${name}-${what}`)
  return `  access_log off;
  default_type text/plain;
  sendfile on;
  tcp_nopush on;
  # nginx closes a client connection after 1,000 requests by default; wrk would then reconnect mid-run.
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
`
}

/** Starts nginx with `config` (written to `<dir>/<name>.conf`) and waits until `ready` accepts connections. */
export async function startNginx(
  nginx: string,
  dir: string,
  name: string,
  config: string,
  ready: {host: string; port: number},
): Promise<Proc> {
  const file = join(dir, `${name}.conf`)
  writeFileSync(file, config)
  const proc = startProcess(name, nginx, ['-p', dir, '-c', file, '-e', join(dir, `${name}.error.log`)])
  await waitForTcp(ready.host, ready.port, proc, {http: true})
  return proc
}

/** What the backend nginx serves on every node address. */
export interface BackendSpec {
  nodes: string[]
  /** The HTTP NodePort: `/` answers "ok\n", `/1m` a 1 MiB file. */
  httpPort: number
  /** More NodePorts answering "ok\n" on every node (for Services added during the run). */
  extraPorts: number[]
  /** kube-proxy's health port, answering GET /healthz with 200. */
  healthzPort: number
  /** Directory holding the file `1m`. */
  root: string
}

/** The backend every HTTP path ends at: nginx with one worker, the same for each path measured. */
export function backendConfig(dir: string, spec: BackendSpec): string {
  const listen = (ports: number[]) =>
    spec.nodes.flatMap((n) => ports.map((p) => `    listen ${n}:${p};`)).join('\n') || '    # none'
  return `${nginxPreamble(dir, 'backend', 1)}
http {
${nginxHttpCommon(dir, 'backend')}
  server {
${listen([spec.httpPort])}
    location = /1m { root ${spec.root}; }
    location / { return 200 "ok\\n"; }
  }
  server {
${listen(spec.extraPorts)}
    location / { return 200 "ok\\n"; }
  }
  server {
${listen([spec.healthzPort])}
    location = /healthz { return 200 '{"healthy":true}'; }
    location / { return 404; }
  }
}
`
}

/** nginx answering kube-proxy's GET /healthz on many node addresses, for the scale run. */
export function healthzConfig(dir: string, nodes: string[], healthzPort: number): string {
  return `${nginxPreamble(dir, 'healthz', 1)}
http {
${nginxHttpCommon(dir, 'healthz')}
  server {
${nodes.map((n) => `    listen ${n}:${healthzPort};`).join('\n')}
    location = /healthz { return 200 '{"healthy":true}'; }
    location / { return 404; }
  }
}
`
}

/** nginx as the reverse proxy people would set up by hand: an upstream of the node addresses with keep-alive. */
export function reverseProxyConfig(
  dir: string,
  opts: {workers: number; listenPort: number; nodes: string[]; nodePort: number},
): string {
  const name = `proxy-w${opts.workers}`
  return `${nginxPreamble(dir, name, opts.workers)}
http {
${nginxHttpCommon(dir, name)}
  upstream nodes {
${opts.nodes.map((n) => `    server ${n}:${opts.nodePort};`).join('\n')}
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${opts.listenPort};
    location / {
      proxy_pass http://nodes;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Room for a whole 1 MiB response in memory. With the default 8 × 4k buffers nginx spills it to a temp
      # file, or (with no temp file) stalls on full buffers: ~570 req/s and a p99 over 150 ms on the 1 MiB row,
      # a baseline too weak to compare against.
      proxy_buffers 32 64k;
      proxy_busy_buffers_size 128k;
      proxy_max_temp_file_size 0;
    }
  }
}
`
}

// ---- HAProxy ---------------------------------------------------------------------------------------------------

/** One TCP frontend of the HAProxy config: `bind` on loopback, round-robin over the node addresses. */
export interface HaproxyListen {
  name: string
  bindPort: number
  nodes: string[]
  nodePort: number
}

/** The global and defaults sections both HAProxy configurations share: TCP mode, `nbthread` threads. */
function haproxyPreamble(nbthread: number): string {
  return `global
  nbthread ${nbthread}
  # maxconn needs about 2 fds per connection; the default open-file limit is often 20,000.
  maxconn 4096

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
`
}

/** HAProxy in TCP mode, health-checked backends (as serve checks them), `nbthread` threads. */
export function haproxyConfig(nbthread: number, listens: HaproxyListen[]): string {
  return `${haproxyPreamble(nbthread)}${listens
    .map(
      (l) => `
listen ${l.name}
  bind 127.0.0.1:${l.bindPort}
  balance roundrobin
${l.nodes.map((n, i) => `  server n${i + 1} ${n}:${l.nodePort} check inter 2s`).join('\n')}
`,
    )
    .join('')}`
}

/** A backend HAProxy picks by the server name of the ClientHello (the SNI section). */
export interface HaproxySniRoute {
  name: string
  serverName: string
  nodes: readonly string[]
  nodePort: number
}

/**
 * HAProxy routing TLS by SNI without terminating it, as its docs show for `mode tcp`: wait for the ClientHello
 * (tcp-request inspect-delay; accept once req.ssl_hello_type is 1), then pick the backend by req.ssl_sni.
 * https://docs.haproxy.org/2.8/configuration.html#7.3.5-req.ssl_sni
 */
export function haproxySniConfig(nbthread: number, bindPort: number, routes: HaproxySniRoute[]): string {
  return `${haproxyPreamble(nbthread)}
frontend sni
  bind 127.0.0.1:${bindPort}
  tcp-request inspect-delay 5s
  tcp-request content accept if { req.ssl_hello_type 1 }
${routes.map((r) => `  use_backend ${r.name} if { req.ssl_sni -i ${r.serverName} }`).join('\n')}
${routes
  .map(
    (r) => `
backend ${r.name}
  balance roundrobin
${r.nodes.map((n, i) => `  server n${i + 1} ${n}:${r.nodePort} check inter 2s`).join('\n')}
`,
  )
  .join('')}`
}

/** Starts HAProxy in the foreground with `config` and waits for its first frontend. */
export async function startHaproxy(haproxy: string, dir: string, name: string, config: string, readyPort: number) {
  const file = join(dir, `${name}.cfg`)
  writeFileSync(file, config)
  const proc = startProcess(name, haproxy, ['-db', '-f', file])
  await waitForTcp('127.0.0.1', readyPort, proc)
  return proc
}

// ---- dnsmasq ---------------------------------------------------------------------------------------------------

/** dnsmasq answering exactly the names in `hosts` (name → address) from a hosts file; no upstream, no cache. */
export async function startDnsmasq(
  dnsmasq: string,
  dir: string,
  port: number,
  hosts: Map<string, string>,
  isReady: () => Promise<boolean>,
): Promise<Proc> {
  const file = join(dir, 'dnsmasq.hosts')
  writeFileSync(file, [...hosts].map(([name, address]) => `${address} ${name}\n`).join(''), {mode: 0o644})
  const proc = startProcess('dnsmasq', dnsmasq, [
    '--no-daemon',
    '--conf-file=/dev/null',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    `--addn-hosts=${file}`,
    '--cache-size=0',
    '--log-facility=-',
    '--pid-file=',
  ])
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (!(await isReady())) {
    if (proc.hasExited()) throw new Error(`dnsmasq exited: ${lastLine(proc.output())}`)
    if (Date.now() > deadline) throw new Error(`dnsmasq does not answer on 127.0.0.1:${port}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return proc
}

// ---- wrk -------------------------------------------------------------------------------------------------------

/** What one wrk run reports. Latencies in milliseconds. */
export interface WrkResult {
  requestsPerS: number
  p50Ms: number
  p99Ms: number
  requests: number
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses. */
  errors: number
  /** wrk's own lines about them, when there were any. */
  errorDetail?: string
  transferPerS: string
}

const LATENCY_UNITS: Record<string, number> = {us: 0.001, ms: 1, s: 1000, m: 60_000}

function latencyMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '')
  return m ? Number(m[1]) * LATENCY_UNITS[m[2]!]! : NaN
}

/** Parses the summary of `wrk --latency`. */
export function parseWrk(out: string): WrkResult {
  const pct = (p: string) => latencyMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)?.[1])
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  return {
    requestsPerS: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    errors: non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
    errorDetail:
      [socketErrors?.[0], /Non-2xx or 3xx responses: \d+/.exec(out)?.[0]].filter(Boolean).join('; ') || undefined,
    transferPerS: /Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? '?',
  }
}

/** Runs wrk with keep-alive (its default) and `--latency`, and parses the summary. */
export async function runWrk(
  wrk: string,
  url: string,
  opts: {threads: number; connections: number; durationS: number; host?: string},
): Promise<WrkResult> {
  const args = [`-t${opts.threads}`, `-c${opts.connections}`, `-d${opts.durationS}s`, '--latency']
  if (opts.host) args.push('-H', `Host: ${opts.host}`)
  args.push(url)
  const proc = startProcess('wrk', wrk, args)
  const code = await proc.exited
  if (code !== 0) throw new Error(`wrk ${args.join(' ')} failed (${code}):\n${proc.output().slice(-2000)}`)
  const result = parseWrk(proc.output())
  if (!Number.isFinite(result.requestsPerS)) throw new Error(`cannot parse wrk output:\n${proc.output()}`)
  return result
}

// ---- dnsperf ---------------------------------------------------------------------------------------------------

/** What one dnsperf run reports. Latencies in milliseconds. */
export interface DnsperfResult {
  queriesPerS: number
  avgLatencyMs: number
  maxLatencyMs: number
  sent: number
  lost: number
  responseCodes: string
}

/** Parses dnsperf's statistics block. */
export function parseDnsperf(out: string): DnsperfResult {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN)
  return {
    queriesPerS: num(/Queries per second:\s+([\d.]+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    maxLatencyMs: num(/Average Latency \(s\):.*max ([\d.]+)/) * 1000,
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    responseCodes: /Response codes:\s+(.*)/.exec(out)?.[1]?.trim() ?? '?',
  }
}

/** dnsperf against 127.0.0.1:`port` over UDP. With `verboseFile`, every response line goes there (for a p99). */
export async function runDnsperf(
  dnsperf: string,
  opts: {port: number; queryFile: string; durationS: number; clients: number; maxQps: number; verboseFile?: string},
): Promise<DnsperfResult> {
  const args = ['-s', '127.0.0.1', '-p', String(opts.port), '-d', opts.queryFile, '-l', String(opts.durationS)]
  args.push('-c', String(opts.clients), '-Q', String(opts.maxQps))
  // Verbose output goes straight to a file through a shell redirect, so no Node process parses it live.
  const proc = opts.verboseFile
    ? startProcess('dnsperf', '/bin/sh', ['-c', `exec "$0" "$@" -v > '${opts.verboseFile}'`, dnsperf, ...args])
    : startProcess('dnsperf', dnsperf, args)
  const code = await proc.exited
  if (code !== 0) throw new Error(`dnsperf ${args.join(' ')} failed (${code}):\n${proc.output().slice(-2000)}`)
  return parseDnsperf(proc.output())
}

/**
 * Latency percentiles (ms) from dnsperf -v output (`> NOERROR name A 0.000105` per response) and its statistics
 * block, read from the file after the run. Timeouts (`> T …`) count as infinitely slow.
 */
export async function verboseLatencies(file: string): Promise<{p50Ms: number; p99Ms: number; stats: DnsperfResult}> {
  // Microsecond buckets up to 1 s, then one overflow bucket.
  const buckets = new Uint32Array(1_000_002)
  let count = 0
  const statLines: string[] = []
  const lines = createInterface({input: createReadStream(file), crlfDelay: Infinity})
  for await (const line of lines) {
    if (line.startsWith('> ')) {
      const last = line.lastIndexOf(' ')
      const seconds = Number(line.slice(last + 1))
      const us = line.startsWith('> T ') || !Number.isFinite(seconds) ? 1_000_001 : Math.round(seconds * 1e6)
      buckets[Math.min(us, 1_000_001)]!++
      count++
    } else statLines.push(line)
  }
  const at = (p: number) => {
    const rank = Math.ceil(count * p)
    let seen = 0
    for (let us = 0; us < buckets.length; us++) {
      seen += buckets[us]!
      if (seen >= rank) return us > 1_000_000 ? Infinity : us / 1000
    }
    return NaN
  }
  return {p50Ms: at(0.5), p99Ms: at(0.99), stats: parseDnsperf(statLines.join('\n'))}
}
