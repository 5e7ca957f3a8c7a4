// Host names from Ingresses and Gateway API routes, each mapped to the Service that receives its traffic: the ingress
// controller's or the Gateway's own Service. Pure. The chain and its sources: ../shared/research/ingress.md, summed up
// in the README ("Ingress and Gateway API hosts").
import {
  controllerRow,
  describeSignature,
  GATEWAY_CONTROLLERS,
  GATEWAY_SERVICE_LABELS,
  INGRESS_CONTROLLERS,
  matchesSignature,
  type ControllerRow,
} from './controllers.js'
import type {Gateway, GatewayListener, Ingress, IngressClass, IngressObjects, Route} from './ingress-types.js'
import type {PlannedHost, PlannedPort, PlannedService, Service, ServicePort, Target} from './types.js'

/** On an IngressClass or Gateway: `namespace/name` of the Service that receives its traffic (overrides the search). */
export const SERVICE_ANNOTATION = 'expose-lb/service'
/** https://kubernetes.io/docs/concepts/services-networking/ingress/#default-ingress-class */
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class'
/** The pre-IngressClass way to pick a controller, still read by ingress-nginx and Traefik. */
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class'
export {GATEWAY_NAME_LABEL} from './controllers.js'
/** Helm's labels that an IngressClass and the controller's Service of the same release share (research §0, §2.2). */
const HELM_JOIN_LABELS = ['app.kubernetes.io/instance', 'app.kubernetes.io/name']

/** Service port names ingress controllers give their entrypoints: ingress-nginx http/https, Traefik web/websecure. */
const WEB_PORT_NAMES = new Set(['http', 'https', 'web', 'websecure'])

/**
 * A port that speaks TLS: appProtocol `https`, a name starting with `https` or Traefik's `websecure`, or 443/8443 when
 * neither appProtocol nor the name (http…, web) says otherwise. serve's SNI listener passes TLS connections to such a port.
 */
export function isTlsPort(port: Pick<ServicePort, 'name' | 'port' | 'protocol' | 'appProtocol'>): boolean {
  if (port.protocol !== 'TCP') return false
  const app = port.appProtocol?.toLowerCase()
  if (app) return app === 'https'
  const name = port.name?.toLowerCase() ?? ''
  if (name.startsWith('https') || name === 'websecure') return true
  if (name.startsWith('http') || name === 'web') return false
  // Generated names say nothing (Cilium's Gateway Services name ports `port-443`): the number decides.
  return port.port === 443 || port.port === 8443
}

/** A port an ingress controller could take web traffic on (the admission webhook's `https-webhook` is not one). */
function isWebPort(port: ServicePort): boolean {
  if (port.protocol !== 'TCP') return false
  const name = port.name?.toLowerCase()
  if (name !== undefined) return WEB_PORT_NAMES.has(name) || (port.port === 80 && !name.includes('webhook'))
  return port.port === 80 || port.port === 443
}

function hasWebPort(svc: Service): boolean {
  return svc.ports.some(isWebPort)
}

function labelsMatch(labels: Record<string, string>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => labels[k] === v)
}

/**
 * A host as stored: lowercase without the trailing dot, `*.` only as a whole first label (Ingress and Gateway API
 * both allow wildcards only there: networking/v1 IngressRule.host, gateway-api Hostname). Undefined when invalid.
 */
export function normalizeHostName(raw: string): string | undefined {
  const host = raw.trim().toLowerCase().replace(/\.$/, '')
  const rest = host.startsWith('*.') ? host.slice(2) : host
  if (host.length > 253 || rest === '') return undefined
  const labels = rest.split('.')
  const label = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/
  return labels.every((l) => label.test(l)) ? host : undefined
}

/** Whether `name` (exact) is covered by `pattern`: equal, or one label in front of a `*.` pattern's domain. */
export function hostMatches(pattern: string, name: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === name
  const suffix = pattern.slice(1)
  return name.endsWith(suffix) && name.length > suffix.length && !name.slice(0, -suffix.length).includes('.')
}

function findService(services: Service[], ref: string): Service | undefined {
  const [namespace, name, extra] = ref.split('/')
  if (!namespace || !name || extra !== undefined) return undefined
  return services.find((s) => s.namespace === namespace && s.name === name)
}

