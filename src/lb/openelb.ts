/**
 * OpenELB: how it shows in the API. Sources: openelb/openelb `pkg/constant/constant.go`,
 * `pkg/controllers/lb/controller.go` (it takes only Services annotated `lb.kubesphere.io/v1alpha1: openelb`).
 */
import {apiGroup, count, COUNT_KEYS, countEvidence, describe} from './evidence.js'
import {finishStep} from './step-text.js'
import type {Service} from '../plan/types.js'
import {controllerDown} from './diagnosis-text.js'
import type {DiagnosisContext, Facts, Finding, LoadBalancerModule, Pending} from './types.js'

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

// OpenELB takes a Service only with this annotation, or once it labelled it (pkg/constant/constant.go).
const ANNOTATION = 'lb.kubesphere.io/v1alpha1'
const LABEL = 'eip.openelb.kubesphere.io/v1alpha2'

function diagnose(svc: Service, ctx: DiagnosisContext): Pending | undefined {
  if (svc.loadBalancerIngress.length > 0 || !ctx.detected('openelb')) return undefined
  const controllers = ctx.facts.signals.workloads.filter(
    (w) => w.kind === 'Deployment' && ['openelb-controller', 'openelb-manager'].includes(w.name),
  )
  const down = controllerDown(controllers, 'OpenELB', 'openelb-system')
  if (down !== undefined) return down
  if (svc.annotations[ANNOTATION] === 'openelb' || LABEL in svc.labels) return undefined
  if (ctx.othersServing('openelb').length > 0) return undefined
  return {
    reason: 'no-implementation',
    message: `OpenELB is the only load balancer here and it ignores Services without the annotation ${ANNOTATION}: openelb`,
    fix: `annotate the Service: \`kubectl -n ${svc.namespace} annotate service ${svc.name} ${ANNOTATION}=openelb\``,
    evidence: [`annotation ${ANNOTATION}: ${svc.annotations[ANNOTATION] ?? '(not set)'}`],
  }
}

export const openElb: LoadBalancerModule = {
  name: 'openelb',
  display: 'OpenELB',
  detect,
  diagnose,
  steps: {openelb: (ctx) => finishStep(ctx, 'OpenELB')},
}
