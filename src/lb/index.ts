/**
 * Every load-balancer implementation expose-lb knows, one module each, in the order of `DetectorName` (the order
 * of `Detection.detected`).
 */
import {cilium} from './cilium.js'
import {cloud} from './cloud.js'
import {k3sServiceLb} from './k3s-servicelb.js'
import {kind} from './kind.js'
import {kubeVip} from './kube-vip.js'
import {metallb} from './metallb.js'
import {microk8s} from './microk8s.js'
import {minikube} from './minikube.js'
import {openElb} from './openelb.js'
import {pureLb} from './purelb.js'
import type {DetectorName} from '../plan/types.js'
import type {LoadBalancerModule, StepContext, StepPart} from './types.js'

export const LOAD_BALANCERS: readonly LoadBalancerModule[] = [
  metallb,
  k3sServiceLb,
  kubeVip,
  cilium,
  openElb,
  pureLb,
  cloud,
  kind,
  minikube,
  microk8s,
]

/** The step builder for a recommendation name, from the module that owns it. */
export function stepBuilder(recommendation: string): ((ctx: StepContext) => StepPart) | undefined {
  for (const lb of LOAD_BALANCERS) {
    const build = lb.steps?.[recommendation]
    if (build !== undefined) return build
  }
  return undefined
}

// Implementations that take every LoadBalancer Service without a loadBalancerClass. OpenELB (per-Service
// annotation) and PureLB (only when configured as the default) are opt-in; MicroK8s is a distro, not a balancer.
export const NIL_CLASS: ReadonlySet<DetectorName> = new Set<DetectorName>([
  'metallb',
  'k3s-servicelb',
  'kube-vip',
  'cilium',
  'cloud',
  'kind',
  'minikube',
])
