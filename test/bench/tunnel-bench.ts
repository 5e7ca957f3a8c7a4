// Section `tunnel` (issue 16): serve's API-server path side by side with `kubectl port-forward svc/…` against the
// same simulated API server, whose pods/portforward carries both to the same Pods: a source (downloads) and an
// echo-once server at a loopback podIP. Downloads, not uploads: port-forward's v4 WebSocket channels have no
// half-close, so an upload's end cannot reach the Pod (README, serve "Paths"). Rows: straight to the Pod; serve's
// per-service address (a ClusterIP Service through the API server); kubectl port-forward's local port.
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {startSimServer, type KubeObject} from '../../src/sim/api-server.js'
import type {Address, ConnectResult, StreamResult} from './load.js'
import {startProcess, type Proc} from './procs.js'
import {atLeast, medianBy, num, ratio, table, type TargetCheck} from './report.js'
import {cpuSeconds, startServe} from './serve-child.js'
import {DOMAIN, MIB, waitUntil, type BenchEnv, type SectionResult} from './setup.js'

const POD_IP = '127.0.30.201'
const POD_PORTS = {source: 9700, echo: 9701}
const SERVICE_PORTS = {source: 9000, echo: 9001}

function objects(): KubeObject[] {
  return (['source', 'echo'] as const).flatMap((name): KubeObject[] => [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {name: `${name}-0`, namespace: 'bench', uid: `uid-${name}-0`, labels: {app: name}},
      spec: {containers: [{name, image: name, ports: [{name: 'tcp', containerPort: POD_PORTS[name]}]}]},
      status: {phase: 'Running', podIP: POD_IP},
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {name, namespace: 'bench'},
      spec: {
        type: 'ClusterIP',
        clusterIP: name === 'source' ? '10.43.30.1' : '10.43.30.2',
        selector: {app: name},
        ports: [{name: 'tcp', port: SERVICE_PORTS[name], targetPort: 'tcp', protocol: 'TCP'}],
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {name: `${name}-x1`, namespace: 'bench', labels: {'kubernetes.io/service-name': name}},
      addressType: 'IPv4',
      endpoints: [
        {
          addresses: [POD_IP],
          conditions: {ready: true},
          targetRef: {kind: 'Pod', namespace: 'bench', name: `${name}-0`},
        },
      ],
      ports: [{name: 'tcp', port: POD_PORTS[name], protocol: 'TCP'}],
    },
  ])
}

/** `kubectl port-forward svc/NAME :PORT`, and the local port it chose. */
async function kubectlPortForward(kubeconfig: string, name: string, port: number): Promise<{proc: Proc; port: number}> {
  const args = ['--kubeconfig', kubeconfig, '-n', 'bench', 'port-forward', `svc/${name}`, `:${port}`]
  const proc = startProcess(`kubectl port-forward ${name}`, 'kubectl', args)
  const m = await proc.waitForOutput(/Forwarding from 127\.0\.0\.1:(\d+) ->/, 20_000)
  return {proc, port: Number(m[1])}
}

interface TunnelPath {
  key: string
  label: string
  /** The process that relays this path's bytes (serve, kubectl), whose CPU time is read around the download. */
  pid?: number
  source: Address
  echo: Address
}

export interface TunnelRow {
  path: string
  label: string
  /** CPU seconds per GB of the one-stream download: the relaying process, and the simulator (this process). */
  cpu?: {relay: number; sim: number}
  one?: StreamResult
  many?: StreamResult
  connect?: ConnectResult
  runs: Array<{one: StreamResult; many: StreamResult; connect: ConnectResult; cpu: {relay: number; sim: number}}>
  error?: string
}

