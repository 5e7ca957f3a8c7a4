// serve's loop: watch → plan → map → apply to the DNS responder, the HTTP router, the per-service listeners and
// the health checks. Each side diffs what it is given, so a change to one Service touches only its own parts.
import {createDashboard} from '../dashboard/handler.js'
import {dashboardState} from '../dashboard/state.js'
import {startDnsServer, type DnsServer} from '../dns/server.js'
import {BindError, ExposeLbError, firstLine} from '../errors.js'
import type {Logger} from '../log.js'
import {hostPort} from '../net/address.js'
import {bindProblem, describeErrno, privilegeRemedies} from '../net/errno.js'
import {buildPlan} from '../plan/plan.js'
import {newPlanMemo} from '../plan/memo.js'
import {DASHBOARD_LABEL, reservedNames} from '../plan/names.js'
import type {Plan, PlannedService, PlanOptions} from '../plan/types.js'
import {HealthMonitor} from '../proxy/health.js'
import {HttpRouter} from '../proxy/http.js'
import {ListenerSet, type ApplyResult} from '../proxy/listeners.js'
import {SniRouter} from '../proxy/sni.js'
import {canBind} from '../proxy/socket.js'
import {TunnelGateways, type TunnelDial} from '../proxy/tunnels.js'
import {tunnelRoutes, type GatewayAddress} from '../servemap/tunnels.js'
import type {TunnelRoute} from '../servemap/types.js'
import {fallbackChanges, type FallbackChange} from '../servemap/fallback.js'
import {tunnelForbidden} from '../kube/rbac.js'
import type {ClusterSnapshot} from '../plan/types.js'
import {
  buildServeMap,
  KUBE_PROXY_HEALTHZ_PORT,
  type ServeBuild,
  type ServeOptions,
  type ServeRow,
} from '../servemap/map.js'
import {remoteRecords} from '../servemap/remote.js'
import {newServeMapMemo} from '../servemap/memo.js'
import {findPortHolder} from './port-holder.js'
import {memoByObject} from './memo-by-object.js'
import {ProbeSet, targetLists} from './probe-set.js'
import {FD_RESERVE, openFileLimit, overBudgetReason} from './fd-budget.js'
import {formatServeTable, rowChanges, rowKey, rowLine} from '../servemap/table.js'
import {probeKey, probeOf, type ForwardListener, type HealthState, type Probe} from '../servemap/types.js'

/**
 * Where the cluster's objects come from: ClusterWatch gives one cluster's snapshot, which the runtime plans;
 * ClusterSet (src/serve/clusters.ts) plans several clusters itself; tests pass fakes of either.
 */
export type SnapshotSource = {
  start(): Promise<void>
  stop(): Promise<void>
  /** What the dashboard should say of the source itself, e.g. a cluster that is away (ClusterSet). */
  notes?(): string[]
} & ({snapshot(): ClusterSnapshot; plan?: undefined} | {plan(options: PlanOptions): Plan; snapshot?: undefined})

export interface RuntimeOptions extends ServeOptions {
  plan: PlanOptions
  dnsPort: number
  /** Logs (stderr): one line per change. */
  log: Logger
  /** Data (stdout): the start-up table. */
  print: (text: string) => void
  /** Coalesce bursts of watch events (ms, default BATCH_MS). */
  batchMs?: number
  healthIntervalMs?: number
  /** Per listener (--max-connections). */
  maxConnections?: number
  /** TCP connections idle this long are closed (--idle-timeout). */
  idleTimeoutMs?: number
  /** Per-service ports in http mode refuse other hosts (default true; --no-host-check: false). */
  hostCheck?: boolean
  /** Called after each map is applied (serve --hosts-file keeps /etc/hosts in step with it). */
  onApply?: (build: ServeBuild) => Promise<void>
  /** Called with the per-service listeners before they bind (serve on macOS gives lo0 their addresses first). */
  beforeListen?: (listeners: ForwardListener[]) => Promise<void>
  /** LAN mode: the address DNS gives clients on other machines (--advertise, or a non-loopback --listen). */
  advertise?: string
  /** Opens pods/portforward streams for API-server paths; without it those paths have no targets. */
  tunnelDial?: TunnelDial
  /**
   * The user chose --https-port: a failed bind is then an error. Otherwise (the default 443) serve warns and runs
   * without the SNI listener, as it does without a per-service port it cannot bind.
   */
  httpsPortExplicit?: boolean
}