/** Candidates in order of preference: reachable from outside (NodePort, LoadBalancer) first, then by namespace/name. */
function best(candidates: Service[]): {service?: Service; warnings: string[]} {
  const sorted = [...candidates].sort(
    (a, b) =>
      Number(a.type === 'ClusterIP') - Number(b.type === 'ClusterIP') ||
      a.namespace.localeCompare(b.namespace) ||
      a.name.localeCompare(b.name),
  )
  const first = sorted[0]
  const others = sorted.slice(1).filter((s) => s.type === first?.type)
  const warnings =
    first && others.length > 0
      ? [
          `several Services match (${sorted.map((s) => `${s.namespace}/${s.name}`).join(', ')}); using ${first.namespace}/${first.name} (set ${SERVICE_ANNOTATION} to choose)`,
        ]
      : []
  return {service: first, warnings}
}

interface Receiver {
  service?: Service
  warnings: string[]
}

/** The Service an override names (annotation or flag), or a warning that it does not exist. */
function override(services: Service[], ref: string, where: string): Receiver {
  const service = findService(services, ref)
  if (service) return {service, warnings: []}
  return {warnings: [`${where} names Service "${ref}", which does not exist (expected namespace/name)`]}
}

/** The IngressClass an Ingress belongs to: its ingressClassName, the legacy annotation, or the default class. */
function classOf(ingress: Ingress, classes: IngressClass[]): {name?: string; ingressClass?: IngressClass} {
  const name = ingress.className ?? ingress.classAnnotation
  if (name) return {name, ingressClass: classes.find((c) => c.name === name)}
  const defaults = classes.filter((c) => c.isDefault)
  // With two default classes the API server refuses new class-less Ingresses; take none rather than guess.
  return defaults.length === 1 ? {name: defaults[0]!.name, ingressClass: defaults[0]} : {}
}

/** The Service of an IngressClass's controller: annotation, --ingress-service, chart labels, known labels. */
function receiverForClass(
  className: string | undefined,
  ingressClass: IngressClass | undefined,
  services: Service[],
  flag: string | undefined,
): Receiver {
  const annotated = ingressClass?.annotations[SERVICE_ANNOTATION]
  if (annotated) return override(services, annotated, `IngressClass ${ingressClass!.name} (${SERVICE_ANNOTATION})`)
  if (flag) return override(services, flag, '--ingress-service')
  const tried: string[] = [`the ${SERVICE_ANNOTATION} annotation`, '--ingress-service']
  if (!ingressClass) {
    const what = className ? `IngressClass ${className} does not exist` : 'no IngressClass and no default class'
    return {warnings: [`${what}: no Service found (tried ${tried.join(', ')}); pass --ingress-service namespace/name`]}
  }
  const web = services.filter(hasWebPort)
  const helm = Object.fromEntries(
    HELM_JOIN_LABELS.flatMap((k) => (ingressClass.labels[k] ? [[k, ingressClass.labels[k]!]] : [])),
  )
  if (Object.keys(helm).length === HELM_JOIN_LABELS.length) {
    tried.push(`Services labelled ${formatLabels(helm)}`)
    const found = web.filter((s) => labelsMatch(s.labels, helm))
    if (found.length > 0) return best(found)
  }
  const row = controllerRow(INGRESS_CONTROLLERS, ingressClass.controller)
  const byRow = row && searchRow(row, web, tried)
  if (byRow) return byRow
  if (!row) tried.push(`no known Service for controller ${ingressClass.controller}`)
  return {
    warnings: [
      `no Service found for IngressClass ${ingressClass.name} (controller ${ingressClass.controller}): tried ${tried.join(', ')}; annotate the IngressClass ${SERVICE_ANNOTATION}: namespace/name or pass --ingress-service`,
    ],
  }
}

/** The Services a table row describes (web ports only), tried in its order; each signature tried joins `tried`. */
function searchRow(row: ControllerRow, web: Service[], tried: string[]): Receiver | undefined {
  for (const signature of row.services) {
    tried.push(`${row.name}: ${describeSignature(signature)}`)
    const found = web.filter((s) => matchesSignature(s, signature))
    if (found.length > 0) return best(found)
  }
  return undefined
}

function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

/**
 * A Gateway's Service: its annotation, the labels implementations put on the Service they make for one Gateway
 * (controllers.ts GATEWAY_SERVICE_LABELS), or the one Service of its class's implementation (GATEWAY_CONTROLLERS).
 */
