// Section 6, SNI: TLS passthrough routed by the ClientHello's server name — serve's --https-port against HAProxy in
// mode tcp with req.ssl_sni routing (nbthread 1 and 2), and straight to a node. Each connection sends a real
// ClientHello (Node's, captured once) and then the payload; neither proxy decrypts, so the backends are the TCP
// section's sink and echo, and the figures are the cost of reading the hello, routing and splicing.
// Targets (issue 20): serve ≥ 0.8× HAProxy(1 thread) in throughput and in connections per second.
import {captureClientHello} from '../proxy/tls-hello.js'
import {NODE_PORTS, NODES} from './cluster.js'
import type {Address, ConnectResult, StreamResult} from './load.js'
import type {Proc} from './procs.js'
import {atLeast, medianBy, num, ratio, table, type TargetCheck} from './report.js'
import {DOMAIN, MIB, type BenchCluster, type BenchEnv, type SectionResult} from './setup.js'
import {treeCpuSeconds} from './serve-child.js'
import {freePort, haproxySniConfig, startHaproxy} from './tools.js'

interface SniPath {
  key: string
  label: string
  sink: Address
  echo: Address
  start?: () => Promise<Proc>
  /** The proxy's process, for the CPU it spends per connection; none for direct. */
  pid?: () => number | undefined
}

interface SniRow {
  path: string
  label: string
  stream?: StreamResult
  connect?: ConnectResult
  streams: StreamResult[]
  connects: ConnectResult[]
  /** CPU time the proxy spent per connection of the connection-rate run (µs), median over the runs. */
  cpuUsPerConnection?: number
  cpuUs: number[]
  error?: string
}

export async function benchSni(env: BenchEnv, cluster: BenchCluster): Promise<SectionResult> {
  const s = env.settings
  const {haproxy} = env.tools
  const names = {sink: `sink.${DOMAIN}`, echo: `echo.${DOMAIN}`}
  const hello = {sink: await captureClientHello(names.sink), echo: await captureClientHello(names.echo)}
  const haproxyPath = async (threads: number): Promise<SniPath> => {
    const port = await freePort()
    return {
      key: `haproxy-t${threads}`,
      label: `HAProxy mode tcp + req.ssl_sni, nbthread ${threads}`,
      sink: {host: '127.0.0.1', port},
      echo: {host: '127.0.0.1', port},
      start: () =>
        startHaproxy(
          haproxy!,
          env.dir,
          `haproxy-sni-t${threads}`,
          haproxySniConfig(threads, port, [
            {name: 'sink', serverName: names.sink, nodes: NODES, nodePort: NODE_PORTS.sink},
            {name: 'echo', serverName: names.echo, nodes: NODES, nodePort: NODE_PORTS.echo},
          ]),
          port,
        ),
    }
  }
  const sni = {host: '127.0.0.1', port: cluster.serve.httpsPort}
  const paths: SniPath[] = [
    {
      key: 'direct',
      label: `direct to node ${NODES[0]}`,
      sink: {host: NODES[0]!, port: NODE_PORTS.sink},
      echo: {host: NODES[0]!, port: NODE_PORTS.echo},
    },
    {key: 'serve-sni', label: `serve --https-port ${sni.port}`, sink: sni, echo: sni, pid: () => cluster.serve.pid},
    ...(haproxy ? [await haproxyPath(1), await haproxyPath(2)] : []),
  ]
  if (!haproxy) env.notes.push('haproxy missing: no HAProxy rows, so the SNI target cannot be checked')

  const rows: SniRow[] = paths.map((p) => ({path: p.key, label: p.label, streams: [], connects: [], cpuUs: []}))
  for (let round = 0; round < s.rounds; round++) {
    for (const [i, p] of paths.entries()) {
      const row = rows[i]!
      if (row.error) continue
      let proc: Proc | undefined
      try {
        proc = await p.start?.()
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
        if (stream.errors.length) env.notes.push(`SNI ${p.key} stream: ${stream.errors[0]}`)
        if (connect.errors) env.notes.push(`SNI ${p.key} connect: ${connect.errors} errors (${connect.firstError})`)
      } catch (error) {
        row.error = (error as Error).message
        env.notes.push(`SNI ${p.key}: ${row.error.split('\n')[0]}`)
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
  const mine = rows.find((r) => r.path === 'serve-sni')
  const targets: TargetCheck[] = [
    atLeast(
      'SNI serve --https-port: throughput',
      mine?.stream?.mbPerS,
      base?.stream?.mbPerS,
      0.8,
      'HAProxy(1t)',
      'MB/s',
    ),
    atLeast('SNI serve --https-port: conn/s', mine?.connect?.perS, base?.connect?.perS, 0.8, 'HAProxy(1t)'),
  ]
  const streams = `${s.streamConnections}×${s.streamBytesPerConnection / MIB} MiB`
  return {
    title:
      `SNI — a ClientHello (${hello.sink.length} bytes, Node's) then: throughput ${streams} streams into a sink; ` +
      `connection rate: concurrency ${s.connectConcurrency} for ${s.connectMs / 1000} s, hello + one echo ` +
      `(no TLS is terminated anywhere; MB = 10^6 bytes)` +
      (s.rounds > 1 ? `; medians of ${s.rounds} runs` : ''),
    table: table(['path', 'MB/s', '× HAProxy(1t)', 'conn/s', '× HAProxy(1t)', 'CPU µs/conn', 'errors'], tableRows),
    data: rows,
    targets,
  }
}
