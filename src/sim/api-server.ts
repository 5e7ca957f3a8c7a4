// A simulated Kubernetes API server: read-only, in memory, good enough for real kubectl and
// @kubernetes/client-node (lists, gets, watches, discovery, Tables, bearer tokens, RBAC denials, faults).
import http from 'node:http'
import https from 'node:https'
import type {AddressInfo} from 'node:net'
import {stringify} from 'yaml'
import {discoveryResponse, servedKinds} from './discovery.js'
import {CORE_EVENT_FIELDS, EVENTS_V1_FIELDS, isEventsV1, storageOf, toEventsV1} from './events.js'
import {joinApiVersion, type KindInfo} from './kinds.js'
import {PortForwardServer, portForwardTarget, refuseUpgrade} from './port-forward.js'
import {parseFieldSelector, parseLabelSelector, SelectorError, type Matcher} from './selectors.js'
import {failure, statusBody} from './status.js'
import type {KubeObject} from './kinds.js'
import {ObjectStore, type StoreEvent} from './store.js'
import {buildTable, type IncludeObject} from './table.js'

export type {KubeObject} from './kinds.js'
export {loadObjectsFromYaml} from './load-yaml.js'
export {statusBody} from './status.js'

/** One RBAC rule; `'*'` in a list matches anything. */
export interface PolicyRule {
  apiGroups: string[]
  resources: string[]
  verbs: string[]
}

/** How to start the simulator. */
export interface SimServerOptions {
  objects?: KubeObject[]
  host?: string
  port?: number
  tls?: {cert: string; key: string}
  tokens?: Record<string, string> // bearer token -> user name
  rbac?: Record<string, PolicyRule[]> // user -> allowed rules
}

/** What a fault hook sees of a request. */
export interface FaultRequest {
  method: string
  path: string
  query: URLSearchParams
  watch: boolean
}

/** An injected failure: a status (and body), a request that never gets an answer, or a watch that sends garbage. */
export type Fault = {status: number; body?: unknown} | 'hang' | {corruptWatchLine: true}

/** One served request, for tests to assert on. */
export interface RequestLogEntry {
  method: string
  path: string
  user?: string
  status: number // 0 while no answer was sent (a hang)
}

/** A running simulator. */
export interface SimServer {
  url: string
  close(): Promise<void>
  apply(obj: KubeObject): KubeObject
  remove(apiVersion: string, kind: string, name: string, namespace?: string): boolean
  objects(): KubeObject[]
  compact(): void
  dropWatches(): void // ends every open watch stream, like an API server restart; clients must resume
  /** Ends every open pods/portforward stream, as an API server restart does. */
  dropPortForwards(): void
  /** pods/portforward streams opened so far. */
  portForwards(): number
  setFault(f: ((req: FaultRequest) => Fault | undefined) | undefined): void
  kubeconfig(opts?: {
    token?: string
    contextName?: string
    caPem?: string
    insecure?: boolean
    namespace?: string
  }): string
  requests: RequestLogEntry[]
}

const BOOKMARK_IDLE_MS = 1000 // real servers send bookmarks about once a minute; tests want them sooner
const ANONYMOUS = 'system:anonymous'

/** Where a resource request points, parsed from its path like the real server's RequestInfo. */
interface ResourceTarget {
  group: string
  version: string
  resource: string
  namespace?: string
  name?: string
  subresource?: string
  watchPath: boolean // the deprecated /watch/ path prefix
}

function parseResourcePath(parts: string[]): ResourceTarget | undefined {
  let rest: string[]
  let group = ''
  let version: string
  if (parts[0] === 'api' && parts.length >= 3) [version, rest] = [parts[1]!, parts.slice(2)]
  else if (parts[0] === 'apis' && parts.length >= 4) [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)]
  else return undefined
  const watchPath = rest[0] === 'watch'
  if (watchPath) rest = rest.slice(1)
  let namespace: string | undefined
  if (rest[0] === 'namespaces' && rest.length >= 3) [namespace, rest] = [rest[1], rest.slice(2)]
  const [resource, name, subresource, ...extra] = rest
  if (!resource || extra.length > 0) return undefined
  return {group, version, resource, namespace, name, subresource, watchPath}
}

function allowed(rules: PolicyRule[], verb: string, group: string, resource: string): boolean {
  const has = (list: string[], value: string) => list.includes('*') || list.includes(value)
  return rules.some((r) => has(r.verbs, verb) && has(r.apiGroups, group) && has(r.resources, resource))
}

// The message the real authorizer writes, word for word, because clients show it to users.
function forbidden(user: string, verb: string, t: ResourceTarget) {
  const what = t.name ? `${qualified(t.resource, t.group)} "${t.name}"` : qualified(t.resource, t.group)
  const scope = t.namespace ? `in the namespace "${t.namespace}"` : 'at the cluster scope'
  const message = `${what} is forbidden: User "${user}" cannot ${verb} resource "${t.resource}" in API group "${t.group}" ${scope}`
  return statusBody(403, 'Forbidden', message, {...(t.name ? {name: t.name} : {}), group: t.group, kind: t.resource})
}

