/**
 * kind with cloud-provider-kind: how it shows in the API, and the step that runs it. Sources:
 * kubernetes-sigs/cloud-provider-kind `pkg/loadbalancer/server.go` (ipMode Proxy), `pkg/ingress/controller.go`.
 */
import {distroEvidence} from './distro.js'
import {servicesWith, summarize} from './evidence.js'
import {excludeLabelAction} from './step-text.js'
import type {Action, Facts, Finding, LoadBalancerModule, StepContext, StepPart} from './types.js'

function detect({nodes, services, signals}: Facts): Finding | undefined {
  const seen = distroEvidence(nodes, 'kind')
  if (seen === undefined) return undefined
  // cloud-provider-kind runs outside the cluster; it shows as its IngressClass (Oct 2025+) and as ipMode Proxy.
  const proxied = servicesWith(services, (svc) =>
    svc.loadBalancerIngress.some((i) => i.ipMode === 'Proxy') ? 'Proxy' : undefined,
  )
  const evidence = [
    seen,
    ...(signals.ingressClasses.includes('cloud-provider-kind') ? ['IngressClass cloud-provider-kind'] : []),
    ...summarize(proxied.map(({svc, mark}) => `Service ${svc.namespace}/${svc.name} has ingress ipMode ${mark}`)),
  ]
  return {lb: {name: 'kind', evidence, serving: evidence.length > 1}}
}

function cloudProviderKindStep(ctx: StepContext): StepPart {
  const actions: Action[] = [
    {
      text: 'Install cloud-provider-kind (needs Go)',
      commands: ['go install sigs.k8s.io/cloud-provider-kind@latest'],
    },
    {
      text:
        'Run it on this host and keep it running; it serves the LoadBalancer Services of every kind cluster here ' +
        '(on macOS and WSL2 run it with sudo)',
      commands: ['cloud-provider-kind'],
    },
  ]
  const exclude = excludeLabelAction(ctx, 'cloud-provider-kind')
  if (exclude !== undefined) actions.push(exclude)
  return {title: 'run cloud-provider-kind on this host', actions}
}

export const kind: LoadBalancerModule = {
  name: 'kind',
  display: 'cloud-provider-kind',
  detect,
  steps: {'cloud-provider-kind': cloudProviderKindStep},
}
