// Ingress and route hosts mapped to the Service that receives them, from real manifests (test/fixtures/ingress, each
// with its "# Source:" header) plus the controller objects those repositories do not keep in git, written as the
// upstream manifests and charts create them (../shared/research/ingress.md §1.2, §2.1, §3.2).
import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {toService} from '../../src/kube/convert.js'
import {toGateway, toGatewayClass, toIngress, toIngressClass, toRoute} from '../../src/kube/convert-ingress.js'
import {hostMatches, isTlsPort, normalizeHostName, planHosts} from '../../src/plan/hosts.js'
import type {IngressObjects, RouteKind} from '../../src/plan/ingress-types.js'
import {buildPlan} from '../../src/plan/plan.js'
import type {Service} from '../../src/plan/types.js'
import {loadObjectsFromYaml, type KubeObject} from '../../src/sim/api-server.js'
import {emptySignals, makeNode, makeService} from '../builders.js'

function fixture(file: string): KubeObject[] {
  return loadObjectsFromYaml(readFileSync(new URL(`../fixtures/ingress/${file}`, import.meta.url), 'utf8'))
}

/** The k3s IngressClass, as research §2.1 quotes it from a k3s cluster. */
const K3S_TRAEFIK_CLASS: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'IngressClass',
  metadata: {
    name: 'traefik',
    annotations: {'ingressclass.kubernetes.io/is-default-class': 'true'},
    labels: {'app.kubernetes.io/instance': 'traefik-kube-system', 'app.kubernetes.io/name': 'traefik'},
  },
  spec: {controller: 'traefik.io/ingress-controller'},
}

/** ingress-nginx's bare-metal manifest: IngressClass nginx, the NodePort controller Service and its admission twin. */
function ingressNginx(): KubeObject[] {
  const labels = {
    'app.kubernetes.io/component': 'controller',
    'app.kubernetes.io/instance': 'ingress-nginx',
    'app.kubernetes.io/name': 'ingress-nginx',
  }
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: {name: 'nginx', labels},
      spec: {controller: 'k8s.io/ingress-nginx'},
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {namespace: 'ingress-nginx', name: 'ingress-nginx-controller', labels},
      spec: {
        type: 'NodePort',
        ports: [
          {name: 'http', port: 80, appProtocol: 'http', nodePort: 30080},
          {name: 'https', port: 443, appProtocol: 'https', nodePort: 30443},
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {namespace: 'ingress-nginx', name: 'ingress-nginx-controller-admission', labels},
      spec: {type: 'ClusterIP', ports: [{name: 'https-webhook', port: 443, appProtocol: 'https'}]},
    },
  ]
}

/** The Service Cilium creates for Gateway `internal` (fixture 09's header): labels, no selector. */
const CILIUM_GATEWAY_SERVICE: KubeObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    namespace: 'gateway',
    name: 'cilium-gateway-internal',
    labels: {'gateway.networking.k8s.io/gateway-name': 'internal', 'io.cilium.gateway/owning-gateway': 'internal'},
  },
  spec: {type: 'LoadBalancer', ports: [{name: 'port-443', port: 443, nodePort: 31443}]},
}

const ROUTE_KINDS: Record<string, RouteKind> = {HTTPRoute: 'HTTPRoute', GRPCRoute: 'GRPCRoute', TLSRoute: 'TLSRoute'}

function objectsOf(all: KubeObject[]): {objects: IngressObjects; services: Service[]} {
  const of = (kind: string) => all.filter((o) => o.kind === kind)
  return {
    objects: {
      ingresses: of('Ingress').map(toIngress),
      ingressClasses: of('IngressClass').map(toIngressClass),
      gateways: of('Gateway').map(toGateway),
      gatewayClasses: of('GatewayClass').map(toGatewayClass),
      routes: all.filter((o) => ROUTE_KINDS[o.kind]).map((o) => toRoute(ROUTE_KINDS[o.kind]!, o)),
    },
    services: of('Service').map(toService),
  }
}

/** Hosts as `host tls → service` lines, and every warning. */
function mapped(all: KubeObject[], ingressService?: string) {
  const {objects, services} = objectsOf(all)
  const plan = buildPlan(
    {
      services,
      nodes: [makeNode('node-a', '192.168.1.11')],
      endpointSlices: [],
      signals: emptySignals(),
      ingress: objects,
    },
    {domain: 'kube.internal', addressType: 'InternalIP', ingressService},
  )
  return {
    hosts: (plan.hosts ?? []).map(
      (h) =>
        `${h.host} ${h.tls ? 'tls' : 'plain'} ${h.source.kind}/${h.source.namespace}/${h.source.name} → ${h.service ? `${h.service.namespace}/${h.service.name}` : '-'} [${h.targets.map((t) => `${t.address}:${t.port}`).join(',')}]`,
    ),
    hostWarnings: (plan.hosts ?? []).flatMap((h) => h.warnings),
    warnings: plan.warnings,
  }
}

