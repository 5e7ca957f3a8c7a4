// Section 2, TCP: bulk throughput (parallel streams into a sink) and connection rate (connect, one echo, close)
// straight to a node, through serve's per-service address, and through HAProxy in TCP mode (nbthread 1 and 2).
// Targets (issue 20): serve ≥ 1.0× HAProxy(1 thread) in throughput and in new connections per second.
import {NODE_PORTS, NODES, SERVICE_PORTS} from './cluster.js'
import type {Address, ConnectResult, StreamResult} from './load.js'
import type {Proc} from './procs.js'
import {atLeast, medianBy, num, ratio, table, type TargetCheck} from './report.js'
import {MIB, type BenchCluster, type BenchEnv, type SectionResult} from './setup.js'
import {treeCpuSeconds} from './serve-child.js'
import {freePort, haproxyConfig, startHaproxy} from './tools.js'

/** A path the TCP and SNI sections measure: where its sink and echo are, and what runs it. */
export interface TcpPath {
  key: string
  label: string
  sink: Address
  echo: Address
  start?: () => Promise<Proc>
  /** The proxy's process, for the CPU it spends per connection; none for direct. */
  pid?: () => number | undefined
}

export interface TcpRow {
  path: string
  label: string
  /** The median runs, and every run. */
  stream?: StreamResult
  connect?: ConnectResult
  streams: StreamResult[]
  connects: ConnectResult[]
  /** CPU time the proxy spent per connection of the connection-rate run (µs), median over the runs. */
  cpuUsPerConnection?: number
  cpuUs: number[]
  error?: string
}

export async function benchTcp(env: BenchEnv, cluster: BenchCluster): Promise<SectionResult> {
  const s = env.settings
  const {haproxy} = env.tools
  const haproxyPath = async (threads: number): Promise<TcpPath> => {
    const [sinkPort, echoPort] = [await freePort(), await freePort()]
    return {
      key: `haproxy-t${threads}`,
      label: `HAProxy mode tcp, nbthread ${threads}`,
      sink: {host: '127.0.0.1', port: sinkPort},
      echo: {host: '127.0.0.1', port: echoPort},
      start: () =>
        startHaproxy(
          haproxy!,
          env.dir,
          `haproxy-t${threads}`,
          haproxyConfig(threads, [
            {name: 'sink', bindPort: sinkPort, nodes: NODES, nodePort: NODE_PORTS.sink},
            {name: 'echo', bindPort: echoPort, nodes: NODES, nodePort: NODE_PORTS.echo},
          ]),
          sinkPort,
        ),
    }
  }
  const paths: TcpPath[] = [
    {
      key: 'direct',
      label: `direct to node ${NODES[0]}`,
      sink: {host: NODES[0]!, port: NODE_PORTS.sink},
      echo: {host: NODES[0]!, port: NODE_PORTS.echo},
    },
    {
      key: 'serve-address',
      label: `serve per-service ${cluster.addresses.sink}, ${cluster.addresses.echo}`,
      sink: {host: cluster.addresses.sink, port: SERVICE_PORTS.sink},
      echo: {host: cluster.addresses.echo, port: SERVICE_PORTS.echo},
      pid: () => cluster.serve.pid,
    },
    await nodeSplicePath(env),
    await nodeSplicePath(env, true),
    ...(haproxy ? [await haproxyPath(1), await haproxyPath(2)] : []),
  ]
  if (!haproxy) env.notes.push('haproxy missing: no HAProxy rows, so the TCP target cannot be checked')

  const rows = await measureTcpPaths(env, paths, 'TCP')
  const base = rows.find((r) => r.path === 'haproxy-t1')
  const mine = rows.find((r) => r.path === 'serve-address')
  const targets: TargetCheck[] = [
    atLeast('TCP serve per-service: throughput', mine?.stream?.mbPerS, base?.stream?.mbPerS, 1, 'HAProxy(1t)', 'MB/s'),
    atLeast('TCP serve per-service: conn/s', mine?.connect?.perS, base?.connect?.perS, 1, 'HAProxy(1t)'),
  ]
  const streams = `${s.streamConnections}×${s.streamBytesPerConnection / MIB} MiB`
  return {
    title:
      `TCP — throughput: ${streams} streams into a sink; connection rate: concurrency ${s.connectConcurrency} for ` +
      `${s.connectMs / 1000} s, echo once (Node clients in their own process; MB = 10^6 bytes)` +
      (s.rounds > 1 ? `; medians of ${s.rounds} runs` : ''),
    table: tcpTable(rows),
    data: rows,
    targets,
  }
}