function receiverForGateway(gateway: Gateway, objects: IngressObjects, services: Service[]): Receiver {
  const annotated = gateway.annotations[SERVICE_ANNOTATION]
  const id = `${gateway.namespace}/${gateway.name}`
  if (annotated) return override(services, annotated, `Gateway ${id} (${SERVICE_ANNOTATION})`)
  const tried = [`the ${SERVICE_ANNOTATION} annotation`]
  const byLabels = services.filter((s) =>
    GATEWAY_SERVICE_LABELS.some(
      (rule) =>
        (!rule.sameNamespace || s.namespace === gateway.namespace) && labelsMatch(s.labels, rule.labels(gateway)),
    ),
  )
  for (const rule of GATEWAY_SERVICE_LABELS) {
    const where = rule.sameNamespace ? ` in ${gateway.namespace}` : ''
    tried.push(`${rule.name}: Services labelled ${formatLabels(rule.labels(gateway))}${where}`)
  }
  if (byLabels.length > 0) return best(byLabels)
  const controller = objects.gatewayClasses.find((c) => c.name === gateway.className)?.controllerName
  const row = controller ? controllerRow(GATEWAY_CONTROLLERS, controller) : undefined
  const byRow = row && searchRow(row, services.filter(hasWebPort), tried)
  if (byRow) return byRow
  return {
    warnings: [
      `no Service found for Gateway ${id}: tried ${tried.join(', ')}; annotate the Gateway ${SERVICE_ANNOTATION}: namespace/name`,
    ],
  }
}

/** The host a route hostname and a listener hostname both accept (Gateway API hostname intersection), if any. */
function intersect(route: string | undefined, listener: string | undefined): string | undefined {
  if (route === undefined) return listener
  if (listener === undefined) return route
  const covers = (pattern: string, name: string) =>
    pattern === name ||
    (pattern.startsWith('*.') && name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1)
  if (covers(listener, route)) return route
  if (covers(route, listener)) return listener
  return undefined
}

/** Listener protocols a route kind attaches to (gateway-api: HTTPRoute to HTTP/HTTPS, TLSRoute to TLS). */
function accepts(route: Route, listener: GatewayListener): boolean {
  return route.kind === 'TLSRoute'
    ? listener.protocol === 'TLS'
    : listener.protocol === 'HTTP' || listener.protocol === 'HTTPS'
}

interface Found {
  host: string
  source: PlannedHost['source']
  tls: boolean
  receiver: Receiver
  warnings: string[]
}

function ingressHosts(objects: IngressObjects, services: Service[], flag: string | undefined): Found[] {
  const found: Found[] = []
  const receivers = new Map<string, Receiver>()
  for (const ingress of objects.ingresses) {
    const source = {kind: 'Ingress' as const, namespace: ingress.namespace, name: ingress.name}
    const {name, ingressClass} = classOf(ingress, objects.ingressClasses)
    const key = name ?? ''
    let receiver = receivers.get(key)
    if (!receiver) receivers.set(key, (receiver = receiverForClass(name, ingressClass, services, flag)))
    const warnings: string[] = []
    const tls = ingress.tlsHosts.flatMap((h) => normalizeHostName(h) ?? [])
    for (const raw of [...ingress.ruleHosts, ...ingress.tlsHosts]) {
      const host = normalizeHostName(raw)
      if (!host) {
        warnings.push(`Ingress ${ingress.namespace}/${ingress.name}: host "${raw}" is not a valid DNS name; skipped`)
        continue
      }
      if (found.some((f) => f.host === host && f.source === source)) continue
      const isTls = tls.some((t) => t === host || (!host.startsWith('*.') && hostMatches(t, host)))
      found.push({host, source, tls: isTls, receiver, warnings})
    }
    if (warnings.length > 0 && !found.some((f) => f.source === source)) {
      found.push({host: '', source, tls: false, receiver: {warnings: []}, warnings})
    }
  }
  return found
}

