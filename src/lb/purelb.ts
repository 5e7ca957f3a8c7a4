/**
 * PureLB: how it shows in the API. Sources: purelb/purelb `pkg/apis/purelb/v2/*.go`, `internal/allocator/*.go`.
 */
import {apiGroup, count, COUNT_KEYS, countEvidence, describe, servicesWith, summarize} from './evidence.js'
import {finishStep} from './step-text.js'
import type {Facts, Finding, LoadBalancerModule} from './types.js'

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

export const pureLb: LoadBalancerModule = {
  name: 'purelb',
  display: 'PureLB',
  detect,
  steps: {purelb: (ctx) => finishStep(ctx, 'PureLB')},
}