/** Turns a failed bind of the DNS or HTTP port into one clear line naming address, port and remedies. */
export function bindError(
  what: string,
  address: string,
  port: number,
  proto: 'udp' | 'tcp',
  error: unknown,
): ExposeLbError {
  const problem = bindProblem(error)
  const other = what === 'HTTPS' ? '--https-port 8443' : '--dns-port 5353 --http-port 8080'
  const fix =
    problem === 'in-use'
      ? `stop what holds it, or use ${other}`
      : problem === 'unavailable'
        ? 'check --listen'
        : `${privilegeRemedies(what === 'HTTPS' ? port : Math.min(port, 53))}; or use ${other}`
  const {message} = new BindError(what, address, port, proto, error)
  return new ExposeLbError('bind', `${message} — ${fix}`, undefined, {cause: error})
}

/** The warning when the default HTTPS port cannot be bound: serve goes on without its SNI listener. */
export function httpsSkipWarning(address: string, port: number, error: unknown): string {
  const where = `cannot listen for HTTPS (SNI) on ${hostPort(address, port)}: ${describeErrno(error)}`
  const problem = bindProblem(error)
  const fix =
    problem === 'denied'
      ? `ports below 1024 need privilege: ${privilegeRemedies(port)}; or pass --https-port 8443`
      : 'pass --https-port with a free port'
  return `${where}; serving without it (${fix})`
}

/**
 * The warning for a per-service listener that could not bind: serve goes on without it. (A port another program
 * holds is not one of these: ServeRuntime gives up that whole address, see noteFailures.)
 */
export function listenWarning(listener: ForwardListener, error: NodeJS.ErrnoException): string {
  const where = `${listener.service}: cannot listen on ${hostPort(listener.address, listener.port)}/${listener.protocol.toLowerCase()}`
  const words = describeErrno(error)
  const problem = bindProblem(error)
  if (problem === 'denied')
    return `${where}: ${words}; ports below 1024 need privilege: ${privilegeRemedies(listener.port)}`
  return `${where}: ${words}`
}

/**
 * How long the first watch event of a burst waits for the rest: one `kubectl apply` of a Service and its
 * EndpointSlice reaches the watches within a millisecond or two, and is planned once.
 */
const BATCH_MS = 5

const FD_RESERVE_TEXT = `${FD_RESERVE} kept for connections and probes`

/** How often serve tries again to bind a per-service address another program held. */
const UNHELD_RETRY_MS = 5000

/** Target up/down changes within this window are logged together, one line per node and state. */
const HEALTH_LOG_BATCH_MS = 50

/** How long past the grace period a stop waits for a part that has not closed (ServeRuntime.stop). */
export const STOP_SLACK_MS = 5000

export class ServeRuntime {
  readonly health: HealthMonitor
  private readonly router: HttpRouter
  private readonly sni: SniRouter
  /** The SNI listener's bound port, or undefined when it does not run. */
  private httpsPort?: number
  private readonly listeners: ListenerSet
  private dns?: DnsServer
  private httpPort = 0
  private last?: ServeBuild
  private timer?: NodeJS.Timeout
  private applying: Promise<void> = Promise.resolve()
  private stopped = false
  private readonly healthLog = new Map<string, Set<string>>()
  private healthLogTimer?: NodeJS.Timeout
  /** Listener failures already warned about, so a retry on every change does not repeat the warning. */
  private warned = new Set<string>()
  /** Per-service addresses another program holds a port of, with why and the listener that failed there. */
  private readonly unheld = new Map<string, {why: string; listener: ForwardListener}>()
  private unheldTimer?: NodeJS.Timeout
  private readonly tunnels?: TunnelGateways
  /** Tunnel keys the API server refused for want of RBAC, with the reason: they get no gateway. */
  private readonly tunnelDenied = new Map<string, string>()
  /** Rows (`service endpoint`) whose node targets are all down, so traffic takes the API-server fallback. */
  private onFallback = new Set<string>()
  /** The open-file limit (./fd-budget.ts), read once; undefined where it is not known. */
  private readonly fdLimit = openFileLimit()
  /** Per-service addresses given up because their listeners would pass the open-file limit. */
  private overBudget = new Set<string>()
  /** What planning and mapping keep between changes, so one changed Service is planned and mapped alone. */
  private readonly memo = {
    plan: newPlanMemo(),
    map: newServeMapMemo(),
    tunnels: new WeakMap<PlannedService, TunnelRoute[]>(),
  }
  /** The probes the applied map uses: a change hands the health monitor only what it added and removed. */
  private readonly probes = new ProbeSet()
  /** Each row's change-log line, made once per row object (rows of unchanged Services are kept by the map memo). */
  private readonly rowLine = memoByObject(rowLine)
  /** Each row's key in the change log, made once per row object (see rowChanges). */
  private readonly rowKey = memoByObject(rowKey)
  /**
   * Whether a row has an API-server fallback, once per row object: only those rows can move to it (fallbackChanges),
   * and the rest need not be walked target by target (100 targets per NodePort row on 100 nodes) on every change.
   */
  private readonly hasFallback = memoByObject((r: ServeRow) => r.targets.some((t) => t.fallback))

