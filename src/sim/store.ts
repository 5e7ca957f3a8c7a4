// The simulated cluster's state: objects, one global resourceVersion, and the event history watches replay.
import {randomUUID} from 'node:crypto'
import {BUILTIN_KINDS, kindsFromCrd, splitApiVersion, type KindInfo, type KubeObject} from './kinds.js'
import {NodePortAllocator} from './node-ports.js'

/** A change, kept in the history so a watch from an older resourceVersion can replay it. */
export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  rv: number
  info: KindInfo
  object: KubeObject
  previous?: KubeObject // the state before a MODIFIED, so selector watches can see objects leave or enter
}

// The watch cache of a real API server keeps a bounded window too; 10k events is plenty for tests.
const MAX_HISTORY = 10_000

/** In-memory objects with the bookkeeping a real API server does on write. */
export class ObjectStore {
  private rv = 0
  private readonly byKey = new Map<string, KubeObject>()
  private history: StoreEvent[] = []
  private historyStart = 0 // every event with rv > historyStart is still in `history`
  private readonly listeners = new Set<(e: StoreEvent) => void>()
  private readonly nodePorts = new NodePortAllocator()

  /** The current global resourceVersion. */
  resourceVersion(): number {
    return this.rv
  }

  /** Built-in kinds plus those defined by stored CRDs. */
  kinds(): KindInfo[] {
    const crdKinds = this.list('apiextensions.k8s.io', 'customresourcedefinitions').flatMap(kindsFromCrd)
    const seen = new Set(BUILTIN_KINDS.map((k) => `${k.group}/${k.version}/${k.kind}`))
    return [...BUILTIN_KINDS, ...crdKinds.filter((k) => !seen.has(`${k.group}/${k.version}/${k.kind}`))]
  }

  /** The kind info for an object's apiVersion and kind, if served. */
  kindOf(apiVersion: string, kind: string): KindInfo | undefined {
    const {group, version} = splitApiVersion(apiVersion)
    return this.kinds().find((k) => k.group === group && k.version === version && k.kind === kind)
  }

  /** Stored objects, optionally only one resource and namespace. */
  list(group?: string, resource?: string, namespace?: string): KubeObject[] {
    const prefix = group === undefined ? '' : resource === undefined ? `${group}/` : `${group}/${resource}/`
    const out: KubeObject[] = []
    for (const [key, obj] of this.byKey) {
      if (!key.startsWith(prefix)) continue
      if (namespace !== undefined && obj.metadata.namespace !== namespace) continue
      out.push(obj)
    }
    return out
  }

  /** One stored object, or undefined. */
  get(group: string, resource: string, name: string, namespace?: string): KubeObject | undefined {
    return this.byKey.get(objectKey(group, resource, name, namespace))
  }

  /** Creates or replaces an object, as a write through the API would; throws on a kind the server does not serve. */
  apply(input: KubeObject): KubeObject {
    const info = this.kindOf(input.apiVersion, input.kind)
    if (!info)
      throw new Error(
        `cannot apply ${input.kind} ${input.metadata?.name}: kind ${input.kind} in ${input.apiVersion} is not served by the simulated API server`,
      )
    if (!input.metadata?.name) throw new Error(`cannot apply a ${input.kind} without metadata.name`)
    const obj = structuredClone(input)
    if (info.namespaced) obj.metadata.namespace ||= 'default'
    else delete obj.metadata.namespace
    if (info.namespaced && !this.get('', 'namespaces', obj.metadata.namespace!)) {
      // A namespace is older than what is in it; borrowing the object's timestamp keeps `kubectl get ns` ages sane.
      this.apply({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {name: obj.metadata.namespace!, creationTimestamp: obj.metadata.creationTimestamp},
      })
    }
    const key = objectKey(info.group, info.resource, obj.metadata.name, obj.metadata.namespace)
    const previous = this.byKey.get(key)
    obj.metadata.uid ||= previous?.metadata.uid ?? randomUUID()
    obj.metadata.creationTimestamp ||=
      previous?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z')
    if (info.group === '' && info.kind === 'Service') this.defaultService(obj, key, previous)
    if (info.group === '' && info.kind === 'Namespace') obj.status ??= {phase: 'Active'}
    obj.metadata.resourceVersion = String(++this.rv)
    this.byKey.set(key, obj)
    this.record({type: previous ? 'MODIFIED' : 'ADDED', rv: this.rv, info, object: obj, previous})
    return structuredClone(obj)
  }