describe('planHosts with real manifests', () => {
  it('k3s bundled Traefik: the default class (no ingressClassName needed) finds kube-system/traefik by its chart labels', () => {
    const ytdl = fixture('01-k3s-bundled-traefik-nodeport-ytdl.yaml')
    expect(mapped([...ytdl, K3S_TRAEFIK_CLASS])).toEqual({
      hosts: ['ytdl.mink.lan tls Ingress/default/ytdl → kube-system/traefik [192.168.1.11:32080,192.168.1.11:32443]'],
      hostWarnings: [],
      warnings: [],
    })
    const classless = ytdl.map((o) =>
      o.kind === 'Ingress' ? {...o, spec: {...(o.spec as object), ingressClassName: undefined}} : o,
    )
    expect(mapped([...classless, K3S_TRAEFIK_CLASS]).hosts).toEqual([
      'ytdl.mink.lan tls Ingress/default/ytdl → kube-system/traefik [192.168.1.11:32080,192.168.1.11:32443]',
    ])
  })

  it('ingress-nginx: IngressClass nginx → the controller Service by its labels, never the admission Service', () => {
    expect(mapped([...fixture('07-ingress-nginx-tls-anchors-khuedoan.yaml'), ...ingressNginx()])).toEqual({
      hosts: [
        'blog.khuedoan.com tls Ingress/default/blog → ingress-nginx/ingress-nginx-controller [192.168.1.11:30080,192.168.1.11:30443]',
        'tekton.khuedoan.com tls Ingress/tekton-pipelines/tekton-dashboard → ingress-nginx/ingress-nginx-controller [192.168.1.11:30080,192.168.1.11:30443]',
      ],
      hostWarnings: [],
      warnings: [],
    })
  })

  it('custom controller values (k8s.io/internal) are found through the chart labels the class and Service share', () => {
    const chart = (release: string, className: string, controller: string): KubeObject[] => {
      const labels = {'app.kubernetes.io/instance': release, 'app.kubernetes.io/name': 'ingress-nginx'}
      return [
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'IngressClass',
          metadata: {name: className, labels: {...labels, 'app.kubernetes.io/component': 'controller'}},
          spec: {controller},
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          // The chart names it <fullname>-controller (research §1.2); fullnameOverride is the release name here.
          metadata: {namespace: 'network', name: `${release}-controller`, labels},
          spec: {
            type: 'LoadBalancer',
            ports: [
              {name: 'http', port: 80, nodePort: 31080},
              {name: 'https', port: 443, nodePort: 31443},
            ],
          },
        },
      ]
    }
    const all = [
      ...fixture('05-ingress-nginx-custom-classes-onedr0p.yaml'),
      ...chart('ingress-nginx-internal', 'internal', 'k8s.io/internal'),
      ...chart('ingress-nginx-external', 'external', 'k8s.io/external'),
    ]
    expect(mapped(all).hosts).toEqual([
      'emqx.devbu.io plain Ingress/default/emqx-dashboard → network/ingress-nginx-internal-controller [192.168.1.11:31080,192.168.1.11:31443]',
      'flux-webhook.devbu.io plain Ingress/default/webhook-receiver → network/ingress-nginx-external-controller [192.168.1.11:31080,192.168.1.11:31443]',
    ])
  })

  it('Gateway API: an HTTPRoute on two Gateways maps through the one whose Service exists; a TLSRoute on a missing listener is reported', () => {
    expect(mapped([...fixture('09-gateway-api-cilium-tlsroute-vehagn.yaml'), CILIUM_GATEWAY_SERVICE])).toEqual({
      hosts: [
        'whoami-dev.stonegarden.dev tls HTTPRoute/whoami/whoami → gateway/cilium-gateway-internal [192.168.1.11:31443]',
      ],
      hostWarnings: [],
      warnings: [
        'TLSRoute proxmox/proxmox: Gateway gateway/internal has no listener proxmox-passthrough; not mapped through it',
      ],
    })
  })

  it('a Gateway without a Service: the host stays unmapped and the warning names what was tried', () => {
    expect(mapped(fixture('09-gateway-api-cilium-tlsroute-vehagn.yaml')).hostWarnings).toEqual([
      'no Service found for Gateway gateway/external: tried the expose-lb/service annotation, Gateway API: Services labelled gateway.networking.k8s.io/gateway-name=external in gateway, Envoy Gateway: Services labelled gateway.envoyproxy.io/owning-gateway-name=external,gateway.envoyproxy.io/owning-gateway-namespace=gateway, Cilium: Services labelled io.cilium.gateway/owning-gateway=external in gateway, Istio: Services labelled istio.io/gateway-name=external in gateway; annotate the Gateway expose-lb/service: namespace/name',
      'no Service found for Gateway gateway/internal: tried the expose-lb/service annotation, Gateway API: Services labelled gateway.networking.k8s.io/gateway-name=internal in gateway, Envoy Gateway: Services labelled gateway.envoyproxy.io/owning-gateway-name=internal,gateway.envoyproxy.io/owning-gateway-namespace=gateway, Cilium: Services labelled io.cilium.gateway/owning-gateway=internal in gateway, Istio: Services labelled istio.io/gateway-name=internal in gateway; annotate the Gateway expose-lb/service: namespace/name',
    ])
  })

  it('no class and no default: the warning says so; --ingress-service then names the Service', () => {
    const ingress = fixture('07-ingress-nginx-tls-anchors-khuedoan.yaml')
    expect(mapped(ingress).hostWarnings).toEqual([
      'IngressClass nginx does not exist: no Service found (tried the expose-lb/service annotation, --ingress-service); pass --ingress-service namespace/name',
      'IngressClass nginx does not exist: no Service found (tried the expose-lb/service annotation, --ingress-service); pass --ingress-service namespace/name',
    ])
    const withFlag = mapped([...ingress, ...ingressNginx().slice(1)], 'ingress-nginx/ingress-nginx-controller')
    expect(withFlag.hosts[0]).toBe(
      'blog.khuedoan.com tls Ingress/default/blog → ingress-nginx/ingress-nginx-controller [192.168.1.11:30080,192.168.1.11:30443]',
    )
    expect(mapped(ingress, 'nowhere/none').hostWarnings[0]).toBe(
      '--ingress-service names Service "nowhere/none", which does not exist (expected namespace/name)',
    )
  })

  it('controllers beyond ingress-nginx and Traefik: each class or Gateway finds the Service its upstream chart or manifest makes', () => {
    const {hosts, hostWarnings, warnings} = mapped(fixture('11-controllers-upstream.yaml'))
    expect({hosts: [...hosts].sort(), hostWarnings, warnings}).toEqual({
      hosts: [
        'bookinfo.istio.example.com plain HTTPRoute/lab/bookinfo → lab/lab-gateway-istio [192.168.1.11:30880]',
        'cafe.ngf.example.com plain HTTPRoute/default/coffee → nginx-gateway/nginx-gateway [192.168.1.11:30780,192.168.1.11:31143]',
        // externalTrafficPolicy: Local and no controller pod on the node (no EndpointSlices here): no targets, but mapped.
        'cafe.nginx.example.com tls Ingress/default/cafe → nginx-ingress/my-nginx-ingress-controller []',
        'echo.envoy.example.com tls HTTPRoute/network/echo → envoy-gateway-system/envoy-network-external-8f2a9c41 [192.168.1.11:30980,192.168.1.11:31243]',
        'echo.haproxy.example.com plain Ingress/default/echo → haproxy-controller/haproxy-kubernetes-ingress [192.168.1.11:30180,192.168.1.11:30543]',
        'httpbin.istio.example.com plain Ingress/default/ingress → istio-system/istio-ingressgateway [192.168.1.11:30580,192.168.1.11:30943]',
        'httpbin.kong.example.com plain Ingress/default/httpbin → kong/kong-kong-proxy [192.168.1.11:30480,192.168.1.11:30843]',
        'hubble.cilium.example.com plain Ingress/kube-system/hubble-ui → kube-system/cilium-ingress [192.168.1.11:30680,192.168.1.11:31043]',
        'kuard.contour.example.com plain Ingress/default/kuard → projectcontour/envoy []',
      ],
      hostWarnings: [],
      warnings: [],
    })
  })

  it('HAProxy from its plain manifest (selector run=haproxy-ingress) and an unknown controller: the warning names each try', () => {
    const haproxyManifest: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      // haproxytech/kubernetes-ingress deploy/haproxy-ingress.yaml
      metadata: {namespace: 'haproxy-controller', name: 'haproxy-kubernetes-ingress', labels: {run: 'haproxy-ingress'}},
      spec: {
        type: 'NodePort',
        selector: {run: 'haproxy-ingress'},
        ports: [
          {name: 'http', port: 80, targetPort: 8080, nodePort: 31080},
          {name: 'https', port: 443, targetPort: 8443, nodePort: 31443},
          {name: 'stat', port: 1024, targetPort: 1024, nodePort: 31024},
        ],
      },
    }
    const ingressClass = (controller: string): KubeObject => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: {name: 'edge', annotations: {'ingressclass.kubernetes.io/is-default-class': 'true'}},
      spec: {controller},
    })
    const ingress: KubeObject = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {namespace: 'default', name: 'web'},
      spec: {rules: [{host: 'web.example.com'}]},
    }
    expect(mapped([ingressClass('haproxy.org/ingress-controller'), haproxyManifest, ingress]).hosts).toEqual([
      'web.example.com plain Ingress/default/web → haproxy-controller/haproxy-kubernetes-ingress [192.168.1.11:31080,192.168.1.11:31443]',
    ])
    expect(mapped([ingressClass('haproxy.org/ingress-controller'), ingress]).hostWarnings).toEqual([
      'no Service found for IngressClass edge (controller haproxy.org/ingress-controller): tried the expose-lb/service annotation, --ingress-service, HAProxy Kubernetes Ingress: Services labelled run=haproxy-ingress or selecting run=haproxy-ingress (HAProxy manifest), HAProxy Kubernetes Ingress: Services labelled app.kubernetes.io/name=kubernetes-ingress (HAProxy chart); annotate the IngressClass expose-lb/service: namespace/name or pass --ingress-service',
    ])
    expect(mapped([ingressClass('example.com/ingress'), haproxyManifest, ingress]).hostWarnings).toEqual([
      'no Service found for IngressClass edge (controller example.com/ingress): tried the expose-lb/service annotation, --ingress-service, no known Service for controller example.com/ingress; annotate the IngressClass expose-lb/service: namespace/name or pass --ingress-service',
    ])
  })

  it('the expose-lb/service annotation on the IngressClass overrides the search', () => {
    const [ingressClass, ...rest] = ingressNginx()
    const other = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {namespace: 'edge', name: 'haproxy'},
      spec: {type: 'NodePort', ports: [{name: 'http', port: 80, nodePort: 32000}]},
    }
    const annotated = {
      ...ingressClass!,
      metadata: {...ingressClass!.metadata, annotations: {'expose-lb/service': 'edge/haproxy'}},
    }
    expect(mapped([...fixture('07-ingress-nginx-tls-anchors-khuedoan.yaml'), annotated, ...rest, other]).hosts[0]).toBe(
      'blog.khuedoan.com tls Ingress/default/blog → edge/haproxy [192.168.1.11:32000]',
    )
  })
})

