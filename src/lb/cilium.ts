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
import type {Service} from '../plan/types.js'
import {controllerDown} from './diagnosis-text.js'
import type {
  DiagnosisContext,
  Facts,
  Finding,
  LoadBalancerModule,
  Manifest,
  Pending,
  PendingReason,
  StepContext,
  StepPart,
} from './types.js'

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

// The Service condition LB-IPAM writes (operator/pkg/lbipam/lbipam.go); older releases used the second type.
const CONDITION_TYPES = ['cilium.io/IPAMRequestSatisfied', 'io.cilium/lb-ipam-request-satisfied']

/** Condition reasons (lbipam.go) by code; a requested IP outside every pool also reads `no_pool`. */
function codeFor(reason: string, message: string): PendingReason {
  if (reason === 'out_of_ips') return 'cilium-pool-exhausted'
  if (reason.startsWith('already_allocated') || message.startsWith('No pool exists with a CIDR containing'))
    return 'cilium-ip-unavailable'
  return 'cilium-no-pool'
}

const FIXES: Record<string, string> = {
  'cilium-no-pool':
    'add a CiliumLoadBalancerIPPool whose serviceSelector matches this Service (none selects all), or enable the disabled one',
  'cilium-pool-exhausted': 'add a block of addresses to a matching CiliumLoadBalancerIPPool, or free addresses',
  'cilium-ip-unavailable':
    'request an address inside a pool that selects this Service and is not in use (or share it with lbipam.cilium.io/sharing-key on both Services), or drop the request',
}

function diagnose(svc: Service, ctx: DiagnosisContext): Pending | undefined {
  if (svc.loadBalancerIngress.length > 0) return undefined
  const condition = svc.conditions?.find((c) => CONDITION_TYPES.includes(c.type) && c.status === 'False')
  if (condition !== undefined) {
    const code = codeFor(condition.reason ?? '', condition.message ?? '')
    return {
      reason: code,
      message: `Cilium LB-IPAM says: ${condition.message ?? condition.reason ?? 'request not satisfied'}`,
      fix: FIXES[code] ?? '',
      evidence: [
        `status.conditions ${condition.type}: ${condition.status}, reason ${condition.reason ?? ''}: ${condition.message ?? ''}`,
      ],
    }
  }
  if (!ctx.detected('cilium')) return undefined
  const down = controllerDown(
    ctx.facts.signals.workloads.filter((w) => w.kind === 'Deployment' && w.name === 'cilium-operator'),
    'Cilium',
    'kube-system',
  )
  if (down !== undefined) return down
  const pools = ctx.facts.signals.customObjectCounts[COUNT_KEYS.ciliumPools]
  // "LB IPAM is always enabled but dormant ... awoken when the first IP Pool is added": no pool, no condition.
  if (pools === 0 && (svc.loadBalancerClass === undefined || svc.loadBalancerClass.startsWith('io.cilium/'))) {
    return {
      reason: 'cilium-no-pool',
      message:
        'Cilium is installed but has no enabled CiliumLoadBalancerIPPool, so LB-IPAM stays dormant and sets no condition',
      fix: FIXES['cilium-no-pool'] ?? '',
      evidence: ['ciliumloadbalancerippools.cilium.io: none enabled'],
    }
  }
  return undefined
}

export const cilium: LoadBalancerModule = {
  name: 'cilium',
  display: 'Cilium LB-IPAM',
  detect,
  diagnose,
  // lb-ipam.rst and lbipam.go isResponsibleForSVC; io.cilium/node is Node IPAM.
  classes: ['io.cilium/bgp-control-plane', 'io.cilium/l2-announcer', 'io.cilium/node'],
  steps: {'cilium-lb-ipam': ciliumLbIpamStep},
}
