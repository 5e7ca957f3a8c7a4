/**
 * What to install or finish, given what detection found. Pure. Follows the rule of thumb "a working load balancer
 * → nothing; installed but idle → finish it; else what fits the distro and node count".
 */
import {EXCLUDE_LABEL, isExcludedNode} from '../plan/nodes.js'
import {LOAD_BALANCERS, NIL_CLASS} from '../lb/index.js'
import type {Finding} from '../lb/types.js'
import type {Detection, DetectorName, Node, Recommendation, Service} from '../plan/types.js'
import {type Distro, rke2ServiceLbEnabledBy, serviceLbDisabledBy} from '../lb/distro.js'

export type {Finding} from '../lb/types.js'

/** What `recommend` decides from. */
export interface RecommendInput {
  distro: Distro
  findings: Finding[]
  /** Nodes that are not being deleted. */
  nodes: Node[]
}

/**
 * What renderers (list's header, explain, recommend's closing line) add after a recommendation other than `none`:
 * the plugin bridges the gap meanwhile. Detection's reasons stay plain.
 */
export const UNTIL_THEN = 'until then, `kubectl expose-lb serve` maps the names on this workstation'

/** How messages name each implementation (each module's `display`). */
export const DISPLAY_NAMES = Object.fromEntries(LOAD_BALANCERS.map((lb) => [lb.name, lb.display])) as Record<
  DetectorName,
  string
>

/** The recommendation, and warnings about how the found implementations get along. */
export function recommend(input: RecommendInput): {recommendation: Recommendation; warnings: string[]} {
  const serving = input.findings.filter((f) => f.lb.serving)
  const warnings = raceWarnings(serving, input.distro)
  if (serving.length > 0) return {recommendation: nothingToInstall(serving), warnings}
  const finish = input.findings.find((f) => f.finish !== undefined)?.finish
  if (finish !== undefined) return {recommendation: finish, warnings}
  return {recommendation: byDistro(input), warnings}
}

function nothingToInstall(serving: Finding[]): Recommendation {
  const [only] = serving
  if (serving.length === 1 && only?.lb.name === 'cloud') {
    return {
      name: 'none',
      reason:
        `the cloud provider's load balancer is there (${only.lb.evidence[0] ?? 'node providerID'}): nothing to install; ` +
        'if LoadBalancer Services stay pending, check the cloud quota, the Service annotations and loadBalancerClass',
    }
  }
  const names = serving.map((f) => DISPLAY_NAMES[f.lb.name])
  let reason = `${joinNames(names)} ${names.length === 1 ? 'is' : 'are'} serving: nothing to install`
  if (serving.some((f) => f.lb.name === 'openelb')) {
    reason += ' (OpenELB only takes Services annotated `lb.kubesphere.io/v1alpha1: openelb`)'
  }
  return {name: 'none', reason}
}

/** Two nil-class implementations serving at once race for every such Service (MetalLB docs, "Issues with K3s"). */
function raceWarnings(serving: Finding[], distro: Distro): string[] {
  const racing = serving.filter((f) => NIL_CLASS.has(f.lb.name))
  if (racing.length < 2) return []
  const names = joinNames(racing.map((f) => DISPLAY_NAMES[f.lb.name]))
  let fix = 'disable one'
  if (racing.some((f) => f.lb.name === 'k3s-servicelb')) {
    fix +=
      distro === 'rke2'
        ? ' (drop `--enable-servicelb` from the RKE2 server)'
        : ' (start k3s with `--disable=servicelb`)'
  }
  const all = racing.length === 2 ? 'both' : 'all'
  return [`${names} ${all} serve LoadBalancer Services that have no loadBalancerClass and race for them: ${fix}`]
}

function byDistro({distro, nodes}: RecommendInput): Recommendation {
  switch (distro) {
    case 'kind':
      return {
        name: 'cloud-provider-kind',
        reason:
          'kind has no load balancer of its own: run cloud-provider-kind on this host (sigs.k8s.io/cloud-provider-kind)',
      }
    case 'minikube':
      return {
        name: 'minikube-tunnel',
        reason: 'minikube has no load balancer of its own: run `minikube tunnel` (or `minikube addons enable metallb`)',
      }
    case 'microk8s':
      return {
        name: 'microk8s-metallb',
        reason:
          'MicroK8s has no load balancer by default: run `microk8s enable metallb:<range>` with free addresses of the node network',
      }
    default:
  }
  if (nodes.length === 0) {
    return {
      name: 'metallb',
      reason:
        'no nodes could be seen, so the node count is unknown: MetalLB (L2) fits most bare-metal clusters ' +
        '(on a single k3s node, its built-in ServiceLB is enough)',
    }
  }
  const [single] = nodes.length === 1 ? nodes : []
  if (distro === 'k3s') return single === undefined ? k3sSeveralNodes(nodes) : k3sOneNode(nodes)
  if (distro === 'rke2') {
    if (single !== undefined) return rke2OneNode(nodes)
    return {name: 'metallb', reason: `this RKE2 cluster has ${nodes.length} nodes: install MetalLB (L2)`}
  }
  if (single !== undefined) return metalLbOnOneNode(single, distro)
  return {
    name: 'metallb',
    reason: `this cluster has ${nodes.length} nodes: install MetalLB (L2) and give it a range of free addresses`,
  }
}

function k3sOneNode(nodes: Node[]): Recommendation {
  const disabled = serviceLbDisabledBy(nodes)
  if (disabled === undefined) {
    return {
      name: 'k3s-servicelb',
      reason: "k3s ServiceLB is enabled: it gives a LoadBalancer Service this node's IP as soon as one is created",
    }
  }
  return {
    name: 'k3s-servicelb',
    reason:
      `k3s ServiceLB is the built-in load balancer for a single node, but node ${disabled.node} runs with ` +
      `\`${disabled.flag}\`: remove that and restart k3s`,
  }
}

