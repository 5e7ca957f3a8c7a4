/**
 * PureLB: how it shows in the API. Sources: purelb/purelb `pkg/apis/purelb/v2/*.go`, `internal/allocator/*.go`.
 */
import {apiGroup, count, COUNT_KEYS, countEvidence, describe, servicesWith, summarize} from './evidence.js'
import {finishStep} from './step-text.js'
import type {Service} from '../plan/types.js'
import {controllerDown} from './diagnosis-text.js'
import type {DiagnosisContext, Facts, Finding, LoadBalancerModule, Pending} from './types.js'

function detect({services, signals}: Facts): Finding | undefined {
  const workloads = signals.workloads.filter(
    (w) =>
      w.labels.app === 'purelb' ||
      ((w.namespace === 'purelb-system' || w.namespace === 'purelb') && ['allocator', 'lbnodeagent'].includes(w.name)),
  )
  const allocated = servicesWith(services, (svc) =>
    'purelb.io/allocated-by' in svc.annotations ? 'purelb.io/allocated-by' : undefined,
  )
  const evidence = countEvidence(
    signals,
    [
      ...apiGroup(signals, 'purelb.io'),
      ...workloads.map(describe),
      ...summarize(allocated.map(({svc, mark}) => `Service ${svc.namespace}/${svc.name} has annotation ${mark}`)),
    ],
    [[COUNT_KEYS.purelbServiceGroups, 'ServiceGroup']],
  )
  if (evidence === undefined) return undefined
  const serving = count(signals, COUNT_KEYS.purelbServiceGroups) > 0
  const lb = {name: 'purelb' as const, evidence, serving}
  if (serving) return {lb}
  return {lb, finish: {name: 'purelb', reason: 'PureLB is installed but has no ServiceGroup: add one'}}
}

function diagnose(svc: Service, ctx: DiagnosisContext): Pending | undefined {
  if (svc.loadBalancerIngress.length > 0 || !ctx.detected('purelb')) return undefined
  return controllerDown(
    ctx.facts.signals.workloads.filter((w) => w.kind === 'Deployment' && w.name === 'allocator'),
    'PureLB',
    'purelb-system',
  )
}

export const pureLb: LoadBalancerModule = {
  name: 'purelb',
  display: 'PureLB',
  detect,
  diagnose,
  // pkg/apis/purelb/v2/classes.go (v1 used purelb.io/purelb).
  classes: ['purelb.io/purelbv2', 'purelb.io/purelb'],
  steps: {purelb: (ctx) => finishStep(ctx, 'PureLB')},
}