export async function benchTunnel(env: BenchEnv): Promise<SectionResult> {
  const s = env.settings
  // 1 GiB for one stream and 1 GiB over the 32 (about 1.5–2 s a download here): over 256 MiB (0.4 s) one collection
  // or scheduling hiccup in the simulator, which relays both paths in this process, moved a median by 20 % and more.
  const oneBytes = s.quick ? 64 * MIB : 1024 * MIB
  const manyBytes = s.quick ? 2 * MIB : 32 * MIB
  const backends = await env.load.startBackends({
    sink: [],
    echo: [{host: POD_IP, port: POD_PORTS.echo}],
    source: [{host: POD_IP, port: POD_PORTS.source}],
  })
  const sim = await startSimServer({objects: objects()})
  const kubeconfig = join(env.dir, 'kubeconfig-tunnel')
  writeFileSync(kubeconfig, sim.kubeconfig(), {mode: 0o600})
  const procs: Proc[] = [backends]
  try {
    const serve = await startServe(kubeconfig, '127.87.0.0/16')
    procs.push(serve.proc)
    const resolve = async (name: string) => (await serve.resolver.resolve4(`${name}.${DOMAIN}`))[0]!
    const at = await waitUntil(
      async () => ({source: await resolve('source'), echo: await resolve('echo')}),
      'serve to answer source and echo in DNS',
    )
    const [pfSource, pfEcho] = [
      await kubectlPortForward(kubeconfig, 'source', SERVICE_PORTS.source),
      await kubectlPortForward(kubeconfig, 'echo', SERVICE_PORTS.echo),
    ]
    procs.push(pfSource.proc, pfEcho.proc)
    const paths: TunnelPath[] = [
      {
        key: 'direct',
        label: `direct to the Pod ${POD_IP}`,
        source: {host: POD_IP, port: POD_PORTS.source},
        echo: {host: POD_IP, port: POD_PORTS.echo},
      },
      {
        key: 'serve-api-server',
        label: 'serve per-service address, via API server',
        pid: serve.pid,
        source: {host: at.source, port: SERVICE_PORTS.source},
        echo: {host: at.echo, port: SERVICE_PORTS.echo},
      },
      {
        key: 'kubectl-port-forward',
        label: 'kubectl port-forward svc/… (SPDY)',
        pid: pfSource.proc.child.pid,
        source: {host: '127.0.0.1', port: pfSource.port},
        echo: {host: '127.0.0.1', port: pfEcho.port},
      },
    ]
    const rows: TunnelRow[] = paths.map((p) => ({path: p.key, label: p.label, runs: []}))
    for (let round = 0; round < s.rounds; round++) {
      for (const [i, p] of paths.entries()) {
        const row = rows[i]!
        if (row.error) continue
        try {
          await env.load.download(p.source, 2, 8 * MIB) // warm-up
          const before = {relay: p.pid ? cpuSeconds(p.pid) : 0, sim: process.cpuUsage()}
          const one = await env.load.download(p.source, 1, oneBytes)
          const sim = process.cpuUsage(before.sim)
          const gb = one.bytes / 1e9
          const cpu = {
            relay: ((p.pid ? cpuSeconds(p.pid) : 0) - before.relay) / gb,
            sim: (sim.user + sim.system) / 1e6 / gb,
          }
          const many = await env.load.download(p.source, 32, manyBytes)
          const connect = await env.load.connectRate(p.echo, 32, s.connectMs)
          row.runs.push({one, many, connect, cpu})
          for (const r of [one, many]) if (r.errors.length) env.notes.push(`tunnel ${p.key}: ${r.errors[0]}`)
          if (connect.errors)
            env.notes.push(`tunnel ${p.key} connect: ${connect.errors} errors (${connect.firstError})`)
        } catch (error) {
          row.error = (error as Error).message
          env.notes.push(`tunnel ${p.key}: ${row.error.split('\n')[0]}`)
        }
      }
    }
    for (const row of rows) {
      const median = medianBy(row.runs, (r) => r.one.mbPerS)
      row.one = median?.one
      row.cpu = median?.cpu
      row.many = medianBy(row.runs, (r) => r.many.mbPerS)?.many
      row.connect = medianBy(row.runs, (r) => r.connect.perS)?.connect
    }
    const base = rows.find((r) => r.path === 'kubectl-port-forward')
    const mine = rows.find((r) => r.path === 'serve-api-server')
    // Issue 20, target 4: the API-server path at least as fast as kubectl port-forward through the same simulator.
    const target = (what: string, pick: (r: TunnelRow) => StreamResult | undefined): TargetCheck => {
      const [m, k] = [mine && pick(mine), base && pick(base)]
      return atLeast(`API-server path: ${what}`, m?.mbPerS, k?.mbPerS, 1, 'kubectl port-forward', 'MB/s')
    }
    const targets = [target('one stream', (r) => r.one), target('32 concurrent connections', (r) => r.many)]
    const tableRows = rows.map((r) => [
      r.label,
      num(r.one?.mbPerS),
      ratio(r.one?.mbPerS, base?.one?.mbPerS),
      num(r.many?.mbPerS),
      ratio(r.many?.mbPerS, base?.many?.mbPerS),
      num(r.connect?.perS),
      ratio(r.connect?.perS, base?.connect?.perS),
      r.cpu && r.path !== 'direct' ? `${r.cpu.relay.toFixed(2)} + ${r.cpu.sim.toFixed(2)}` : '-',
      r.error
        ? r.error.split('\n')[0]!.slice(0, 40)
        : String(r.runs.reduce((n, x) => n + x.one.errors.length + x.many.errors.length + x.connect.errors, 0)),
    ])
    return {
      title:
        `API-server path (issue 16) — one download of ${oneBytes / MIB} MiB; 32 concurrent downloads of ` +
        `${manyBytes / MIB} MiB; connection rate at concurrency 32 for ${s.connectMs / 1000} s, echo once; ` +
        'the simulated API server relays every byte in the bench process; CPU: seconds per GB of the one-stream ' +
        'download spent by the relaying process (serve, kubectl) and by the simulator (MB, GB = 10^6, 10^9 bytes)' +
        (s.rounds > 1 ? `; medians of ${s.rounds} runs` : ''),
      table: table(
        [
          'path',
          '1 stream MB/s',
          '× kubectl',
          '32 streams MB/s',
          '× kubectl',
          'conn/s (32)',
          '× kubectl',
          'CPU s/GB relay + sim',
          'errors',
        ],
        tableRows,
      ),
      data: rows,
      targets,
    }
  } finally {
    for (const proc of procs.reverse()) await proc.stop()
    await sim.close()
  }
}
