// What each ingress controller and Gateway API implementation's own Service looks like, as its upstream manifest or
// chart creates it: the table host mapping (hosts.ts) searches when no annotation or flag names the Service. Pure.
// Each row cites the file it was read from; ../shared/research/ingress.md collects the ingress-nginx, Traefik and
// Gateway API facts.
import type {Service} from './types.js'

/**
 * One way to recognise a controller's Service: labels on the Service, or the selector it selects the controller's
 * pods with (a Service from a plain manifest often has no labels at all, e.g. Contour's `envoy`). Both given: either.
 */
export interface ServiceSignature {
  /** Who creates a Service like this, for the warning that says what was tried. */
  origin: string
  labels?: Record<string, string>
  selector?: Record<string, string>
}

/** An IngressClass `spec.controller` value (or a GatewayClass `controllerName`) and its Services. */
export interface ControllerRow {
  /** The value as the controller recognises it. */
  controller: string
  /** Also every value below it (`<controller>/<anything>`): HAProxy takes `haproxy.org/ingress-controller/<class>`. */
  prefix?: boolean
  /** The implementation, as users know it. */
  name: string
  services: ServiceSignature[]
}

/**
 * IngressClass `spec.controller` → the controller's Service. A controller value of one's own (the ingress-nginx chart's
 * controllerValue) is found through the chart labels an IngressClass and its Service share instead (hosts.ts).
 */
export const INGRESS_CONTROLLERS: readonly ControllerRow[] = [
  {
    controller: 'k8s.io/ingress-nginx',
    name: 'ingress-nginx',
    services: [
      {
        // kubernetes/ingress-nginx deploy/static/provider/*/deploy.yaml (research §1.2); the admission Service shares
        // the labels but has no web port.
        origin: 'ingress-nginx manifest',
        labels: {'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/component': 'controller'},
      },
    ],
  },
  {
    controller: 'traefik.io/ingress-controller',
    name: 'Traefik',
    // The chart's Service, incl. k3s's bundled copy (fixture 01, research §2.2).
    services: [{origin: 'Traefik chart', labels: {'app.kubernetes.io/name': 'traefik'}}],
  },
  {
    controller: 'haproxy.org/ingress-controller',
    prefix: true,
    name: 'HAProxy Kubernetes Ingress',
    services: [
      // haproxytech/kubernetes-ingress deploy/haproxy-ingress.yaml: Service haproxy-controller/haproxy-kubernetes-ingress.
      {origin: 'HAProxy manifest', labels: {run: 'haproxy-ingress'}, selector: {run: 'haproxy-ingress'}},
      // haproxytech/helm-charts kubernetes-ingress/templates/controller-service.yaml (name = the chart's name).
      {origin: 'HAProxy chart', labels: {'app.kubernetes.io/name': 'kubernetes-ingress'}},
    ],
  },
  ...['projectcontour.io/ingress-controller', 'projectcontour.io/contour'].map((controller): ControllerRow => ({
    // Contour filters Ingresses by class name (--ingress-class-name), so IngressClasses in the wild carry either value.
    controller,
    name: 'Contour',
    // projectcontour/contour examples/contour/02-service-envoy.yaml: Service projectcontour/envoy, no labels.
    services: [{origin: 'Contour manifest (envoy)', selector: {app: 'envoy'}}],
  })),
  {
    controller: 'nginx.org/ingress-controller',
    name: 'F5 NGINX Ingress Controller',
    services: [
      // nginx/kubernetes-ingress charts/nginx-ingress/templates/controller-service.yaml (nginx-ingress.serviceLabels).
      {origin: 'NGINX Ingress chart', labels: {'app.kubernetes.io/name': 'nginx-ingress'}},
      // nginx/kubernetes-ingress deployments/: pods labelled app: nginx-ingress, selected by deployments/service/*.yaml.
      {origin: 'NGINX Ingress manifest', selector: {app: 'nginx-ingress'}},
    ],
  },
  {
    controller: 'ingress-controllers.konghq.com/kong',
    name: 'Kong',
    // Kong/charts charts/kong/templates/service-kong-proxy.yaml (kong.metaLabels); the admin and manager Services share
    // the labels but not a web port.
    services: [{origin: 'Kong chart (proxy)', labels: {'app.kubernetes.io/name': 'kong'}}],
  },
  {
    controller: 'istio.io/ingress-controller',
    name: 'Istio',
    // Istio serves Ingresses on the gateway meshConfig.ingressSelector names, by default the pods labelled
    // istio=ingressgateway (istio/istio manifests/charts gateway.selectorLabels: `istio: <name without istio->`).
    services: [
      {origin: 'Istio ingress gateway', labels: {istio: 'ingressgateway'}, selector: {istio: 'ingressgateway'}},
    ],
  },
  {
    controller: 'cilium.io/ingress-controller',
    name: 'Cilium',
    // cilium/cilium install/kubernetes/cilium/templates/cilium-ingress-service.yaml: kube-system/cilium-ingress in
    // shared mode, no selector (a dummy Endpoints).
    services: [{origin: 'Cilium chart (shared mode)', labels: {'cilium.io/ingress': 'true'}}],
  },
]

