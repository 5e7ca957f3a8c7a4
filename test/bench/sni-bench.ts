// Section 6, SNI: TLS passthrough routed by the ClientHello's server name — serve's --https-port against HAProxy in
// mode tcp with req.ssl_sni routing (nbthread 1 and 2), and straight to a node. Each connection sends a real
// ClientHello (Node's, captured once) and then the payload; neither proxy decrypts, so the backends are the TCP
// section's sink and echo, and the figures are the cost of reading the hello, routing and splicing.
// Targets (issue 20): serve ≥ 0.8× HAProxy(1 thread) in throughput and in connections per second.
import {captureClientHello} from '../proxy/tls-hello.js'
import {NODE_PORTS, NODES} from './cluster.js'
import {atLeast, type TargetCheck} from './report.js'
import {DOMAIN, MIB, type BenchCluster, type BenchEnv, type SectionResult} from './setup.js'
import {measureTcpPaths, nodeSplicePath, tcpTable, type TcpPath} from './tcp-bench.js'
import {freePort, haproxySniConfig, startHaproxy} from './tools.js'

export async function benchSni(env: BenchEnv, cluster: BenchCluster): Promise<SectionResult> {
  const s = env.settings
  const {haproxy} = env.tools
  const names = {sink: `sink.${DOMAIN}`, echo: `echo.${DOMAIN}`}
  const hello = {sink: await captureClientHello(names.sink), echo: await captureClientHello(names.echo)}
  const haproxyPath = async (threads: number): Promise<TcpPath> => {
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
  const paths: TcpPath[] = [
    {
      key: 'direct',
      label: `direct to node ${NODES[0]}`,
      sink: {host: NODES[0]!, port: NODE_PORTS.sink},
      echo: {host: NODES[0]!, port: NODE_PORTS.echo},
    },
    {key: 'serve-sni', label: `serve --https-port ${sni.port}`, sink: sni, echo: sni, pid: () => cluster.serve.pid},
    // The hello is payload to it: what Node's sockets cost per connection, before any reading or routing.
    await nodeSplicePath(env),
    await nodeSplicePath(env, true),
    ...(haproxy ? [await haproxyPath(1), await haproxyPath(2)] : []),
  ]
  if (!haproxy) env.notes.push('haproxy missing: no HAProxy rows, so the SNI target cannot be checked')

  const rows = await measureTcpPaths(env, paths, 'SNI', hello)
  const base = rows.find((r) => r.path === 'haproxy-t1')
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
    table: tcpTable(rows),
    data: rows,
    targets,
  }
}
