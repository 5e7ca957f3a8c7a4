// Node-based TCP load for the serve bench: a sink and an echo-once backend on the node addresses, and clients for
// bulk throughput and connection rate. Each runs in its own child process (load-worker.ts, bundled once into the
// bench's temp dir), so the client's CPU is never spent inside serve's process or the bench's own.
import {build} from 'esbuild'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {startProcess, type Proc} from './procs.js'

export interface Address {
  host: string
  port: number
}

/** Bulk throughput of `connections` parallel streams; MB is 10^6 bytes. */
export interface StreamResult {
  bytes: number
  seconds: number
  mbPerS: number
  errors: string[]
}

/** Connections opened, exchanged once and closed, per second, at a fixed concurrency. */
export interface ConnectResult {
  connections: number
  seconds: number
  perS: number
  errors: number
  firstError?: string
}

/** Runs load-worker roles from a bundle made once per bench run. */
export class LoadRunner {
  private constructor(private readonly script: string) {}

  /** Bundles load-worker.ts into `dir`. */
  static async create(dir: string): Promise<LoadRunner> {
    const script = join(dir, 'load-worker.mjs')
    // In the bundled bench, import.meta.url is test/bench/.serve.<pid>.mjs, so this still finds the source.
    const source = fileURLToPath(new URL('./load-worker.ts', import.meta.url))
    await build({
      entryPoints: [source],
      outfile: script,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning',
    })
    return new LoadRunner(script)
  }

  /** Starts the sink, echo-once (and source) servers; stop() the returned process to close them. */
  async startBackends(spec: {sink: Address[]; echo: Address[]; source?: Address[]}): Promise<Proc> {
    return this.startServer('tcp-backends', 'backends', spec)
  }

  /** The plainest Node proxy: each `listen` piped to its `target` (see load-worker.ts); stop() it. */
  async startSplice(pairs: Array<{listen: Address; target: Address}>): Promise<Proc> {
    return this.startServer('node-splice', 'splice', pairs)
  }

  /** The same on Node's raw TCP handles, without net.Socket and streams (see load-worker.ts); stop() it. */
  async startRawSplice(pairs: Array<{listen: Address; target: Address}>): Promise<Proc> {
    return this.startServer('node-raw-splice', 'raw-splice', pairs)
  }

  /** The plainest Node UDP responder on `address`: an empty answer to every query (see load-worker.ts). */
  async startDnsFloor(address: Address): Promise<Proc> {
    return this.startServer('node-dns-floor', 'dns-floor', address)
  }

  private async startServer(name: string, role: string, args: object): Promise<Proc> {
    const proc = startProcess(name, process.execPath, [this.script, role, JSON.stringify(args)])
    await proc.waitForOutput(/^ready$/m, 10_000)
    return proc
  }

  /** `hello`: a TLS ClientHello each connection sends first (the SNI section). */
  stream(target: Address, connections: number, bytesPerConnection: number, hello?: Buffer): Promise<StreamResult> {
    return this.run<StreamResult>('stream', {
      ...target,
      connections,
      bytesPerConnection,
      hello: hello?.toString('base64'),
    })
  }

  /** `connections` downloads of `bytesPerConnection` each from a source, at once. */
  download(target: Address, connections: number, bytesPerConnection: number): Promise<StreamResult> {
    return this.run<StreamResult>('download', {...target, connections, bytesPerConnection})
  }

  connectRate(target: Address, concurrency: number, durationMs: number, hello?: Buffer): Promise<ConnectResult> {
    return this.run<ConnectResult>('connect', {...target, concurrency, durationMs, hello: hello?.toString('base64')})
  }

  private async run<T>(role: string, args: object): Promise<T> {
    const proc = startProcess(`load ${role}`, process.execPath, [this.script, role, JSON.stringify(args)])
    const code = await proc.exited
    const line = proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop()
    if (code !== 0 || !line) throw new Error(`load ${role} failed (${code}):\n${proc.output().slice(-2000)}`)
    return JSON.parse(line) as T
  }
}
