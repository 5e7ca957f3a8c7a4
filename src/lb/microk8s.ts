/**
 * MicroK8s: a distro without a load balancer by default; its metallb addon is found as MetalLB. The step enables
 * that addon (canonical/microk8s-core-addons `addons/metallb/enable`).
 */
import {distroEvidence} from './distro.js'
import {rangeText} from './step-text.js'
import type {Facts, Finding, LoadBalancerModule, StepContext, StepPart} from './types.js'

function detect({nodes}: Facts): Finding | undefined {
  const seen = distroEvidence(nodes, 'microk8s')
  return seen === undefined ? undefined : {lb: {name: 'microk8s', evidence: [seen], serving: false}}
}

function microk8sMetalLbStep(ctx: StepContext): StepPart {
  return {
    title: "enable MicroK8s' MetalLB addon",
    actions: [
      {
        text: 'On a MicroK8s node, enable the addon with the address range',
        commands: [`microk8s enable metallb:${rangeText(ctx.range)}`],
      },
    ],
    usesRange: true,
  }
}

export const microk8s: LoadBalancerModule = {
  name: 'microk8s',
  display: 'MicroK8s',
  detect,
  steps: {'microk8s-metallb': microk8sMetalLbStep},
}
