/**
 * OpenELB: how it shows in the API. Sources: openelb/openelb `pkg/constant/constant.go`,
 * `pkg/controllers/lb/controller.go` (it takes only Services annotated `lb.kubesphere.io/v1alpha1: openelb`).
 */
import {apiGroup, count, COUNT_KEYS, countEvidence, describe} from './evidence.js'
import {finishStep} from './step-text.js'
import type {Facts, Finding, LoadBalancerModule} from './types.js'

function detect({signals}: Facts): Finding | undefined {
  const workloads = signals.workloads.filter(
    (w) =>
      w.labels.app === 'openelb' ||
      w.namespace === 'openelb-system' ||
      ['openelb-controller', 'openelb-speaker', 'openelb-manager'].includes(w.name),
  )
  const evidence = countEvidence(
    signals,
    [...apiGroup(signals, 'network.kubesphere.io'), ...workloads.map(describe)],
    [[COUNT_KEYS.openelbEips, 'Eip']],
  )
  if (evidence === undefined) return undefined
  const serving = count(signals, COUNT_KEYS.openelbEips) > 0
  const lb = {name: 'openelb' as const, evidence, serving}
  if (serving) return {lb}
  return {
    lb,
    finish: {
      name: 'openelb',
      reason:
        'OpenELB is installed but has no Eip: add one, and annotate Services with `lb.kubesphere.io/v1alpha1: openelb`',
    },
  }
}

export const openElb: LoadBalancerModule = {
  name: 'openelb',
  display: 'OpenELB',
  detect,
  steps: {openelb: (ctx) => finishStep(ctx, 'OpenELB')},
}
