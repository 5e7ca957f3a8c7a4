// Services, Nodes and EndpointSlices kept current with client-node informers (list + watch). The 1.4 informer
// relists on 410 by itself but stops for good on any other error (node_modules/@kubernetes/client-node/dist/cache.js,
// ListWatch's doneHandler), so each one is
// restarted with jittered exponential backoff, and restarted periodically because a half-open watch can stall
// without an error. Lists go through ApiClient, so objects stay plain JSON and failures read like `list`'s.
import {
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node'
import type {ClusterSnapshot, DetectionSignals} from '../plan/types.js'
import {firstLine} from '../errors.js'
import type {ApiClient} from './client.js'
import {toEndpointSlice, toNode, toService} from './convert.js'

export interface ClusterWatchOptions {
  kc: KubeConfig
  api: ApiClient
  namespace?: string
  selector?: string
  /** Called (batched) after objects changed. */
  onChange: () => void
  /** One line per transition: watch lost / restored. */
  log: (line: string) => void
  backoffInitialMs?: number
  backoffMaxMs?: number
  /** Restart every watch this often even when it looks healthy (default 5 min). */
  rewatchMs?: number
  /** Jitter source in [0, 1); tests pass a fixed one. */
  random?: () => number
}

const EMPTY_SIGNALS: DetectionSignals = {
  apiGroups: [],
  workloads: [],
  configMaps: {},
  customObjectCounts: {},
  ingressClasses: [],
  unavailable: [],
}

interface Resource<T> {
  name: string
  informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>
  convert: (raw: unknown) => T
  /** Conversions by object identity: the informer keeps unchanged objects, so only changed ones convert again. */
  cache: WeakMap<object, T>
  attempt: number
  timer?: NodeJS.Timeout
  failing: boolean
}

/** Watches the cluster and offers the current snapshot; keeps the last known objects while the API is away. */
export class ClusterWatch {
  private readonly resources: [
    Resource<ReturnType<typeof toService>>,
    Resource<ReturnType<typeof toNode>>,
    Resource<ReturnType<typeof toEndpointSlice>>,
  ]
  private stopped = false
  private lost = false
  private rewatchTimer?: NodeJS.Timeout
  private ready: Promise<void>
  private markReady!: () => void
  private failStart!: (error: unknown) => void
  private isReady = false

  constructor(private readonly options: ClusterWatchOptions) {
    const ns = options.namespace
    const scoped = (base: string, resource: string) =>
      ns ? `${base}/namespaces/${encodeURIComponent(ns)}/${resource}` : `${base}/${resource}`
    const services = scoped('/api/v1', 'services')
    const slices = scoped('/apis/discovery.k8s.io/v1', 'endpointslices')
    const selector = options.selector ? `?labelSelector=${encodeURIComponent(options.selector)}` : ''
    this.resources = [
      this.resource('services', services, services + selector, toService, options.selector, {
        verb: 'list',
        resource: 'services',
        namespace: ns,
      }),
      this.resource('nodes', '/api/v1/nodes', '/api/v1/nodes', toNode, undefined, {verb: 'list', resource: 'nodes'}),
      this.resource('endpointslices', slices, slices, toEndpointSlice, undefined, {
        verb: 'list',
        resource: 'endpointslices.discovery.k8s.io',
        namespace: ns,
      }),
    ]
    this.ready = new Promise((resolve, reject) => {
      this.markReady = resolve
      this.failStart = reject
    })
    // start() awaits it only after every first list finished; until then a rejection must not count as unhandled.
    this.ready.catch(() => {})
  }

  private resource<T>(
    name: string,
    watchPath: string,
    listPath: string,
    convert: (raw: unknown) => T,
    labelSelector: string | undefined,
    target: {verb: 'list'; resource: string; namespace?: string},
  ): Resource<T> {
    const list = () =>
      this.options.api.get<{metadata: {resourceVersion?: string}; items: KubernetesObject[]}>({
        path: listPath,
        ...target,
      })
    const informer = makeInformer(this.options.kc, watchPath, list as never, labelSelector)
    const r: Resource<T> = {name, informer, convert, cache: new WeakMap(), attempt: 0, failing: false}
    informer.on('error', (error: unknown) => this.failed(r, error))
    for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, () => this.options.onChange())
    return r
  }

  /** Starts all watches; resolves after the first list of each, rejects with the first error if one fails first. */
  async start(): Promise<void> {
    await Promise.all(this.resources.map((r) => this.run(r)))
    if (this.resources.every((r) => !r.failing)) {
      this.isReady = true
      this.markReady()
    }
    await this.ready
    this.scheduleRewatch()
  }

  private async run(r: Resource<unknown>): Promise<void> {
    r.failing = false
    await r.informer.start().catch((error: unknown) => this.failed(r, error))
    if (this.stopped || r.failing) return
    r.attempt = 0
    if (this.lost && this.resources.every((x) => !x.failing)) {
      this.lost = false
      this.options.log('watch restored: the map is current again')
      this.options.onChange()
    }
  }

  private failed(r: Resource<unknown>, error: unknown): void {
    // Restarting or stopping an informer aborts its watch, and the informer passes the abort on as an error
    // (node_modules/@kubernetes/client-node/dist/watch.js, doneCallOnce): that one is ours, not the API server's.
    // Counted as a failure, every periodic re-watch logged "watch lost" and restarted the watch a second time.
    if (isAbort(error)) return
    r.failing = true
    if (this.stopped) return
    // Before the first complete list, a failure is the command's error (unreachable, 403, …): report it as such.
    if (!this.isReady) return this.failStart(error)
    if (!this.lost) {
      this.lost = true
      this.options.log(
        `watch lost (${r.name}: ${firstLine(error)}); serving the last known map until the API server is back`,
      )
    }
    const initial = this.options.backoffInitialMs ?? 200
    const max = this.options.backoffMaxMs ?? 30_000
    const jitter = 0.5 + (this.options.random ?? Math.random)()
    const delay = Math.min(max, initial * 2 ** r.attempt++) * jitter
    clearTimeout(r.timer) // never more than one pending restart per watch
    r.timer = setTimeout(() => void this.run(r), delay)
    r.timer.unref()
  }

  private scheduleRewatch(): void {
    const every = this.options.rewatchMs ?? 5 * 60_000
    this.rewatchTimer = setInterval(() => {
      for (const r of this.resources) if (!r.failing) void this.run(r)
    }, every)
    this.rewatchTimer.unref()
  }

  /** The objects as last seen, converted to the slim types. */
  snapshot(): ClusterSnapshot {
    const all = <T>(r: Resource<T>): T[] =>
      r.informer.list().map((o) => {
        let converted = r.cache.get(o)
        if (!converted) r.cache.set(o, (converted = r.convert(o)))
        return converted
      })
    const [services, nodes, slices] = this.resources
    return {services: all(services), nodes: all(nodes), endpointSlices: all(slices), signals: EMPTY_SIGNALS}
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.rewatchTimer)
    for (const r of this.resources) clearTimeout(r.timer)
    await Promise.all(this.resources.map((r) => r.informer.stop()))
  }
}

/** node-fetch's error for an aborted request (node_modules/node-fetch/lib/index.js, AbortError). */
function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError'
}