  constructor(
    private readonly source: SnapshotSource,
    private readonly options: RuntimeOptions,
  ) {
    this.health = new HealthMonitor({intervalMs: options.healthIntervalMs, nodeHealthPort: KUBE_PROXY_HEALTHZ_PORT})
    this.health.on('change', (probe, from, to) => this.logHealth(probe, from, to))
    const log = (line: string) => options.log.info(line)
    const verbose = options.log.verbosity >= 1
    const {maxConnections, idleTimeoutMs, hostCheck} = options
    const domain = options.plan.domain
    const dashboard = createDashboard(() =>
      dashboardState(this.last, (p) => this.health.state(p), {
        domain,
        httpPort: this.httpPort || options.httpPort,
        notes: source.notes?.(),
      }),
    )
    this.router = new HttpRouter({
      health: this.health,
      log,
      verbose,
      maxConnections,
      zone: domain,
      local: {hosts: [`${DASHBOARD_LABEL}.localhost`, ...reservedNames(domain)], handle: dashboard.handle},
    })
    this.listeners = new ListenerSet({health: this.health, log, verbose, maxConnections, idleTimeoutMs, hostCheck})
    if (options.tunnelDial) {
      this.tunnels = new TunnelGateways({
        dial: options.tunnelDial,
        log,
        verbose,
        onForbidden: (route, error) => {
          if (this.tunnelDenied.has(route.key)) return
          const denied = tunnelForbidden(route.service, route.namespace, error.message)
          this.tunnelDenied.set(route.key, denied.note)
          options.log.warn(denied.message, {event: 'tunnel-forbidden', service: route.service})
          this.changed()
        },
      })
    }
    this.sni = new SniRouter({health: this.health, log, verbose, maxConnections, idleTimeoutMs})
  }

  /** Ports the DNS responder and the router listen on (useful with port 0). */
  ports(): {dnsUdp: number; dnsTcp: number; http: number; https?: number} {
    return {
      dnsUdp: this.dns?.udpPort ?? 0,
      dnsTcp: this.dns?.tcpPort ?? 0,
      http: this.httpPort,
      ...(this.httpsPort !== undefined ? {https: this.httpsPort} : {}),
    }
  }

  /** Binds the DNS and HTTP ports, reads the cluster, applies the first map and prints the table. */
  async start(): Promise<void> {
    const {listen, dnsPort, httpPort} = this.options
    const empty = {domain: this.options.plan.domain, hosts: new Map(), srv: new Map()}
    this.dns = await startDnsServer({
      address: listen,
      port: dnsPort,
      records: empty,
      remoteRecords: this.options.advertise ? empty : undefined,
      log: (line) => this.options.log.info(line),
    }).catch((error: unknown) => {
      throw bindError('DNS', listen, dnsPort, error instanceof BindError ? error.proto : 'udp', error)
    })
    try {
      const server = await this.router.listen(listen, httpPort).catch((error: unknown) => {
        throw bindError('HTTP', listen, httpPort, 'tcp', error)
      })
      const address = server.address()
      this.httpPort = typeof address === 'object' && address ? address.port : httpPort
      // After the first read of the cluster: an error there (unreachable, 403) is the line serve fails with.
      await this.source.start()
      await this.listenHttps()
      await this.apply(true)
    } catch (error) {
      await this.stop(0)
      throw error
    }
  }