  /** Deletes an object; the DELETED event carries its last state with a new resourceVersion. */
  remove(apiVersion: string, kind: string, name: string, namespace?: string): boolean {
    const info = this.kindOf(apiVersion, kind)
    if (!info) return false
    const key = objectKey(info.group, info.resource, name, info.namespaced ? namespace || 'default' : undefined)
    const last = this.byKey.get(key)
    if (!last) return false
    this.byKey.delete(key)
    if (info.group === '' && info.kind === 'Service') this.nodePorts.release(key, last.spec as ServiceSpec)
    const object = {...last, metadata: {...last.metadata, resourceVersion: String(++this.rv)}}
    this.record({type: 'DELETED', rv: this.rv, info, object})
    return true
  }

  /** Events after `rv`, or 'expired' when some of them are no longer kept. */
  eventsSince(rv: number): StoreEvent[] | 'expired' {
    if (rv < this.historyStart) return 'expired'
    return this.history.filter((e) => e.rv > rv)
  }

  /** The newest resourceVersion no longer replayable (what the real server reports in "too old resource version"). */
  oldestKept(): number {
    return this.historyStart
  }

  /** Forgets the history, like etcd compaction. */
  compact(): void {
    this.history = []
    this.historyStart = this.rv
  }

  /** Calls `fn` for each new event; returns the unsubscribe function. */
  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  private record(event: StoreEvent): void {
    this.history.push(event)
    if (this.history.length > MAX_HISTORY) this.historyStart = this.history.shift()!.rv
    for (const fn of [...this.listeners]) fn(event)
  }

  // What the API server fills in on create, so YAML from a repo behaves like it does in a cluster:
  // https://kubernetes.io/docs/reference/kubernetes-api/service-resources/service-v1/
  // A NodePort that is taken or outside the range, or a full range, throws SimApiError (./node-ports.ts).
  private defaultService(svc: KubeObject, key: string, previous?: KubeObject): void {
    svc.spec ??= {}
    const spec = svc.spec as ServiceSpec
    const before = (previous?.spec ?? {}) as ServiceSpec
    spec.type ??= 'ClusterIP'
    spec.ports ??= []
    for (const port of spec.ports) {
      port.protocol ??= 'TCP'
      port.targetPort ??= port.port
    }
    const nodePorts =
      (spec.type === 'NodePort' || spec.type === 'LoadBalancer') &&
      !(spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === false)
    if (!nodePorts) this.nodePorts.release(key, previous ? before : undefined)
    if (spec.type === 'ExternalName') return
    spec.clusterIP ||= before.clusterIP || this.freeClusterIP()
    spec.clusterIPs ??= [spec.clusterIP]
    spec.ipFamilies ??= [spec.clusterIP.includes(':') ? 'IPv6' : 'IPv4']
    if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') return
    spec.externalTrafficPolicy ??= 'Cluster'
    if (!nodePorts) return
    const ports = spec.ports
    // A Service port keeps its NodePort across updates that do not set one (same port and protocol as before).
    const keep = (i: number) =>
      before.ports?.find((p) => p.port === ports[i]!.port && (p.protocol ?? 'TCP') === ports[i]!.protocol)?.nodePort
    const wantsHealthCheck = spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local'
    const name = svc.metadata.name
    this.nodePorts.allocate(key, name, spec, previous ? before : undefined, keep, wantsHealthCheck)
  }

  private freeClusterIP(): string {
    const used = new Set(this.list('', 'services').map((s) => (s.spec as ServiceSpec | undefined)?.clusterIP))
    for (let i = 0; ; i++) {
      const ip = `10.43.${200 + Math.floor(i / 254)}.${(i % 254) + 1}`
      if (!used.has(ip)) return ip
    }
  }
}

interface ServiceSpec {
  type?: string
  clusterIP?: string
  clusterIPs?: string[]
  ipFamilies?: string[]
  externalTrafficPolicy?: string
  allocateLoadBalancerNodePorts?: boolean
  healthCheckNodePort?: number
  ports?: Array<{port: number; protocol?: string; nodePort?: number; targetPort?: number | string}>
}

function objectKey(group: string, resource: string, name: string, namespace?: string): string {
  return `${group}/${resource}/${namespace ?? ''}/${name}`
}
