/**
 * Why each LoadBalancer Service is pending (or has an address nobody announces): the modules' own evidence first,
 * then a Warning event from any controller (covering implementations this tool does not know), then what the
 * detection says. Pure. Evidence is what the cluster holds, quoted; where it holds nothing the message says so.
 */
import {NIL_CLASS} from './index.js'
import type {Detection, DetectionSignals, DetectorName, Node, Service} from '../plan/types.js'
import {detectDistro} from './distro.js'
import {eventLine, latestWarning} from './diagnosis-text.js'
import {LOAD_BALANCERS} from './index.js'
import type {ClusterEvent, DiagnosisContext, Pending, PendingSignals} from './types.js'

/** What the diagnosis reads: the snapshot's parts, detection's result and the pending signals. */
export interface DiagnosisInput {
  /** Every Service the reads could see: another Service may be the evidence (the one holding a port). */
  services: Service[]
  /** The Services to diagnose (those of one namespace); all of `services` when undefined. */
  only?: Service[]

  nodes: Node[]
  signals: DetectionSignals
  detection: Detection
  pending: PendingSignals
}

/** `namespace/name`, the key of `diagnoseServices`' result. */
export function serviceKey(svc: {namespace: string; name: string}): string {
  return `${svc.namespace}/${svc.name}`
}

/** The LoadBalancer Services the diagnosis is for: those without an address, and those MetalLB marked as its own. */
export function needsDiagnosis(svc: Service): boolean {
  if (svc.type !== 'LoadBalancer') return false
  if (svc.loadBalancerIngress.length === 0) return true
  return Object.keys(svc.annotations).some((key) => key.endsWith('/ip-allocated-from-pool'))
}

/** A diagnosis per Service that needs one and has one, by `namespace/name`. */
export function diagnoseServices(input: DiagnosisInput): Map<string, Pending> {
  const facts = {
    nodes: input.nodes,
    services: input.services,
    signals: input.signals,
    distro: detectDistro(input.nodes),
  }
  const detected = new Set(input.detection.detected.map((lb) => lb.name))
  const serving = input.detection.detected.filter((lb) => lb.serving && NIL_CLASS.has(lb.name)).map((lb) => lb.name)
  const result = new Map<string, Pending>()
  for (const svc of input.only ?? input.services) {
    if (!needsDiagnosis(svc)) continue
    const ctx: DiagnosisContext = {
      facts,
      detection: input.detection,
      pending: input.pending,
      events: eventsAbout(svc, input.pending.events),
      detected: (name) => detected.has(name),
      othersServing: (name) => serving.filter((other) => other !== name),
    }
    const pending = diagnose(svc, ctx, serving)
    if (pending === undefined) continue
    const unavailable = input.pending.unavailable
    result.set(serviceKey(svc), unavailable.length > 0 ? {...pending, unavailable} : pending)
  }
  return result
}

function eventsAbout(svc: Service, events: ClusterEvent[]): ClusterEvent[] {
  return events
    .filter(
      (e) => e.regarding.kind === 'Service' && e.regarding.namespace === svc.namespace && e.regarding.name === svc.name,
    )
    .sort((a, b) => (a.lastSeen ?? '').localeCompare(b.lastSeen ?? ''))
}

function diagnose(svc: Service, ctx: DiagnosisContext, serving: DetectorName[]): Pending | undefined {
  const ready = svc.loadBalancerIngress.length > 0
  const cls = svc.loadBalancerClass
  const claimers =
    cls === undefined ? [] : LOAD_BALANCERS.filter((lb) => lb.classes?.includes(cls) && ctx.detected(lb.name))
  const modules = cls === undefined ? LOAD_BALANCERS : claimers
  for (const lb of modules) {
    const found = lb.diagnose?.(svc, ctx)
    if (found !== undefined) return found
  }
  if (ready) return undefined

  const warning = latestWarning(ctx)
  if (warning !== undefined) {
    return {
      reason: 'event',
      message: `${warning.source} reported ${warning.reason}: ${warning.message}`,
      fix: `act on that message; \`kubectl -n ${svc.namespace} describe service ${svc.name}\` shows the events in order`,
      evidence: [eventLine(warning)],
    }
  }
  const unread = ctx.pending.unavailable.some((u) => u.includes('events'))
  const noEvents = unread ? 'its events could not be read' : 'no events about it'
  if (cls !== undefined && claimers.length === 0) {
    const metallb = ctx.detected('metallb')
      ? ', unless MetalLB runs with `--lb-class=' + cls + '` (its flags are not in the API)'
      : ''
    return {
      reason: 'class-not-served',
      message: `spec.loadBalancerClass is ${cls}, and no load balancer found here takes that class${metallb}; the default ones ignore a Service with a class`,
      fix: `install and run the controller for ${cls}, or recreate the Service without spec.loadBalancerClass (it cannot be changed once set)`,
      evidence: [`spec.loadBalancerClass: ${cls}`, detectedLine(ctx), noEvents],
    }
  }
  if (serving.length === 0) {
    const rec = ctx.detection.recommendation.reason
    return {
      reason: 'no-implementation',
      message: `no load balancer that takes this Service runs in the cluster, and ${noEvents}`,
      fix: `${rec} (\`kubectl expose-lb recommend\` prints the steps); meanwhile \`kubectl expose-lb serve\` reaches it through its NodePorts`,
      evidence: [detectedLine(ctx), 'status.loadBalancer: {}', noEvents],
    }
  }
  const names = serving.join(', ')
  return {
    reason: 'unknown',
    message: `${names} should take this Service, but nothing in the cluster says why it has no address (${noEvents}, no conditions)`,
    fix: `read the logs of ${names}'s controller; events expire after an hour, so \`kubectl -n ${svc.namespace} describe service ${svc.name}\` right after a change may show more`,
    evidence: [detectedLine(ctx), 'status.loadBalancer: {}', noEvents],
  }
}

function detectedLine(ctx: DiagnosisContext): string {
  const found = ctx.detection.detected.map((lb) => `${lb.name}${lb.serving ? '' : ' (not serving)'}`)
  return `load balancers detected: ${found.length > 0 ? found.join(', ') : 'none'}`
}