describe('host names', () => {
  it.each([
    ['Radarr.Home.Example.com.', 'radarr.home.example.com'],
    ['*.apps.example.com', '*.apps.example.com'],
    ['a.*.example.com', undefined],
    ['*', undefined],
    ['bad_label-.example.com', undefined],
    ['', undefined],
  ])('normalizeHostName(%j) is %j', (raw, expected) => {
    expect(normalizeHostName(raw)).toBe(expected)
  })

  it.each([
    ['*.apps.example.com', 'radarr.apps.example.com', true],
    ['*.apps.example.com', 'a.b.apps.example.com', false],
    ['*.apps.example.com', 'apps.example.com', false],
    ['radarr.example.com', 'radarr.example.com', true],
  ])('hostMatches(%j, %j) is %j', (pattern, name, expected) => {
    expect(hostMatches(pattern, name)).toBe(expected)
  })

  it.each([
    [{name: 'websecure', port: 443}, true],
    [{name: 'https', port: 8443}, true],
    [{port: 443}, true],
    [{name: 'web', port: 80}, false],
    [{name: 'http', port: 443}, false],
    [{name: 'port-443', port: 443}, true],
    [{name: 'x', port: 9000, appProtocol: 'https'}, true],
    [{name: 'https', port: 443, appProtocol: 'http'}, false],
  ])('isTlsPort(%j) is %j', (port, expected) => {
    expect(isTlsPort({protocol: 'TCP', ...port})).toBe(expected)
  })

  it('a wildcard Ingress host stays a wildcard; an invalid one is a warning', () => {
    const {hosts, warnings} = planHosts(
      {
        ingresses: [
          {
            namespace: 'apps',
            name: 'wild',
            className: 'traefik',
            ruleHosts: ['*.apps.example.com', 'bad..name'],
            tlsHosts: ['*.apps.example.com'],
          },
        ],
        ingressClasses: [
          {name: 'traefik', controller: 'traefik.io/ingress-controller', isDefault: false, labels: {}, annotations: {}},
        ],
        gateways: [],
        gatewayClasses: [],
        routes: [],
      },
      [
        makeService('traefik', {
          namespace: 'kube-system',
          type: 'NodePort',
          labels: {'app.kubernetes.io/name': 'traefik'},
        }),
      ],
      [],
      undefined,
    )
    expect(hosts).toEqual([
      {
        host: '*.apps.example.com',
        source: {kind: 'Ingress', namespace: 'apps', name: 'wild'},
        tls: true,
        service: {namespace: 'kube-system', name: 'traefik'},
        targets: [],
        warnings: [],
      },
    ])
    expect(warnings).toEqual(['Ingress apps/wild: host "bad..name" is not a valid DNS name; skipped'])
  })
})
