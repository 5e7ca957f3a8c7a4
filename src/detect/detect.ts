/**
 * Load-balancer detection: nodes, Services and a few read-only signals → which implementations are there, whether
 * each hands out addresses, and what to install or finish. Pure: `src/kube` collects the signals documented below;
 * what each implementation looks like lives in its module under `src/lb/`.
 */
import {LOAD_BALANCERS} from '../lb/index.js'
import type {Detection, DetectionSignals, Node, Service} from '../plan/types.js'
import {detectDistro} from '../lb/distro.js'
import {recommend} from './recommend.js'

export {COUNT_KEYS, CONFIG_MAP_KEYS} from '../lb/evidence.js'

/**
 * `signals.workloads` must hold every DaemonSet and Deployment in all namespaces, plus the Pods in kube-system that
 * no controller owns (static pods such as `kube-vip-<node>`), each with labels, images and literal env values.
 * `signals.apiGroups` comes from discovery; `signals.ingressClasses` holds IngressClass names.
 */
export function detectLoadBalancers(input: {nodes: Node[]; services: Service[]; signals: DetectionSignals}): Detection {
  const distro = detectDistro(input.nodes)
  const facts = {...input, distro}
  const findings = LOAD_BALANCERS.flatMap((lb) => lb.detect(facts) ?? [])
  const {recommendation, warnings} = recommend({
    distro,
    findings,
    nodes: input.nodes.filter((node) => !node.deleting),
  })
  if (input.signals.unavailable.length > 0) {
    warnings.push(`could not ${input.signals.unavailable.join(', ')}: load-balancer detection may be incomplete`)
  }
  return {distro, detected: findings.map((f) => f.lb), recommendation, warnings}
}
