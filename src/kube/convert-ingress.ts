// Ingress and Gateway API objects (plain JSON) to the slim types of src/plan/ingress-types.ts. Pure and defensive,
// as convert.ts: a field of the wrong shape is treated as absent.
import type {Gateway, GatewayClass, Ingress, IngressClass, ParentRef, Route, RouteKind} from '../plan/ingress-types.js'
import {DEFAULT_CLASS_ANNOTATION, LEGACY_CLASS_ANNOTATION} from '../plan/hosts.js'
import {arr, obj, str, strMap, strs} from './json.js'

/** A networking.k8s.io/v1 IngressClass. */
export function toIngressClass(raw: unknown): IngressClass {
  const o = obj(raw)
  const meta = obj(o.metadata)
  const annotations = strMap(meta.annotations)
  return {
    name: str(meta.name) ?? '',
    controller: str(obj(o.spec).controller) ?? '',
    isDefault: annotations[DEFAULT_CLASS_ANNOTATION] === 'true',
    labels: strMap(meta.labels),
    annotations,
  }
}

/** A networking.k8s.io/v1 Ingress: class, rule hosts and TLS hosts. */
export function toIngress(raw: unknown): Ingress {
  const o = obj(raw)
  const meta = obj(o.metadata)
  const spec = obj(o.spec)
  const className = str(spec.ingressClassName)
  const classAnnotation = strMap(meta.annotations)[LEGACY_CLASS_ANNOTATION]
  return {
    namespace: str(meta.namespace) ?? 'default',
    name: str(meta.name) ?? '',
    ...(className ? {className} : {}),
    ...(classAnnotation ? {classAnnotation} : {}),
    ruleHosts: arr(spec.rules).flatMap((r) => str(obj(r).host) ?? []),
    tlsHosts: arr(spec.tls).flatMap((t) => strs(obj(t).hosts)),
  }
}

/** A gateway.networking.k8s.io GatewayClass. */
export function toGatewayClass(raw: unknown): GatewayClass {
  const o = obj(raw)
  return {name: str(obj(o.metadata).name) ?? '', controllerName: str(obj(o.spec).controllerName) ?? ''}
}

/** A gateway.networking.k8s.io Gateway with its listeners. */
export function toGateway(raw: unknown): Gateway {
  const o = obj(raw)
  const meta = obj(o.metadata)
  const spec = obj(o.spec)
  return {
    namespace: str(meta.namespace) ?? 'default',
    name: str(meta.name) ?? '',
    className: str(spec.gatewayClassName) ?? '',
    listeners: arr(spec.listeners).flatMap((raw) => {
      const l = obj(raw)
      const name = str(l.name)
      const protocol = str(l.protocol)
      const hostname = str(l.hostname)
      if (!name || !protocol) return []
      return [{name, protocol, port: typeof l.port === 'number' ? l.port : 0, ...(hostname ? {hostname} : {})}]
    }),
    annotations: strMap(meta.annotations),
  }
}

/** An HTTPRoute, GRPCRoute or TLSRoute (any served version): hostnames and parentRefs with their defaults. */
export function toRoute(kind: RouteKind, raw: unknown): Route {
  const o = obj(raw)
  const meta = obj(o.metadata)
  const spec = obj(o.spec)
  const namespace = str(meta.namespace) ?? 'default'
  return {
    kind,
    namespace,
    name: str(meta.name) ?? '',
    hostnames: strs(spec.hostnames),
    parentRefs: arr(spec.parentRefs).flatMap((raw): ParentRef[] => {
      const r = obj(raw)
      const name = str(r.name)
      const sectionName = str(r.sectionName)
      if (!name) return []
      return [
        {
          kind: str(r.kind) ?? 'Gateway',
          name,
          namespace: str(r.namespace) ?? namespace,
          ...(sectionName ? {sectionName} : {}),
        },
      ]
    }),
  }
}
