// Services, Nodes and EndpointSlices kept current with client-node informers (list + watch). The 1.4 informer
// relists on 410 by itself but stops for good on any other error (node_modules/@kubernetes/client-node/dist/cache.js,
// ListWatch's doneHandler), so after an error each resource is recovered with jittered exponential backoff; and every
// watch is restarted periodically because a half-open watch can stall without an error. Lists go through ApiClient,
// so objects stay plain JSON and failures read like `list`'s.
//
// The two kinds of restart differ:
// - The periodic re-watch is routine and never logged. It resumes from the last resourceVersion: the server replays
//   what was missed, or answers 410 Gone when that is compacted away and the informer relists
//   (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes).
// - Recovery after an error ("watch lost") starts a new informer, which lists before it watches, and swaps it in once
//   both worked. Resuming instead would not tell when the map is current: a resumed watch that opens may still be
//   answered 410 a moment later, and the relist that follows may fail. So "watch restored: the map is current again"
//   follows a complete list, and one outage logs one "lost" and one "restored". Until then the snapshot is the last
//   known one.
import {
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node'
import type {ClusterSnapshot, DetectionSignals} from '../plan/types.js'
import {firstLine} from '../errors.js'
import {ApiStatusError, type ApiClient} from './client.js'
import {toEndpointSlice, toNode, toService} from './convert.js'
import {emptyIngressObjects, ingressResources, isScoped, namespacedPath, type IngressResource} from './ingress-read.js'
import {ExposeLbError} from '../errors.js'

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

type ResourceInformer = Informer<KubernetesObject> & ObjectCache<KubernetesObject>

interface Resource<T> {
  name: string
  /** A new informer for this resource, wired to this watch; it lists before it watches. */
  create: () => ResourceInformer
  /** The informer the snapshot reads. */
  informer: ResourceInformer
  /** During recovery: the new informer, which replaces `informer` once it has listed and its watch is open. */
  replacement?: ResourceInformer
  convert: (raw: unknown) => T
  /** Conversions by object identity: the informer keeps unchanged objects, so only changed ones convert again. */
  cache: WeakMap<object, T>
  /** Events of this resource's informers so far: the last snapshot's list stands while it stays the same. */
  events: number
  /** The converted objects the last snapshot listed, from which informer after how many events. */
  listed?: {informer: ResourceInformer; events: number; items: T[]}
  attempt: number
  timer?: NodeJS.Timeout
  /** From an error until a replacement has listed and watches. */
  failing: boolean
  /** Ingress and Gateway API kinds: a 403 or 404 on the first list means "none" rather than a failed start. */
  optional?: IngressResource
  /** An optional resource whose first list was refused: not watched, empty. */
  absent?: boolean
}

/** Watches the cluster and offers the current snapshot; keeps the last known objects while the API is away. */
export class ClusterWatch {
  private readonly resources: [
    Resource<ReturnType<typeof toService>>,
    Resource<ReturnType<typeof toNode>>,
    Resource<ReturnType<typeof toEndpointSlice>>,
  ]
  /** Ingress and Gateway API resources, found on the server at start(). */
  private extra: Resource<unknown>[] = []
  /** Optional resources refused at start, logged once start() succeeded. */
  private readonly absentNotes: string[] = []
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
    optional?: IngressResource,
  ): Resource<T> {
    const list = () =>
      this.options.api.get<{metadata: {resourceVersion?: string}; items: KubernetesObject[]}>({
        path: listPath,
        ...target,
      })
    const create = (): ResourceInformer => {
      const informer = makeInformer(this.options.kc, watchPath, list as never, labelSelector)
      informer.on('error', (error: unknown) => this.failed(r, informer, error))
      for (const verb of ['add', 'update', 'delete'] as const) {
        // client-node's cache calls these right after each change it makes to its objects (cache.js).
        informer.on(verb, () => {
          r.events++
          if (informer === r.informer) this.options.onChange()
        })
      }
      return informer
    }
    const r: Resource<T> = {
      name,
      create,
      informer: create(),
      convert,
      cache: new WeakMap(),
      events: 0,
      attempt: 0,
      failing: false,
      ...(optional ? {optional} : {}),
    }
    return r
  }

  /** Starts all watches; resolves after the first list of each, rejects with the first error if one fails first. */
  async start(): Promise<void> {
    this.extra = await this.optionalResources()
    await Promise.all(this.all().map((r) => this.restart(r)))
    if (this.all().every((r) => !r.failing)) {
      this.isReady = true
      this.markReady()
    }
    await this.ready
    for (const note of this.absentNotes.splice(0)) this.options.log(note)
    this.scheduleRewatch()
  }

  private all(): Resource<unknown>[] {
    return [...this.resources, ...this.extra]
  }

  /** Informers for the Ingress and Gateway API kinds this server serves; their objects stay raw until snapshot(). */
  private async optionalResources(): Promise<Resource<unknown>[]> {
    const {resources, unavailable} = await ingressResources(this.options.api)
    for (const what of unavailable) this.absentNotes.push(`cannot ${what}: serving without those hosts`)
    const ns = this.options.namespace
    return resources.map((ir) => {
      const path = ns && isScoped(ir) ? namespacedPath(ir.path, ns) : ir.path
      const resource = `${ir.resource}.${ir.group}`
      return this.resource(ir.resource, path, path, (raw) => raw, undefined, {verb: 'list', resource}, ir)
    })
  }

  /** Starts or restarts `r`'s informer: it lists the first time, and afterwards resumes from its resourceVersion. */
  private restart(r: Resource<unknown>): Promise<void> {
    const informer = r.informer
    return informer.start().catch((error: unknown) => this.failed(r, informer, error))
  }

  /** After an error: a new informer lists and watches, and takes over once both worked. */
  private async recover(r: Resource<unknown>): Promise<void> {
    const next = r.create()
    r.replacement = next
    await next.start().catch((error: unknown) => this.failed(r, next, error))
    // failed() drops a replacement that fails and schedules the next attempt; stop() stops a pending one.
    if (this.stopped || r.replacement !== next) return
    const previous = r.informer
    r.informer = next
    r.replacement = undefined
    r.failing = false
    r.attempt = 0
    void previous.stop()
    this.options.onChange()
    if (this.lost && this.all().every((x) => !x.failing)) {
      this.lost = false
      this.options.log('watch restored: the map is current again')
    }
  }

  private failed(r: Resource<unknown>, informer: ResourceInformer, error: unknown): void {
    // Restarting or stopping an informer aborts its watch, and the informer passes the abort on as an error
    // (node_modules/@kubernetes/client-node/dist/watch.js, doneCallOnce): that one is ours, not the API server's.
    if (this.stopped || isAbort(error)) return
    if (informer !== r.informer && informer !== r.replacement) return // a replaced informer's last words
    const refused = refusedStatus(error)
    if (!this.isReady && r.optional && refused) {
      // Hosts are an extra: without the right to read them (or once the kind is gone), serve runs without them. Said
      // once start() succeeded, so that a cluster serve cannot read at all fails with its own line first.
      if (!r.absent)
        this.absentNotes.push(`cannot list ${r.name}.${r.optional.group} (${refused}): serving without those hosts`)
      r.absent = true
      return
    }
    r.failing = true
    // Before the first complete list, a failure is the command's error (unreachable, 403, …): report it as such.
    if (!this.isReady) return this.failStart(error)
    if (informer === r.replacement) {
      r.replacement = undefined
      void informer.stop()
    }
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
    clearTimeout(r.timer) // never more than one pending recovery per resource
    r.timer = setTimeout(() => void this.recover(r), delay)
    r.timer.unref()
  }

  /** Restarts every healthy watch now and then; a failing one is left to its recovery. */
  private scheduleRewatch(): void {
    const every = this.options.rewatchMs ?? 5 * 60_000
    this.rewatchTimer = setInterval(() => {
      for (const r of this.all()) if (!r.failing && !r.absent) void this.restart(r)
    }, every)
    this.rewatchTimer.unref()
  }

  /**
   * The objects as last seen, converted to the slim types. A kind with no event since the last snapshot gives that
   * snapshot's list again (the planner's memo compares lists by their objects; nobody changes them): listing an
   * informer copies every object it holds, 2 MB per change at 10,000 Services (docs/performance.md).
   */
  snapshot(): ClusterSnapshot {
    const all = <T>(r: Resource<T>): T[] => {
      const last = r.listed
      if (last && last.informer === r.informer && last.events === r.events) return last.items
      const items = r.informer.list().map((o) => {
        let converted = r.cache.get(o)
        if (!converted) {
          r.cache.set(o, (converted = r.convert(o)))
          keepIdentityOnly(o)
        }
        return converted
      })
      r.listed = {informer: r.informer, events: r.events, items}
      return items
    }
    const [services, nodes, slices] = this.resources
    const ingress = emptyIngressObjects()
    for (const r of this.extra) {
      if (r.absent) continue
      for (const raw of r.informer.list()) r.optional!.add(ingress, raw)
    }
    return {services: all(services), nodes: all(nodes), endpointSlices: all(slices), signals: EMPTY_SIGNALS, ingress}
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.rewatchTimer)
    for (const r of this.all()) clearTimeout(r.timer)
    const informers = this.all().flatMap((r) => (r.replacement ? [r.informer, r.replacement] : [r.informer]))
    await Promise.all(informers.map((informer) => informer.stop()))
  }
}