  /** Binds the SNI listener on --https-port; the default port is skipped with a warning when it cannot be bound. */
  private async listenHttps(): Promise<void> {
    const {listen, httpsPort} = this.options
    if (httpsPort === undefined) return
    try {
      this.httpsPort = (await this.sni.listen(listen, httpsPort)).port
    } catch (error) {
      if (this.options.httpsPortExplicit) throw bindError('HTTPS', listen, httpsPort, 'tcp', error)
      this.options.log.warn(httpsSkipWarning(listen, httpsPort, error), {event: 'listen-failed'})
    }
  }

  /**
   * Called by the watch after objects changed. The first event of a burst schedules one apply batchMs later, which
   * takes everything that came by then; later events do not push it back, so a steady stream of events cannot hold
   * a change off the map.
   */
  changed(): void {
    if (this.stopped || !this.last) return
    if (this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.applying = this.applying
        .then(() => this.apply(false))
        .catch((error: unknown) => this.options.log.warn(`applying a change failed: ${firstLine(error)}`))
    }, this.options.batchMs ?? BATCH_MS)
  }

  private async apply(first: boolean): Promise<void> {
    const plan = this.source.plan
      ? this.source.plan(this.options.plan)
      : buildPlan(this.source.snapshot(), this.options.plan, this.memo.plan)
    const routes = tunnelRoutes(plan, this.memo.tunnels).filter((r) => !this.tunnelDenied.has(r.key))
    const tunnels = this.tunnels ? await this.tunnels.apply(routes) : new Map<string, GatewayAddress>()
    // Listeners first: an address another program holds is known before DNS could hand it out.
    let build = this.buildMap(plan, tunnels)
    if (this.options.range && this.fdLimit !== undefined) {
      // Addresses given up stay given up while the rest fill the budget; all come back once every one fits again.
      // The map gave up the addresses that do not fit already (ServeOptions.listenerRoom), as addressesOverBudget
      // would have; only their coming back needs another build.
      const given = this.overBudget.size
      const over = build.overBudget ?? new Set<string>()
      const fitsAll =
        given > 0 &&
        over.size === 0 &&
        build.map.listeners.length + given * 2 + tunnels.size + FD_RESERVE <= this.fdLimit
      if (over.size > 0 || fitsAll) {
        this.noteOverBudget(fitsAll ? new Set() : new Set([...this.overBudget, ...over]), this.fdLimit)
        if (fitsAll) {
          build = this.buildMap(plan, tunnels)
          if (build.overBudget?.size) this.noteOverBudget(new Set(build.overBudget), this.fdLimit)
        }
      }
    }
    await this.options
      .beforeListen?.(build.map.listeners)
      .catch((error: unknown) => this.options.log.warn(firstLine(error)))
    if (this.noteFailures((await this.listeners.apply(build.map.listeners)).failed)) {
      // Map its Service through the router instead; this also closes the ports it did get on that address.
      build = this.buildMap(plan, tunnels)
      this.noteFailures((await this.listeners.apply(build.map.listeners)).failed)
    }
    const before = this.last
    this.last = build
    const {advertise} = this.options
    this.dns?.setRecords(build.map.dns, advertise ? remoteRecords(build.map.dns, advertise) : undefined)
    this.router.setRoutes(build.map.http)
    this.sni.setRoutes(build.map.tls ?? [])
    const probes = this.probes.update(targetLists(build.map))
    this.health.changeProbes(probes.added, probes.removed)
    await this.options.onApply?.(build).catch((error: unknown) => this.options.log.warn(firstLine(error)))
    this.logFallbacks(
      fallbackChanges(build.rows.filter(this.hasFallback), (t) => this.health.state(t), this.onFallback),
    )
    if (first) {
      await this.firstHealthResults()
      this.options.print(formatServeTable(build.rows, (p) => this.health.state(p)))
      for (const w of [...plan.warnings, ...build.warnings]) this.options.log.warn(w)
      return
    }
    this.logDiff(before?.rows ?? [], build.rows)
  }

  private buildMap(plan: Plan, tunnels: ReadonlyMap<string, GatewayAddress>): ServeBuild {
    // With --http-port 0 (tests), per-service HTTP listeners use the port the router actually got.
    const unheld = new Map([...this.unheld].map(([address, u]) => [address, u.why]))
    if (this.fdLimit !== undefined) {
      const why = overBudgetReason(this.fdLimit)
      for (const address of this.overBudget) if (!unheld.has(address)) unheld.set(address, why)
    }
    return buildServeMap(
      plan,
      {
        ...this.options,
        httpPort: this.httpPort || this.options.httpPort,
        httpsPort: this.httpsPort,
        unheld,
        tunnels,
        tunnelDenied: this.tunnelDenied,
        ...(this.options.range && this.fdLimit !== undefined
          ? {listenerRoom: {room: this.fdLimit - FD_RESERVE - tunnels.size, why: overBudgetReason(this.fdLimit)}}
          : {}),
      },
      this.memo.map,
    )
  }

  /** Takes the new set of addresses over the open-file budget, warning (one line) when it grows or empties. */
  private noteOverBudget(over: Set<string>, limit: number): void {
    const before = this.overBudget.size
    this.overBudget = over
    if (over.size > before) {
      this.options.log.warn(
        `${over.size} Services have no address of their own: their listeners do not fit under the open-file limit (${limit}, with ${FD_RESERVE_TEXT}); they answer the router's address instead (HTTP by name on port ${this.httpPort}, other ports not mapped) — raise the limit (ulimit -n) and restart serve`,
        {event: 'listen-failed'},
      )
    } else if (over.size === 0 && before > 0) {
      this.options.log.info('every Service has its own address again: the open-file limit has room for all listeners')
    }
  }

  /**
   * Warns once per listener that could not bind. A per-service address where another program holds a port is
   * given up (until it is free again, see retryUnheld): returns true when one was given up now.
   */
  private noteFailures(failed: ApplyResult['failed']): boolean {
    let gaveUp = false
    for (const {listener, error} of failed) {
      const {address, port, protocol, service} = listener
      if (this.options.range && bindProblem(error) === 'in-use' && !this.unheld.has(address)) {
        const holder = findPortHolder(address, port, protocol) ?? 'another program'
        const at = `${hostPort(address, port)}/${protocol.toLowerCase()}`
        this.unheld.set(address, {why: `${at} is held by ${holder}`, listener})
        this.options.log.warn(
          `${service}: cannot listen on ${at}: address already in use by ${holder}; its names answer the router's address instead: HTTP by name on port ${this.httpPort}, its other ports are not mapped until ${address} is free`,
          {event: 'listen-failed', service},
        )
        gaveUp = true
        continue
      }
      const key = `${protocol} ${address}:${port}`
      if (this.warned.has(key) || this.unheld.has(address)) continue
      this.warned.add(key)
      this.options.log.warn(listenWarning(listener, error), {event: 'listen-failed', service})
    }
    if (this.unheld.size > 0) this.unheldTimer ??= setInterval(() => void this.retryUnheld(), UNHELD_RETRY_MS)
    return gaveUp
  }

  /** Takes back the per-service addresses whose port is free again, and applies the map with them. */
  private async retryUnheld(): Promise<void> {
    let freed = false
    for (const [address, {listener}] of this.unheld) {
      if (this.stopped || !(await canBind(address, listener.port, listener.protocol))) continue
      this.unheld.delete(address)
      this.options.log.info(
        `${listener.service}: ${hostPort(address, listener.port)} is free again: its own address is back`,
        {
          event: 'address-back',
          service: listener.service,
        },
      )
      freed = true
    }
    if (this.unheld.size === 0) {
      clearInterval(this.unheldTimer)
      this.unheldTimer = undefined
    }
    if (freed) this.changed()
  }

  /** Waits (briefly) for the first probe results, so the start-up table shows health rather than "unknown". */
  private async firstHealthResults(limitMs = 2500): Promise<void> {
    const deadline = Date.now() + limitMs
    while (Date.now() < deadline && this.health.pending > 0) {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  /** Logs each row that moved to the API-server fallback or back to its nodes, and remembers where each is. */
  private logFallbacks(result: {changes: FallbackChange[]; onFallback: Set<string>}): void {
    this.onFallback = result.onFallback
    for (const c of result.changes) {
      this.options.log.info(c.line, {event: c.toApiServer ? 'path-api-server' : 'path-node', service: c.service})
    }
  }

  private logDiff(before: ServeRow[], after: ServeRow[]): void {
    for (const {event, line} of rowChanges(before, after, this.rowLine, this.rowKey)) {
      this.options.log.info(`${event.replace('-', ' ')}: ${line}`, {event})
    }
  }

  private logHealth(probe: Probe, from: HealthState, to: HealthState): void {
    if (from === 'unknown' && to === 'up') return // the normal start, not news
    // One node going down flips every probe of it at once: log one line per node and state, not one per port.
    const key = `${to} ${probe.address}`
    const probes = this.healthLog.get(key) ?? new Set<string>()
    this.healthLog.set(key, probes)
    probes.add(probeKey(probe))
    this.healthLogTimer ??= setTimeout(() => this.flushHealthLog(), HEALTH_LOG_BATCH_MS)
  }

  private flushHealthLog(): void {
    this.healthLogTimer = undefined
    // Who uses the changed probes ("node for namespace/name"): one pass over the map for all of them.
    const byAddress = new Map<string, Array<{to: string; probes: Set<string>; users: Set<string>}>>()
    for (const [key, probes] of this.healthLog) {
      const [to = '', address = ''] = key.split(' ')
      const list = byAddress.get(address) ?? []
      list.push({to, probes, users: new Set()})
      byAddress.set(address, list)
    }
    this.healthLog.clear()
    for (const r of this.last?.rows ?? []) {
      for (const t of r.targets) {
        const changes = byAddress.get(t.address)
        if (!changes) continue
        const key = probeKey(probeOf(t))
        for (const c of changes) if (c.probes.has(key)) c.users.add(`${t.node} for ${r.service}`)
      }
    }
    for (const [address, changes] of byAddress) {
      for (const {to, users} of changes) {
        const list = [...users]
        const shown =
          list.length > 5 ? `${list.slice(0, 5).join(', ')} and ${list.length - 5} more` : list.join(', ') || address
        this.options.log.info(`target ${to}: ${shown} (${address})`, {
          event: `target-${to}`,
          address,
          targets: list.length,
        })
      }
    }
    if (this.last) {
      const rows = this.last.rows.filter(this.hasFallback)
      this.logFallbacks(fallbackChanges(rows, (t) => this.health.state(t), this.onFallback))
    }
  }

  /**
   * Stops accepting, lets open connections finish for up to graceMs, then closes everything. The watches stop
   * alongside the rest (once stopped, their events change nothing: `changed`), so a watch whose stop hangs holds no
   * listener open. A part still closing graceMs + slackMs (STOP_SLACK_MS) after the stop began is named in a
   * warning and no longer waited for: a stop ends.
   */
  async stop(graceMs = 5000, slackMs = STOP_SLACK_MS): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    clearTimeout(this.healthLogTimer)
    clearInterval(this.unheldTimer)
    const closing = new Set<string>()
    const part = (name: string, done: Promise<unknown> | undefined): Promise<void> => {
      closing.add(name)
      return Promise.resolve(done).then(
        () => void closing.delete(name),
        () => void closing.delete(name),
      )
    }
    this.health.close()
    this.tunnels?.close()
    const everything = Promise.all([
      part('the API watches', this.source.stop()),
      part('the HTTP router', this.router.close(graceMs)),
      part('the SNI listener', this.sni.close(graceMs)),
      part('the per-service listeners', this.listeners.close(graceMs)),
      part('DNS', this.dns?.close()),
    ])
    let limit: NodeJS.Timeout | undefined
    const late = new Promise<boolean>((resolve) => {
      limit = setTimeout(() => resolve(true), graceMs + slackMs).unref()
    })
    const overdue = await Promise.race([everything.then(() => false), late])
    clearTimeout(limit)
    if (overdue) {
      const what = [...closing].join(', ')
      this.options.log.warn(`stopping: ${what} still closing ${(graceMs + slackMs) / 1000} s on; not waiting`)
    }
  }
}
