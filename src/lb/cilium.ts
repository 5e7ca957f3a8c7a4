/**
 * Cilium LB-IPAM (with L2 announcements): how it shows in the API, and the step that gives it a pool. Sources:
 * cilium/cilium `operator/pkg/lbipam/lbipam.go`, `Documentation/network/lb-ipam.rst`.
 */
import {apiGroup, count, COUNT_KEYS, countEvidence, describe} from './evidence.js'
import {
  ADVERTISEMENT_NAME,
  applyCommand,
  countOf,
  PLACEHOLDER_END,
  PLACEHOLDER_START,
  POOL_NAME,
  rangeComment,
  rangeText,
} from './step-text.js'
import type {Facts, Finding, LoadBalancerModule, Manifest, StepContext, StepPart} from './types.js'

function detect({signals}: Facts): Finding | undefined {
  const agents = signals.workloads.filter(
    (w) => w.labels['k8s-app'] === 'cilium' || (w.kind === 'DaemonSet' && w.name === 'cilium'),
  )
  const operators = signals.workloads.filter(
    (w) => !agents.includes(w) && (w.name === 'cilium-operator' || w.labels['io.cilium/app'] === 'operator'),
  )
  const evidence = countEvidence(
    signals,
    [...apiGroup(signals, 'cilium.io'), ...[...agents, ...operators].map(describe)],
    [
      [COUNT_KEYS.ciliumPools, 'CiliumLoadBalancerIPPool'],
      [COUNT_KEYS.ciliumL2Policies, 'CiliumL2AnnouncementPolicy', {plural: 'CiliumL2AnnouncementPolicies'}],
    ],
  )
  if (evidence === undefined) return undefined
  // "LB IPAM is always enabled but dormant. The controller is awoken when the first IP Pool is added" (Cilium docs).
  const serving = count(signals, COUNT_KEYS.ciliumPools) > 0
  const lb = {name: 'cilium' as const, evidence, serving}
  if (serving) return {lb}
  return {
    lb,
    finish: {
      name: 'cilium-lb-ipam',
      reason:
        'Cilium is here but has no CiliumLoadBalancerIPPool: add a pool and a CiliumL2AnnouncementPolicy ' +
        '(with `l2announcements.enabled=true`) to use Cilium LB-IPAM, rather than installing MetalLB beside it',
    },
  }
}

function ciliumLbIpamStep(ctx: StepContext): StepPart {
  const blocks = ctx.range.ok
    ? ctx.range.ranges.map((r) => ({start: r.start, stop: r.end}))
    : [{start: PLACEHOLDER_START, stop: PLACEHOLDER_END}]
  const manifests: Manifest[] = [
    {
      object: {
        apiVersion: 'cilium.io/v2alpha1',
        kind: 'CiliumLoadBalancerIPPool',
        metadata: {name: POOL_NAME},
        spec: {blocks},
      },
      fieldComments: [{path: ['spec', 'blocks', 0], text: rangeComment(ctx.range)}],
    },
  ]
  const policies = countOf(ctx, COUNT_KEYS.ciliumL2Policies)
  if (policies === undefined || policies === 0) {
    manifests.push({
      object: {
        apiVersion: 'cilium.io/v2alpha1',
        kind: 'CiliumL2AnnouncementPolicy',
        metadata: {name: ADVERTISEMENT_NAME},
        // No nodeSelector or interfaces: announce from every node, on every interface.
        spec: {loadBalancerIPs: true},
      },
      fieldComments: [],
    })
  }
  const announce = manifests.length > 1 ? ' and announce them on the node network (L2)' : ''
  return {
    title: 'give Cilium LB-IPAM an address pool and announce it (L2)',
    actions: [
      {
        text:
          'Turn on L2 announcements in Cilium (they need kube-proxy replacement), then restart the operator and ' +
          'agents; with a Helm release named cilium:',
        commands: [
          'helm upgrade cilium cilium/cilium --namespace kube-system --reuse-values --set l2announcements.enabled=true --set externalIPs.enabled=true',
          `${ctx.options.kubectl} -n kube-system rollout restart deployment/cilium-operator daemonset/cilium`,
        ],
      },
      {
        text: `Give LB-IPAM the addresses ${rangeText(ctx.range, ', ')}${announce}`,
        commands: [applyCommand(ctx)],
        applies: true,
      },
    ],
    notes: ['written for Cilium 1.15 and later (pool `blocks` with start/stop; 1.14 only has `cidrs`)'],
    manifests,
    usesRange: true,
  }
}

export const cilium: LoadBalancerModule = {
  name: 'cilium',
  display: 'Cilium LB-IPAM',
  detect,
  steps: {'cilium-lb-ipam': ciliumLbIpamStep},
}