/**
 * Empties an object the informer keeps once it is converted, but for what the informer itself reads of it: name,
 * namespace and resourceVersion (node_modules/@kubernetes/client-node/dist/cache.js: addOrUpdateObject,
 * deleteObject, isSameVersion). The converted copy is all serve reads, and stays cached for this object (it is the
 * WeakMap key); a change arrives as a new object. So the watch keeps one copy of each object, not two: at 10,000
 * Services, their EndpointSlices and 100 nodes the raw objects held about 14 MB of heap (test/bench/scale-bench.ts),
 * more on a real cluster, whose objects carry managedFields.
 */
function keepIdentityOnly(raw: KubernetesObject): void {
  const {name, namespace, resourceVersion} = raw.metadata ?? {}
  raw.metadata = {name, namespace, resourceVersion}
  const fields = raw as Record<string, unknown>
  // Set rather than deleted: the object keeps its shape instead of turning into a dictionary.
  for (const key of Object.keys(fields)) if (key !== 'metadata') fields[key] = undefined
}

/** `forbidden` for a 403 and `not found` for a 404 from the API server; undefined for anything else. */
function refusedStatus(error: unknown): string | undefined {
  const status =
    error instanceof ApiStatusError
      ? error.status
      : error instanceof ExposeLbError && error.code === 'forbidden'
        ? 403
        : (error as {statusCode?: number} | undefined)?.statusCode
  return status === 403 ? 'forbidden' : status === 404 ? 'not found' : undefined
}

/** node-fetch's error for an aborted request (node_modules/node-fetch/lib/index.js, AbortError). */
function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError'
}