function routeHosts(objects: IngressObjects, services: Service[]): Found[] {
  const found: Found[] = []
  const receivers = new Map<Gateway, Receiver>()
  for (const route of objects.routes) {
    const source = {kind: route.kind, namespace: route.namespace, name: route.name}
    const id = `${route.kind} ${route.namespace}/${route.name}`
    const warnings: string[] = []
    const hostnames = route.hostnames.flatMap((raw) => {
      const host = normalizeHostName(raw)
      if (!host) warnings.push(`${id}: hostname "${raw}" is not a valid DNS name; skipped`)
      return host ? [host] : []
    })
    for (const ref of route.parentRefs) {
      if (ref.kind !== 'Gateway') continue
      const gateway = objects.gateways.find((g) => g.namespace === ref.namespace && g.name === ref.name)
      if (!gateway) {
        warnings.push(`${id}: parent Gateway ${ref.namespace}/${ref.name} does not exist; not mapped through it`)
        continue
      }
      const listeners = gateway.listeners.filter((l) =>
        ref.sectionName ? l.name === ref.sectionName : accepts(route, l),
      )
      if (listeners.length === 0) {
        const what = ref.sectionName ? `has no listener ${ref.sectionName}` : `has no listener for a ${route.kind}`
        warnings.push(`${id}: Gateway ${ref.namespace}/${ref.name} ${what}; not mapped through it`)
        continue
      }
      let receiver = receivers.get(gateway)
      if (!receiver) receivers.set(gateway, (receiver = receiverForGateway(gateway, objects, services)))
      for (const listener of listeners) {
        const listenerHost = listener.hostname === undefined ? undefined : normalizeHostName(listener.hostname)
        for (const routeHost of hostnames.length > 0 ? hostnames : [undefined]) {
          const host = intersect(routeHost, listenerHost)
          if (!host || found.some((f) => f.host === host && f.source === source && f.receiver === receiver)) continue
          const tls = route.kind === 'TLSRoute' || listener.protocol === 'HTTPS' || listener.protocol === 'TLS'
          found.push({host, source, tls, receiver, warnings})
        }
      }
    }
    if (warnings.length > 0 && !found.some((f) => f.source === source)) {
      found.push({host: '', source, tls: false, receiver: {warnings: []}, warnings})
    }
  }
  return found
}

/** Node targets of the receiving Service's web ports (its HTTP port and its TLS port). */
function webTargets(planned: PlannedService | undefined): Target[] {
  const ports = planned?.ports.filter((p: PlannedPort) => p.mode === 'http' || isTlsPort(p)) ?? []
  return ports.flatMap((p) => p.targets)
}

/**
 * Every Ingress and route host with the Service that receives it. A host offered by several sources (or by a route
 * through several Gateways) goes to the first that has a Service, in order: Ingresses before routes, then by namespace
 * and name; a different Service losing it gets a warning. A host with no Service at all keeps `service` undefined and
 * the warnings saying what was tried. Problems of a source itself (a missing listener) are plan-wide warnings.
 */
export function planHosts(
  objects: IngressObjects,
  services: Service[],
  planned: PlannedService[],
  ingressService: string | undefined,
): {hosts: PlannedHost[]; warnings: string[]} {
  const order = (a: {namespace: string; name: string}, b: {namespace: string; name: string}) =>
    a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name)
  const sorted: IngressObjects = {
    ...objects,
    ingresses: [...objects.ingresses].sort(order),
    routes: [...objects.routes].sort((a, b) => a.kind.localeCompare(b.kind) || order(a, b)),
  }
  const found = [...ingressHosts(sorted, services, ingressService), ...routeHosts(sorted, services)]
  const warnings: string[] = []
  if (objects.unavailable?.length)
    warnings.push(`could not ${objects.unavailable.join(', ')}: Ingress and route hosts may be incomplete`)
  const sourceWarnings = new Set<string[]>()
  for (const f of found) if (!sourceWarnings.has(f.warnings)) sourceWarnings.add(f.warnings)
  for (const list of sourceWarnings) warnings.push(...list)

  const byHost = new Map<string, Found[]>()
  for (const f of found) if (f.host !== '') byHost.set(f.host, [...(byHost.get(f.host) ?? []), f])
  const hosts: PlannedHost[] = []
  const sourceId = (f: Found) => `${f.source.kind} ${f.source.namespace}/${f.source.name}`
  const serviceId = (f: Found) =>
    f.receiver.service ? `${f.receiver.service.namespace}/${f.receiver.service.name}` : ''
  for (const [name, offers] of byHost) {
    const winner = offers.find((f) => f.receiver.service) ?? offers[0]!
    const svc = winner.receiver.service
    const plannedService = svc && planned.find((p) => p.namespace === svc.namespace && p.name === svc.name)
    const own = svc ? [...winner.receiver.warnings] : [...new Set(offers.flatMap((f) => f.receiver.warnings))]
    for (const other of offers) {
      if (other === winner || !other.receiver.service || serviceId(other) === serviceId(winner)) continue
      warnings.push(
        `host ${name} of ${sourceId(other)} (→ ${serviceId(other)}) is already mapped by ${sourceId(winner)} (→ ${serviceId(winner)}); skipped`,
      )
    }
    hosts.push({
      host: name,
      source: winner.source,
      tls: offers.some((f) => f.tls && serviceId(f) === serviceId(winner)),
      ...(svc ? {service: {namespace: svc.namespace, name: svc.name}} : {}),
      targets: webTargets(plannedService),
      warnings: own,
    })
  }
  return {hosts, warnings}
}