/**
 * GatewayClass `controllerName` → one Service that takes every Gateway's traffic, for implementations that run one
 * (the others make a Service per Gateway: GATEWAY_SERVICE_LABELS).
 */
export const GATEWAY_CONTROLLERS: readonly ControllerRow[] = [
  {
    controller: 'traefik.io/gateway-controller',
    name: 'Traefik',
    services: [{origin: 'Traefik chart', labels: {'app.kubernetes.io/name': 'traefik'}}],
  },
  {
    // NGINX Gateway Fabric 1.x serves every Gateway from its own Deployment and Service (its chart's
    // app.kubernetes.io/name: nginx-gateway); 2.x makes a Service per Gateway with the gateway-name label.
    controller: 'gateway.nginx.org/nginx-gateway-controller',
    name: 'NGINX Gateway Fabric',
    services: [{origin: 'NGINX Gateway Fabric 1.x chart', labels: {'app.kubernetes.io/name': 'nginx-gateway'}}],
  },
]

/** A Gateway, as the per-Gateway label rules see it. */
export interface GatewayRef {
  namespace: string
  name: string
}

/** A label rule for the Service an implementation makes for one Gateway. */
export interface GatewayLabelRule {
  name: string
  /** The labels that name the Gateway. */
  labels: (gateway: GatewayRef) => Record<string, string>
  /** The Service is in the Gateway's namespace (Envoy Gateway's may be elsewhere; its labels name the namespace). */
  sameNamespace: boolean
}

/** Set on a Gateway's generated Service by Envoy Gateway, Cilium, Istio and NGINX Gateway Fabric 2.x. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name'

/** The labels implementations put on the Service they make for one Gateway. */
export const GATEWAY_SERVICE_LABELS: readonly GatewayLabelRule[] = [
  {
    // envoyproxy/gateway internal/gatewayapi/translator.go GatewayNameLabel; cilium/cilium
    // operator/pkg/model/translation/gateway-api/translator.go gatewayNameLabel; Istio (research §3.2).
    name: 'Gateway API',
    labels: (g) => ({[GATEWAY_NAME_LABEL]: g.name}),
    sameNamespace: true,
  },
  {
    // envoyproxy/gateway translator.go OwningGatewayNameLabel / OwningGatewayNamespaceLabel.
    name: 'Envoy Gateway',
    labels: (g) => ({
      'gateway.envoyproxy.io/owning-gateway-name': g.name,
      'gateway.envoyproxy.io/owning-gateway-namespace': g.namespace,
    }),
    sameNamespace: false,
  },
  {
    // Cilium's older label (translator.go owningGatewayLabel, deprecated).
    name: 'Cilium',
    labels: (g) => ({'io.cilium.gateway/owning-gateway': g.name}),
    sameNamespace: true,
  },
  {
    // Older Istio releases select the gateway pods with this label (research §3.2).
    name: 'Istio',
    labels: (g) => ({'istio.io/gateway-name': g.name}),
    sameNamespace: true,
  },
]

/** The row for a controller value, exact first, then the longest prefix row. */
export function controllerRow(rows: readonly ControllerRow[], controller: string): ControllerRow | undefined {
  return (
    rows.find((r) => r.controller === controller) ??
    rows
      .filter((r) => r.prefix && controller.startsWith(`${r.controller}/`))
      .sort((a, b) => b.controller.length - a.controller.length)[0]
  )
}

function includes(have: Record<string, string> | undefined, wanted: Record<string, string>): boolean {
  return have !== undefined && Object.entries(wanted).every(([k, v]) => have[k] === v)
}

/** Whether a Service looks like the signature: its labels, or its selector. */
export function matchesSignature(service: Service, signature: ServiceSignature): boolean {
  return (
    (signature.labels !== undefined && includes(service.labels, signature.labels)) ||
    (signature.selector !== undefined && includes(service.selector, signature.selector))
  )
}

function formatMap(map: Record<string, string>): string {
  return Object.entries(map)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

/** The signature as the warning names it: `Services labelled a=b (origin)`, `selecting c=d`. */
export function describeSignature(signature: ServiceSignature): string {
  const ways = [
    ...(signature.labels ? [`labelled ${formatMap(signature.labels)}`] : []),
    ...(signature.selector ? [`selecting ${formatMap(signature.selector)}`] : []),
  ]
  return `Services ${ways.join(' or ')} (${signature.origin})`
}
