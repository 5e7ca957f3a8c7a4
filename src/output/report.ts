// The ExposureReport: `list -o json|yaml` prints it as is, and users script against it, so its shape is a
// contract (apiVersion expose-lb/v1). Pure.
import type {
  Detection,
  Exposure,
  NodeAddress,
  Plan,
  PodEndpoint,
  PortMode,
  PortPath,
  Protocol,
  ServiceType,
} from '../plan/types.js'
import {hostPort} from '../net/address.js'
import type {Pending} from '../lb/types.js'

export interface ExposureReport {
  apiVersion: 'expose-lb/v1'
  kind: 'ExposureReport'
  context: string
  server: string
  domain: string
  nodes: Array<{name: string; ready: boolean; addresses: NodeAddress[]; eligible: boolean; reason?: string}>
  loadBalancer: {
    detected: Array<{name: string; evidence: string[]}>
    recommendation: {name: string; reason: string}
  }
  services: Array<{
    /** Only in a several-cluster report (src/output/clusters.ts). */
    cluster?: string
    namespace: string
    name: string
    type: ServiceType
    exposure: Exposure
    names: string[]
    loadBalancerIngress: string[]
    ports: Array<{
      name?: string
      port: number
      protocol: Protocol
      nodePort?: number
      appProtocol?: string
      mode: PortMode
      targets: string[]
      /** `node`, `api-server`, `lb` or `none` (src/plan/paths.ts); `pathNote` says why `none`. */
      path?: PortPath
      pathNote?: string
      /** Endpoint Pods the API server reaches (the path itself, or a node path's fallback). */
      endpoints?: PodEndpoint[]
    }>
    warnings: string[]
    /** Why a LoadBalancer Service has no address (or one nobody announces); only on such Services. */
    pending?: Pending
  }>
  warnings: string[]
}

/** Puts the plan and the detection result into the report shape. */
export function buildReport(input: {
  context: string
  server: string
  plan: Plan
  detection: Detection
  /** Diagnoses by `namespace/name` (src/lb/diagnose.ts). */
  pending?: ReadonlyMap<string, Pending>
}): ExposureReport {
  const {plan, detection} = input
  return {
    apiVersion: 'expose-lb/v1',
    kind: 'ExposureReport',
    context: input.context,
    server: input.server,
    domain: plan.domain,
    nodes: plan.nodes.map((n) => ({
      name: n.name,
      ready: n.ready,
      addresses: n.addresses,
      eligible: n.eligible,
      ...(n.reason ? {reason: n.reason} : {}),
    })),
    loadBalancer: {
      detected: detection.detected.map((d) => ({name: d.name, evidence: d.evidence})),
      recommendation: detection.recommendation,
    },
    services: plan.services.map((s) => ({
      namespace: s.namespace,
      name: s.name,
      type: s.type,
      exposure: s.exposure,
      names: s.names,
      loadBalancerIngress: s.loadBalancerIngress,
      ports: s.ports.map((p) => ({
        ...(p.name ? {name: p.name} : {}),
        port: p.port,
        protocol: p.protocol,
        ...(p.nodePort ? {nodePort: p.nodePort} : {}),
        ...(p.appProtocol ? {appProtocol: p.appProtocol} : {}),
        mode: p.mode,
        targets: p.targets.map((t) => hostPort(t.address, t.port)),
        ...(p.path ? {path: p.path} : {}),
        ...(p.pathNote ? {pathNote: p.pathNote} : {}),
        ...(p.endpoints ? {endpoints: p.endpoints} : {}),
      })),
      warnings: s.warnings,
      ...pendingOf(input.pending, s),
    })),
    warnings: [...plan.warnings, ...detection.warnings],
  }
}

function pendingOf(pending: ReadonlyMap<string, Pending> | undefined, s: {namespace: string; name: string}) {
  const found = pending?.get(`${s.namespace}/${s.name}`)
  return found === undefined ? {} : {pending: found}
}