// How the server names a resource in messages: `services`, but `deployments.apps`.
function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource
}

function wantsTable(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((part) => /\bas=Table\b/.test(part) && /\bg=meta\.k8s\.io\b/.test(part))
}

/** Starts the simulator on `host:port` (default 127.0.0.1, a free port). */
export async function startSimServer(opts: SimServerOptions = {}): Promise<SimServer> {
  const store = new ObjectStore()
  // CRDs first so objects of the kinds they define are accepted; objects of unknown kinds are skipped.
  const initial = [...(opts.objects ?? [])].sort(
    (a, b) => Number(b.kind === 'CustomResourceDefinition') - Number(a.kind === 'CustomResourceDefinition'),
  )
  for (const obj of initial) if (store.kindOf(obj.apiVersion, obj.kind)) store.apply(obj)

  const requests: RequestLogEntry[] = []
  // Open watch (and hung) responses, each with the function that ends it and stops its timers.
  const openStreams = new Map<http.ServerResponse, () => void>()
  let fault: ((req: FaultRequest) => Fault | undefined) | undefined
  let url = ''

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const parsed = new URL(req.url ?? '/', 'http://sim')
    const path = parsed.pathname.replace(/\/+$/, '') || '/'
    const query = parsed.searchParams
    const parts = path.split('/').filter(Boolean)
    const target = parseResourcePath(parts)
    const watch = ['true', '1'].includes(query.get('watch') ?? '') || target?.watchPath === true
    const entry: RequestLogEntry = {method: req.method ?? 'GET', path, status: 0}
    requests.push(entry)
    const send = (status: number, body: unknown, contentType = 'application/json') => {
      entry.status = status
      const text = typeof body === 'string' ? body : JSON.stringify(body)
      res.writeHead(status, {'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text)})
      res.end(text)
    }
    const fail = (code: number, message: string, details?: Record<string, unknown>) =>
      send(code, failure(code, message, details))

    const injected = fault?.({method: entry.method, path, query, watch})
    if (injected !== undefined) return applyFault(injected, watch, entry, res, send)

    // Without tokens everyone is anonymous; with tokens, an unknown one is a 401 before anything else.
    const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim()
    const user = opts.tokens ? opts.tokens[token ?? ''] : ANONYMOUS
    if (user === undefined) return fail(401, 'Unauthorized')
    if (opts.tokens || opts.rbac) entry.user = user
    if (entry.method !== 'GET' && entry.method !== 'HEAD') {
      return fail(405, 'the server does not allow this method on the requested resource')
    }

    // Non-resource paths: open to every authenticated user, as the system:discovery role makes them.
    const discovery = discoveryResponse(store, parts, req.headers.accept, new URL(url).host)
    if (discovery) return send(discovery.status, discovery.body, discovery.contentType)
    if (!target) return fail(404, 'the server could not find the requested resource')

    const verb = watch ? 'watch' : target.name ? 'get' : 'list'
    if (opts.rbac && !allowed(opts.rbac[user] ?? [], verb, target.group, target.resource)) {
      return send(403, forbidden(user, verb, target))
    }

    const info = servedKinds(store, target.group, target.version)?.find((k) => k.resource === target.resource)
    if (!info || target.subresource || (target.namespace !== undefined && !info.namespaced)) {
      return fail(404, 'the server could not find the requested resource')
    }
    const apiVersion = joinApiVersion(info.group, info.version)
    // events.k8s.io/v1 Events are core Events in another shape (./events.ts); everything else is served as stored.
    const storage = storageOf(info)
    const view = isEventsV1(info) ? toEventsV1 : (obj: KubeObject) => obj
    const asServed = (obj: KubeObject): KubeObject => ({...view(obj), apiVersion, kind: info.kind})
    const fields = info.kind !== 'Event' ? {} : isEventsV1(info) ? EVENTS_V1_FIELDS : CORE_EVENT_FIELDS
    let matches: Matcher
    try {
      const byLabel = parseLabelSelector(query.get('labelSelector') ?? '')
      const byField = parseFieldSelector(query.get('fieldSelector') ?? '', fields)
      const byName = target.name === undefined ? () => true : (o: KubeObject) => o.metadata.name === target.name
      const byNamespace =
        target.namespace === undefined ? () => true : (o: KubeObject) => o.metadata.namespace === target.namespace
      matches = (o) => byNamespace(o) && byName(o) && byLabel(o) && byField(view(o))
    } catch (err) {
      if (err instanceof SelectorError) return fail(400, err.message)
      throw err
    }
    const table = (objects: KubeObject[]) =>
      buildTable(info, objects, {
        nowMs: Date.now(),
        includeObject: includeObject(query),
        resourceVersion: String(store.resourceVersion()),
      })

    if (watch) {
      // `kubectl get -w` wants each event as a one-row Table; like the real server, only the first carries columns.
      let columnsSent = false
      const render = !wantsTable(req.headers.accept)
        ? asServed
        : (obj: KubeObject) => {
            const t = table([view(obj)])
            if (columnsSent) t.columnDefinitions = []
            columnsSent = true
            return t
          }
      return startWatch(info, storage, render, matches, query, entry, res, fail)
    }
    if (target.name) {
      const obj = store.get(storage.group, storage.resource, target.name, target.namespace)
      if (!obj) {
        const details = {name: target.name, ...(info.group ? {group: info.group} : {}), kind: info.resource}
        return fail(404, `${qualified(info.resource, info.group)} "${target.name}" not found`, details)
      }
      return send(200, wantsTable(req.headers.accept) ? table([view(obj)]) : asServed(obj))
    }
    const items = store.list(storage.group, storage.resource).filter(matches).sort(byNamespaceAndName)
    if (wantsTable(req.headers.accept)) return send(200, table(items.map(view)))
    return send(200, {
      kind: `${info.kind}List`,
      apiVersion,
      metadata: {resourceVersion: String(store.resourceVersion())},
      items: items.map(asServed),
    })
  }

  // A watch: replay from the requested resourceVersion, then stream live events as JSON lines.
  // https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
  function startWatch(
    info: KindInfo,
    storage: {group: string; resource: string},
    render: (o: KubeObject) => unknown,
    matches: Matcher,
    query: URLSearchParams,
    entry: RequestLogEntry,
    res: http.ServerResponse,
    fail: (code: number, message: string) => void,
  ): void {
    const rvParam = query.get('resourceVersion') ?? ''
    const fromScratch = rvParam === '' || rvParam === '0' || query.get('sendInitialEvents') === 'true'
    const since = Number(rvParam)
    if (!fromScratch && !/^\d+$/.test(rvParam)) return fail(400, `invalid resource version: ${rvParam}`)
    const replay = fromScratch ? undefined : store.eventsSince(since)

    entry.status = 200
    res.writeHead(200, {'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private'})
    res.flushHeaders()
    let bookmarkTimer: NodeJS.Timeout | undefined
    let timeout: NodeJS.Timeout | undefined
    let unsubscribe = () => {}
    // Synchronous, so no event is written between ending the stream and its 'close' event.
    const stop = () => {
      unsubscribe()
      clearTimeout(bookmarkTimer)
      clearTimeout(timeout)
      openStreams.delete(res)
      res.end()
    }
    openStreams.set(res, stop)
    res.on('close', stop)
    const bookmarks = query.get('allowWatchBookmarks') === 'true'
    const write = (type: string, object: unknown) => {
      if (res.writableEnded) return
      res.write(JSON.stringify({type, object}) + '\n')
      if (bookmarks) {
        clearTimeout(bookmarkTimer)
        bookmarkTimer = setTimeout(bookmark, BOOKMARK_IDLE_MS)
      }
    }
    // Every event up to the global resourceVersion has been sent, so a client may resume from it.
    const bookmark = (annotations?: Record<string, string>) =>
      write('BOOKMARK', {
        kind: info.kind,
        apiVersion: joinApiVersion(info.group, info.version),
        metadata: {resourceVersion: String(store.resourceVersion()), ...(annotations ? {annotations} : {})},
      })

    if (replay === 'expired') {
      const oldest = store.oldestKept()
      write('ERROR', statusBody(410, 'Expired', `too old resource version: ${since} (${oldest})`))
      return stop()
    }

    // A selector watch sees an object that starts or stops matching as ADDED or DELETED, as on a real server.
    const forward = (e: StoreEvent) => {
      if (e.info.group !== storage.group || e.info.resource !== storage.resource) return
      const now = matches(e.object)
      const before = e.previous !== undefined && matches(e.previous)
      if (e.type === 'MODIFIED' && now !== before) write(now ? 'ADDED' : 'DELETED', render(e.object))
      else if (now) write(e.type, render(e.object))
    }
    if (replay === undefined) {
      for (const obj of store.list(storage.group, storage.resource).filter(matches).sort(byNamespaceAndName))
        write('ADDED', render(obj))
      if (query.get('sendInitialEvents') === 'true' && bookmarks) bookmark({'k8s.io/initial-events-end': 'true'})
    } else {
      for (const e of replay) forward(e)
    }
    unsubscribe = store.subscribe(forward)
    if (bookmarks && !bookmarkTimer) bookmarkTimer = setTimeout(bookmark, BOOKMARK_IDLE_MS)
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0')
    if (timeoutSeconds > 0) timeout = setTimeout(stop, timeoutSeconds * 1000)
  }

  function applyFault(
    f: Fault,
    watch: boolean,
    entry: RequestLogEntry,
    res: http.ServerResponse,
    send: (status: number, body: unknown) => void,
  ): void {
    if (f === 'hang') {
      // Hold the request open; close() ends it. A watch gets its 200 and then silence.
      if (watch) {
        entry.status = 200
        res.writeHead(200, {'Content-Type': 'application/json'})
        res.flushHeaders()
      }
      openStreams.set(res, () => (watch ? res.end() : res.destroy()))
      res.on('close', () => openStreams.delete(res))
      return
    }
    if ('corruptWatchLine' in f) {
      entry.status = 200
      res.writeHead(200, {'Content-Type': 'application/json'})
      res.end('this is not a JSON watch event {\n')
      return
    }
    send(f.status, f.body ?? failure(f.status, `injected fault: HTTP ${f.status}`))
  }

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      handle(req, res)
    } catch (err) {
      // A bug in the simulator must show up as a 500 in the test, not as a dead server.
      if (!res.headersSent) {
        const body = JSON.stringify(statusBody(500, 'InternalError', `simulated API server: ${(err as Error).message}`))
        res.writeHead(500, {'Content-Type': 'application/json'}).end(body)
      } else res.destroy()
    }
  }
  const server = opts.tls
    ? https.createServer({cert: opts.tls.cert, key: opts.tls.key}, onRequest)
    : http.createServer(onRequest)

  // pods/portforward: authorized like the real server (create on the subresource, as API servers with
  // AuthorizePodWebsocketUpgradeCreatePermission check a WebSocket upgrade), then served by PortForwardServer.
  const portForwards = new PortForwardServer()
  server.on('upgrade', (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    const path = new URL(req.url ?? '/', 'http://sim').pathname
    const entry: RequestLogEntry = {method: req.method ?? 'GET', path, status: 0}
    requests.push(entry)
    const refuse = (status: number, body: unknown) => {
      entry.status = status
      refuseUpgrade(socket, status, body)
    }
    const target = portForwardTarget(path)
    if (!target) return refuse(404, failure(404, 'the server could not find the requested resource'))
    const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim()
    const user = opts.tokens ? opts.tokens[token ?? ''] : ANONYMOUS
    if (user === undefined) return refuse(401, failure(401, 'Unauthorized'))
    if (opts.tokens || opts.rbac) entry.user = user
    if (opts.rbac && !allowed(opts.rbac[user] ?? [], 'create', '', 'pods/portforward')) {
      const message = `pods "${target.pod}" is forbidden: User "${user}" cannot create resource "pods/portforward" in API group "" in the namespace "${target.namespace}"`
      return refuse(403, statusBody(403, 'Forbidden', message, {name: target.pod, kind: 'pods'}))
    }
    const pod = store.get('', 'pods', target.pod, target.namespace)
    entry.status = portForwards.handle(req, socket, head, pod, target.pod)
  })
  const host = opts.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const {port} = server.address() as AddressInfo
  url = `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`

  return {
    url,
    requests,
    async close() {
      portForwards.closeAll()
      for (const stop of [...openStreams.values()]) stop()
      openStreams.clear()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
    apply: (obj) => store.apply(obj),
    remove: (apiVersion, kind, name, namespace) => store.remove(apiVersion, kind, name, namespace),
    objects: () => store.list().map((o) => structuredClone(o)),
    compact: () => store.compact(),
    dropWatches() {
      for (const stop of [...openStreams.values()]) stop()
    },
    dropPortForwards: () => portForwards.closeAll(),
    portForwards: () => portForwards.served,
    setFault(f) {
      fault = f
    },
    kubeconfig(k = {}) {
      const name = k.contextName ?? 'sim'
      const cluster: Record<string, unknown> = {server: url}
      if (k.caPem) cluster['certificate-authority-data'] = Buffer.from(k.caPem).toString('base64')
      // client-node 1.4 refuses http:// unless TLS verification is explicitly off.
      if (k.insecure || url.startsWith('http:')) cluster['insecure-skip-tls-verify'] = true
      return stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{name, cluster}],
        users: [{name, user: k.token ? {token: k.token} : {}}],
        contexts: [{name, context: {cluster: name, user: name, ...(k.namespace ? {namespace: k.namespace} : {})}}],
        'current-context': name,
      })
    },
  }
}

function includeObject(query: URLSearchParams): IncludeObject {
  const value = query.get('includeObject')
  return value === 'None' || value === 'Object' ? value : 'Metadata'
}

function byNamespaceAndName(a: KubeObject, b: KubeObject): number {
  return (
    (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
    a.metadata.name.localeCompare(b.metadata.name)
  )
}
