// Slim Ingress and Gateway API types: only the fields host mapping reads (src/plan/hosts.ts). src/kube/convert-ingress.ts
// turns API objects into these.

/** A networking.k8s.io/v1 IngressClass. */
export interface IngressClass {
  name: string
  /** spec.controller, e.g. `k8s.io/ingress-nginx`, `traefik.io/ingress-controller`. */
  controller: string
  /** The annotation `ingressclass.kubernetes.io/is-default-class` is "true". */
  isDefault: boolean
  labels: Record<string, string>
  annotations: Record<string, string>
}

/** A networking.k8s.io/v1 Ingress: its class and host names. */
export interface Ingress {
  namespace: string
  name: string
  /** spec.ingressClassName. */
  className?: string
  /** The legacy annotation `kubernetes.io/ingress.class`. */
  classAnnotation?: string
  /** spec.rules[].host, in order (rules without a host left out). */
  ruleHosts: string[]
  /** spec.tls[].hosts, flattened. */
  tlsHosts: string[]
}

/** A Gateway API GatewayClass. */
export interface GatewayClass {
  name: string
  /** spec.controllerName, e.g. `gateway.envoyproxy.io/gatewayclass-controller`. */
  controllerName: string
}

export interface GatewayListener {
  name: string
  /** HTTP, HTTPS, TLS, TCP, UDP. */
  protocol: string
  port: number
  hostname?: string
}

/** A Gateway API Gateway. */
export interface Gateway {
  namespace: string
  name: string
  className: string
  listeners: GatewayListener[]
  annotations: Record<string, string>
}

export type RouteKind = 'HTTPRoute' | 'GRPCRoute' | 'TLSRoute'

export interface ParentRef {
  /** Defaults to Gateway (only Gateway parents are followed). */
  kind: string
  name: string
  /** Defaults to the route's namespace. */
  namespace: string
  sectionName?: string
}

/** An HTTPRoute, GRPCRoute or TLSRoute: its host names and the Gateways it attaches to. */
export interface Route {
  kind: RouteKind
  namespace: string
  name: string
  hostnames: string[]
  parentRefs: ParentRef[]
}

/** The objects host mapping reads; each list is empty when the API is not served or not readable. */
export interface IngressObjects {
  ingresses: Ingress[]
  ingressClasses: IngressClass[]
  gateways: Gateway[]
  gatewayClasses: GatewayClass[]
  routes: Route[]
  /** Reads that were forbidden (`list ingresses.networking.k8s.io (forbidden)`): hosts may be incomplete. */
  unavailable?: string[]
}