/**
 * The floor of a proxy written on Node's sockets, on this machine: each client piped to a new connection to the
 * first node's sink or echo (load-worker.ts splice), nothing read; `raw`: the same on Node's TCP handles, without
 * net.Socket and streams (raw-splice). Reference rows, not targets: what one new connection costs Node alone, and
 * what a proxy on the handles could save, against what HAProxy spends on it.
 */
export async function nodeSplicePath(env: BenchEnv, raw = false): Promise<TcpPath> {
  const [sinkPort, echoPort] = [await freePort(), await freePort()]
  const sink = {host: '127.0.0.1', port: sinkPort}
  const echo = {host: '127.0.0.1', port: echoPort}
  const pairs = [
    {listen: sink, target: {host: NODES[0]!, port: NODE_PORTS.sink}},
    {listen: echo, target: {host: NODES[0]!, port: NODE_PORTS.echo}},
  ]
  return {
    key: raw ? 'node-raw-splice' : 'node-splice',
    label: raw ? 'Node TCP handles splice (reference)' : 'plain Node splice (reference)',
    sink,
    echo,
    start: () => (raw ? env.load.startRawSplice(pairs) : env.load.startSplice(pairs)),
  }
}

/**
 * Streams into each path's sink, then the connection rate through its echo (with `hello` first on every connection,
 * for SNI), `rounds` times; each row holds every run and the medians, and the proxy's CPU per connection.
 */
export async function measureTcpPaths(
  env: BenchEnv,
  paths: TcpPath[],
  section: string,
  hello: {sink?: Buffer; echo?: Buffer} = {},
): Promise<TcpRow[]> {
  const s = env.settings
  const rows: TcpRow[] = paths.map((p) => ({path: p.key, label: p.label, streams: [], connects: [], cpuUs: []}))
  // Rounds go over every path in turn, so drift in the machine's load spreads over all paths alike.
  for (let round = 0; round < s.rounds; round++) {
    for (const [i, p] of paths.entries()) {
      const row = rows[i]!
      if (row.error) continue
      let proc: Proc | undefined
      try {
        proc = await p.start?.()
        // Warm-up: JIT, health state, the backends' accept queues.
        await env.load.stream(p.sink, 2, 8 * MIB, hello.sink)
        await env.load.connectRate(p.echo, 8, 500, hello.echo)
        const stream = await env.load.stream(p.sink, s.streamConnections, s.streamBytesPerConnection, hello.sink)
        const pid = p.pid?.() ?? proc?.child.pid
        const cpuBefore = pid === undefined ? undefined : treeCpuSeconds(pid)
        const connect = await env.load.connectRate(p.echo, s.connectConcurrency, s.connectMs, hello.echo)
        if (pid !== undefined && cpuBefore !== undefined && connect.connections > 0) {
          row.cpuUs.push(((treeCpuSeconds(pid) - cpuBefore) * 1e6) / connect.connections)
        }
        row.streams.push(stream)
        row.connects.push(connect)
        if (stream.errors.length) env.notes.push(`${section} ${p.key} stream: ${stream.errors[0]}`)
        if (connect.errors)
          env.notes.push(`${section} ${p.key} connect: ${connect.errors} errors (${connect.firstError})`)
      } catch (error) {
        row.error = (error as Error).message
        env.notes.push(`${section} ${p.key}: ${row.error.split('\n')[0]}`)
      } finally {
        await proc?.stop()
      }
    }
  }
  for (const row of rows) {
    row.stream = medianBy(row.streams, (r) => r.mbPerS)
    row.connect = medianBy(row.connects, (r) => r.perS)
    row.cpuUsPerConnection = medianBy(row.cpuUs, (us) => us)
  }
  return rows
}

/** The TCP and SNI sections' table: rates and ratios against HAProxy (1 thread), CPU per connection, errors. */
export function tcpTable(rows: TcpRow[]): string {
  const base = rows.find((r) => r.path === 'haproxy-t1')
  const tableRows = rows.map((r) => [
    r.label,
    num(r.stream?.mbPerS),
    ratio(r.stream?.mbPerS, base?.stream?.mbPerS),
    num(r.connect?.perS),
    ratio(r.connect?.perS, base?.connect?.perS),
    num(r.cpuUsPerConnection, 1),
    r.error ? r.error.split('\n')[0]!.slice(0, 40) : String((r.stream?.errors.length ?? 0) + (r.connect?.errors ?? 0)),
  ])
  return table(['path', 'MB/s', '× HAProxy(1t)', 'conn/s', '× HAProxy(1t)', 'CPU µs/conn', 'errors'], tableRows)
}
