/**
 * minikube tunnel: how it shows in the API, and the step that runs it. Source: kubernetes/minikube
 * `pkg/minikube/tunnel/loadbalancer_patcher.go` and `pkg/minikube/tunnel/kic/ssh_tunnel.go`.
 */
import {distroEvidence} from './distro.js'
import {servicesWith, summarize} from './evidence.js'
import type {Facts, Finding, LoadBalancerModule, StepContext, StepPart} from './types.js'

function detect({nodes, services}: Facts): Finding | undefined {
  const seen = distroEvidence(nodes, 'minikube')
  if (seen === undefined) return undefined
  // `minikube tunnel` patches every LoadBalancer Service's ingress with its clusterIP (VM drivers) or 127.0.0.1
  // (docker driver) while it runs, and removes it when it stops.
  const tunneled = servicesWith(services, (svc) => {
    const ip = svc.loadBalancerIngress.find(
      (i) => i.ip !== undefined && (i.ip === svc.clusterIP || i.ip === '127.0.0.1'),
    )?.ip
    if (ip === undefined) return undefined
    return ip === svc.clusterIP ? `${ip}, its clusterIP` : ip
  })
  const evidence = [
    seen,
    ...summarize(
      tunneled.map(({svc, mark}) => `Service ${svc.namespace}/${svc.name} has ingress IP ${mark} (minikube tunnel)`),
    ),
  ]
  return {lb: {name: 'minikube', evidence, serving: evidence.length > 1}}
}

function minikubeTunnelStep(ctx: StepContext): StepPart {
  // minikube names nodes after the profile and labels them with it; the default profile is "minikube".
  const profile = ctx.nodes.map((node) => node.labels['minikube.k8s.io/name']).find((p) => p !== undefined)
  const flag = profile !== undefined && profile !== 'minikube' ? ` -p ${profile}` : ''
  return {
    title: 'run minikube tunnel',
    actions: [
      {
        text:
          'Run it in a terminal and keep it running; it gives each LoadBalancer Service an address this host can ' +
          'reach (it may ask for sudo to bind ports below 1024)',
        commands: [`minikube tunnel${flag}`],
      },
    ],
    notes: [
      `or use MetalLB: \`minikube addons enable metallb${flag}\`, then \`minikube addons configure metallb${flag}\``,
    ],
  }
}

export const minikube: LoadBalancerModule = {
  name: 'minikube',
  display: 'minikube tunnel',
  detect,
  steps: {'minikube-tunnel': minikubeTunnelStep},
}
