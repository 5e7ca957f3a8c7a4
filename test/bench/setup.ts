// What the sections of the serve bench share: settings (full or BENCH_QUICK), the tools found, and the running
// cluster — simulated API server, nginx backend on the node addresses, TCP backends, and serve itself.
import http from 'node:http'
import net from 'node:net'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {KUBE_PROXY_HEALTHZ_PORT} from '../../src/servemap/map.js'
import {benchCluster, fillerNodePorts, NODE_PORTS, NODES, SERVICE_PORTS} from './cluster.js'
import type {LoadRunner} from './load.js'
import type {TargetCheck} from './report.js'
import {startServe, type ServeChild} from './serve-child.js'
import {backendConfig, startNginx} from './tools.js'

export const DOMAIN = 'kube.internal'
export const MIB = 1 << 20

/** Durations and sizes; BENCH_QUICK=1 shortens everything for smoke runs. */
export interface Settings {
  quick: boolean
  /** Runs of each HTTP and TCP row (BENCH_REPEAT); the median one is reported. */
  rounds: number
  wrkSeconds: number
  warmupSeconds: number
  streamConnections: number
  streamBytesPerConnection: number
  connectConcurrency: number
  connectMs: number
  dnsSeconds: number
  dnsLatencySeconds: number
  changes: number
  idleSeconds: number
}

export function settings(quick: boolean, rounds = 1): Settings {
  return quick
    ? {
        quick,
        rounds,
        wrkSeconds: 3,
        warmupSeconds: 1,
        streamConnections: 8,
        streamBytesPerConnection: 32 * MIB,
        connectConcurrency: 32,
        connectMs: 2000,
        dnsSeconds: 3,
        dnsLatencySeconds: 2,
        changes: 30,
        idleSeconds: 10,
      }
    : {
        quick,
        rounds,
        wrkSeconds: 10,
        warmupSeconds: 2,
        streamConnections: 8,
        streamBytesPerConnection: 256 * MIB,
        connectConcurrency: 32,
        connectMs: 5000,
        dnsSeconds: 10,
        dnsLatencySeconds: 5,
        changes: 200,
        idleSeconds: 60, // "CPU used per idle minute" (issue 6)
      }
}

/** Paths of the external tools; undefined when missing (their rows are skipped with a note). */
export interface Tools {
  nginx?: string
  haproxy?: string
  dnsmasq?: string
  wrk?: string
  dnsperf?: string
}

export interface BenchEnv {
  dir: string
  settings: Settings
  tools: Tools
  load: LoadRunner
  /** Things a reader of the results should know: skipped rows, installs, anomalies. */
  notes: string[]
}

/** What each section hands back: a titled table for the terminal, its figures for the JSON, its target checks. */
export interface SectionResult {
  title: string
  table: string
  data: unknown
  targets: TargetCheck[]
}

/** serve running against the bench cluster, with backends on every node address. */
export interface BenchCluster {
  sim: SimServer
  serve: ServeChild
  /** Per-service addresses serve gave web, sink and echo (resolved through its DNS). */
  addresses: {web: string; sink: string; echo: string}
  /** Most Services added by the convergence section; the backend listens on their NodePorts already. */
  maxChanges: number
}

/** Starts the simulated cluster, nginx and TCP backends on the node addresses, and serve; waits until all answer. */
export async function startBenchCluster(env: BenchEnv): Promise<BenchCluster> {
  if (!env.tools.nginx) throw new Error('nginx is missing: the HTTP backend and node health checks need it')
  const root = join(env.dir, 'www')
  mkdirSync(root, {mode: 0o755})
  writeFileSync(join(root, '1m'), Buffer.alloc(MIB, 'x'), {mode: 0o644})
  const maxChanges = env.settings.changes
  await startNginx(
    env.tools.nginx,
    env.dir,
    'backend',
    backendConfig(env.dir, {
      nodes: NODES,
      httpPort: NODE_PORTS.web,
      extraPorts: [...fillerNodePorts(), ...Array.from({length: maxChanges}, (_, i) => NODE_PORTS.changeBase + i)],
      healthzPort: KUBE_PROXY_HEALTHZ_PORT,
      root,
    }),
    {host: NODES[0]!, port: NODE_PORTS.web},
  )
  await env.load.startBackends({
    sink: NODES.map((host) => ({host, port: NODE_PORTS.sink})),
    echo: NODES.map((host) => ({host, port: NODE_PORTS.echo})),
  })

  const sim = await startSimServer({objects: benchCluster()})
  try {
    return {sim, ...(await startServeOn(sim, env)), maxChanges}
  } catch (error) {
    await sim.close() // else its open server keeps the bench from exiting
    throw error
  }
}

async function startServeOn(sim: SimServer, env: BenchEnv): Promise<Pick<BenchCluster, 'serve' | 'addresses'>> {
  const kubeconfig = join(env.dir, 'kubeconfig')
  writeFileSync(kubeconfig, sim.kubeconfig(), {mode: 0o600})
  const serve = await startServe(kubeconfig, '127.86.0.0/16')
  const resolve = async (name: string) => (await serve.resolver.resolve4(`${name}.${DOMAIN}`))[0]!
  const addresses = await waitUntil(
    async () => ({web: await resolve('web'), sink: await resolve('sink'), echo: await resolve('echo')}),
    'serve to answer web, sink and echo in DNS',
  )
  await waitUntil(
    async () => (await httpStatus('127.0.0.1', serve.httpPort, '/', `web.${DOMAIN}`)) === 200 || undefined,
    'serve to route web by Host',
  )
  await waitUntil(
    async () => (await echoThrough(addresses.echo, SERVICE_PORTS.echo)) || undefined,
    'serve to forward TCP to the echo Service',
  )
  return {serve, addresses}
}

/** Polls `check` every 50 ms until it returns a value, or throws after `timeoutMs`. */
export async function waitUntil<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await sleep(50)
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The status of one GET; the body is read and dropped. */
export function httpStatus(
  host: string,
  port: number,
  path: string,
  hostHeader?: string,
  agent: http.Agent | false = false,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({host, port, path, agent, headers: hostHeader ? {host: hostHeader} : {}}, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.setTimeout(5000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/** True when a line sent to `host:port` comes back (the echo-once backend, through whatever is in between). */
function echoThrough(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({host, port})
    let got = ''
    socket.setTimeout(2000, () => socket.destroy())
    socket.on('connect', () => socket.write('hello\n'))
    socket.on('data', (d) => (got += d.toString()))
    socket.on('close', () => resolve(got === 'hello\n'))
    socket.on('error', () => {})
  })
}