function k3sSeveralNodes(nodes: Node[]): Recommendation {
  const count = `this k3s cluster has ${nodes.length} nodes`
  if (serviceLbDisabledBy(nodes) !== undefined) {
    return {name: 'metallb', reason: `${count} and ServiceLB is disabled: install MetalLB (L2)`}
  }
  return {
    name: 'metallb',
    reason:
      `${count}: install MetalLB (L2) after restarting the k3s servers with \`--disable=servicelb\` ` +
      '(ServiceLB also works, but it answers on every node IP and needs free hostPorts)',
  }
}

function rke2OneNode(nodes: Node[]): Recommendation {
  const enabled = rke2ServiceLbEnabledBy(nodes)
  if (enabled !== undefined) {
    return {
      name: 'rke2-servicelb',
      reason: `RKE2 ServiceLB is enabled (\`${enabled.flag}\` on node ${enabled.node}): it gives a LoadBalancer Service this node's IP as soon as one is created`,
    }
  }
  return {
    name: 'rke2-servicelb',
    reason:
      "RKE2 ships ServiceLB switched off: start the RKE2 server with `--enable-servicelb` to give LoadBalancer Services this node's IP",
  }
}

function metalLbOnOneNode(node: Node, distro: Distro): Recommendation {
  const where = distro === 'talos' ? 'this single Talos node' : 'a single node'
  const label = !isExcludedNode(node)
    ? `if the node gets the control-plane label \`${EXCLUDE_LABEL}\` (kubeadm and Talos add it), remove it`
    : `remove the control-plane label \`${EXCLUDE_LABEL}\` from node ${node.name}`
  return {
    name: 'metallb',
    reason: `ServiceLB is k3s-only, so on ${where} install MetalLB (L2); ${label}, or MetalLB will not announce from it`,
  }
}

/** A recommendation's reason as the user reads it: with the "until then" tail when it asks them to act. */
export function withUntilThen(recommendation: Recommendation): string {
  return recommendation.name === 'none' ? recommendation.reason : `${recommendation.reason}; ${UNTIL_THEN}`
}

function joinNames(names: string[]): string {
  if (names.length <= 2) return names.join(' and ')
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`
}

/** What a Service's diagnosis says, as the recommendation needs it. */
export interface PendingCount {
  services: Service[]
  /** Diagnoses by `namespace/name`. */
  pending: ReadonlyMap<string, {reason: string}>
}

// Codes a new MetalLB address pool fixes.
const METALLB_POOL_CODES = new Set(['metallb-no-pool', 'metallb-pool-exhausted'])

/**
 * The recommendation, counting pending LoadBalancer Services: an implementation that serves some Services but leaves
 * others pending is not "nothing to install". The seed's rule stays (several nodes → MetalLB; one k3s node →
 * ServiceLB), now said with numbers; with nothing pending the detection is returned as it is.
 */
export function withPendingCounts(detection: Detection, input: PendingCount & {nodes: Node[]}): Detection {
  const balanced = input.services.filter((svc) => svc.type === 'LoadBalancer')
  const pending = balanced.filter((svc) => svc.loadBalancerIngress.length === 0)
  if (pending.length === 0) return detection
  const codes = new Map<string, number>()
  for (const svc of pending) {
    const reason = input.pending.get(`${svc.namespace}/${svc.name}`)?.reason ?? 'unknown'
    codes.set(reason, (codes.get(reason) ?? 0) + 1)
  }
  const tally = [...codes]
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${n} ${code}`)
    .join(', ')
  const are = pending.length === 1 ? 'is' : 'are'
  const rec = detection.recommendation
  if (rec.name !== 'none') {
    return {
      ...detection,
      recommendation: {
        name: rec.name,
        reason: `${pending.length} of ${balanced.length} LoadBalancer Services ${are} pending (${tally}); ${rec.reason}`,
      },
    }
  }
  const serving = detection.detected.filter((lb) => lb.serving)
  const names = joinNames(serving.map((lb) => DISPLAY_NAMES[lb.name]))
  const served = balanced.length - pending.length
  const head = `${names} ${serving.length === 1 ? 'serves' : 'serve'} ${served} of ${balanced.length} LoadBalancer Services; ${pending.length} ${are} pending`
  const nodes = input.nodes.filter((node) => !node.deleting)
  let recommendation: Recommendation
  if (codes.has('servicelb-port-conflict') && detection.distro === 'k3s' && nodes.length > 1) {
    recommendation = {
      name: 'metallb',
      reason: `${head} (${tally}): their ports collide on every node; MetalLB gives each Service its own address`,
    }
  } else if (codes.has('servicelb-port-conflict')) {
    recommendation = {
      name: detection.distro === 'rke2' ? 'rke2-servicelb' : 'k3s-servicelb',
      reason: `${head} (${tally}): their ports are already taken on the node; give them other ports or free those (\`kubectl expose-lb explain\` names who holds them)`,
    }
  } else if ([...codes.keys()].every((code) => METALLB_POOL_CODES.has(code))) {
    recommendation = {
      name: 'metallb',
      reason: `${head} (${tally}): MetalLB has no address left for them; add addresses`,
    }
  } else {
    recommendation = {
      name: 'fix-pending',
      reason: `${head} (${tally}): \`kubectl expose-lb explain <service> -n <namespace>\` shows why and the fix for each`,
    }
  }
  return {...detection, recommendation}
}
