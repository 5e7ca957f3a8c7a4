// API objects (plain JSON as the API server sends it) to the slim domain types. Pure and defensive: a field of the
// wrong shape is treated as absent, so one odd object never stops the rest from being planned.
import type {
  Condition,
  EndpointSlice,
  IPFamily,
  LoadBalancerIngress,
  Node,
  Protocol,
  Service,
  ServicePort,
  ServiceType,
  Taint,
  Workload,
} from '../plan/types.js'
import {arr, num, obj, str, strMap, type Json} from './json.js'
import {fitted} from '../fitted.js'

const SERVICE_TYPES: readonly ServiceType[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']
const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP']

function toPort(raw: unknown): ServicePort | undefined {
  const p = obj(raw)
  const port = num(p.port)
  if (!port) return undefined
  const protocol = PROTOCOLS.find((x) => x === p.protocol) ?? 'TCP'
  const name = str(p.name)
  const nodePort = num(p.nodePort)
  const appProtocol = str(p.appProtocol)
  // A plain property first: a leading spread gives each port a hidden class of its own on Node 20 (src/fitted.ts).
  return {
    port,
    protocol,
    ...(name ? {name} : {}),
    ...(nodePort ? {nodePort} : {}),
    ...(appProtocol ? {appProtocol} : {}),
  }
}

/** A core/v1 Service as the slim type; `type` defaults to ClusterIP and port protocols to TCP, as the API does. */
export function toService(raw: unknown): Service {
  const o = obj(raw)
  const meta = obj(o.metadata)
  const spec = obj(o.spec)
  const status = obj(obj(o.status).loadBalancer)
  const type = SERVICE_TYPES.find((t) => t === spec.type) ?? 'ClusterIP'
  const ingress = arr(status.ingress).map((i): LoadBalancerIngress => {
    const e = obj(i)
    const ip = str(e.ip)
    const hostname = str(e.hostname)
    const ipMode = str(e.ipMode)
    // Every field may be missing, so no plain property can come first: onto a new object (src/fitted.ts).
    return Object.assign({}, ip ? {ip} : {}, hostname ? {hostname} : {}, ipMode ? {ipMode} : {})
  })
  const selector = spec.selector === undefined || spec.selector === null ? undefined : strMap(spec.selector)
  const clusterIP = str(spec.clusterIP)
  const externalName = str(spec.externalName)
  const healthCheckNodePort = num(spec.healthCheckNodePort)
  const lbClass = str(spec.loadBalancerClass)
  return {
    namespace: str(meta.namespace) ?? 'default',
    name: str(meta.name) ?? '',
    type,
    ...(clusterIP ? {clusterIP} : {}),
    externalIPs: fitted(arr(spec.externalIPs).filter((x): x is string => typeof x === 'string')),
    ...(externalName ? {externalName} : {}),
    ports: fitted(arr(spec.ports).flatMap((p) => toPort(p) ?? [])),
    ipFamilies: fitted(arr(spec.ipFamilies).filter((f): f is IPFamily => f === 'IPv4' || f === 'IPv6')),
    externalTrafficPolicy: spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
    ...(healthCheckNodePort ? {healthCheckNodePort} : {}),
    ...(typeof spec.allocateLoadBalancerNodePorts === 'boolean'
      ? {allocateLoadBalancerNodePorts: spec.allocateLoadBalancerNodePorts}
      : {}),
    ...(lbClass ? {loadBalancerClass: lbClass} : {}),
    loadBalancerIngress: fitted(ingress),
    annotations: strMap(meta.annotations),
    labels: strMap(meta.labels),
    ...(selector && Object.keys(selector).length > 0 ? {selector} : {}),
    ...(str(spec.loadBalancerIP) ? {loadBalancerIP: str(spec.loadBalancerIP)} : {}),
    ...conditionsOf(obj(o.status).conditions),
  }
}

/** status.conditions with a type and status, as `{conditions}` when there is any. */
function conditionsOf(raw: unknown): {conditions?: Condition[]} {
  const conditions = arr(raw).flatMap((c): Condition[] => {
    const type = str(obj(c).type)
    const status = str(obj(c).status)
    if (!type || !status) return []
    const reason = str(obj(c).reason)
    const message = str(obj(c).message)
    return [{type, status, ...(reason ? {reason} : {}), ...(message ? {message} : {})}]
  })
  return conditions.length > 0 ? {conditions} : {}
}

/** A core/v1 Node as the slim type. */
export function toNode(raw: unknown): Node {
  const o = obj(raw)
  const meta = obj(o.metadata)
  const spec = obj(o.spec)
  const status = obj(o.status)
  const ready = arr(status.conditions).some((c) => obj(c).type === 'Ready' && obj(c).status === 'True')
  const info = obj(status.nodeInfo)
  const providerID = str(spec.providerID)
  const osImage = str(info.osImage)
  const kubeletVersion = str(info.kubeletVersion)
  return {
    name: str(meta.name) ?? '',
    labels: strMap(meta.labels),
    annotations: strMap(meta.annotations),
    addresses: fitted(
      arr(status.addresses).flatMap((a) => {
        const type = str(obj(a).type)
        const address = str(obj(a).address)
        return type && address ? [{type, address}] : []
      }),
    ),
    ready,
    deleting: meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    taints: arr(spec.taints).flatMap((t): Taint[] => {
      const key = str(obj(t).key)
      if (!key) return []
      const value = str(obj(t).value)
      const effect = str(obj(t).effect)
      return [{key, ...(value ? {value} : {}), ...(effect ? {effect} : {})}]
    }),
    unschedulable: spec.unschedulable === true,
    ...(providerID ? {providerID} : {}),
    ...(osImage ? {osImage} : {}),
    ...(kubeletVersion ? {kubeletVersion} : {}),
  }
}

/** A discovery/v1 EndpointSlice as the slim type; `ready` nil means ready (discovery/v1 EndpointConditions). */
export function toEndpointSlice(raw: unknown): EndpointSlice {
  const o = obj(raw)
  const meta = obj(o.metadata)
  return {
    namespace: str(meta.namespace) ?? 'default',
    name: str(meta.name) ?? '',
    serviceName: strMap(meta.labels)['kubernetes.io/service-name'] ?? '',
    endpoints: arr(o.endpoints).map((e) => {
      const ep = obj(e)
      const nodeName = str(ep.nodeName)
      const ref = obj(ep.targetRef)
      const pod = ref.kind === 'Pod' ? str(ref.name) : undefined
      return {
        ready: obj(ep.conditions).ready !== false,
        addresses: fitted(arr(ep.addresses).filter((a): a is string => typeof a === 'string')),
        ...(nodeName ? {nodeName} : {}),
        ...(obj(ep.conditions).terminating === true ? {terminating: true} : {}),
        ...(pod ? {pod} : {}),
      }
    }),
    ports: fitted(
      arr(o.ports).flatMap((raw) => {
        const p = obj(raw)
        const port = num(p.port)
        if (!port) return []
        const name = str(p.name)
        return [{port, protocol: PROTOCOLS.find((x) => x === p.protocol) ?? 'TCP', ...(name ? {name} : {})}]
      }),
    ),
  }
}

/** A DaemonSet, Deployment or Pod as a workload: labels, images and literal env values of its containers. */
export function toWorkload(kind: Workload['kind'], raw: unknown): Workload {
  const o = obj(raw)
  const meta = obj(o.metadata)
  const podSpec = kind === 'Pod' ? obj(o.spec) : obj(obj(obj(o.spec).template).spec)
  const containers = [...arr(podSpec.containers), ...arr(podSpec.initContainers)].map(obj)
  const env: Record<string, string> = {}
  for (const c of containers) {
    for (const e of arr(c.env).map(obj)) {
      const name = str(e.name)
      if (name && typeof e.value === 'string') env[name] = e.value
    }
  }
  const pods = podCounts(kind, o)
  return {
    kind,
    namespace: str(meta.namespace) ?? 'default',
    name: str(meta.name) ?? '',
    labels: strMap(meta.labels),
    images: containers.flatMap((c) => str(c.image) ?? []),
    env,
    ...(pods ? {pods} : {}),
  }
}

/** Pods wanted and ready from a workload's status (apps/v1 DeploymentStatus, DaemonSetStatus; a Pod's Ready). */
function podCounts(kind: Workload['kind'], o: Json): Workload['pods'] {
  const status = obj(o.status)
  const count = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined)
  if (kind === 'Pod') {
    if (status.conditions === undefined) return undefined
    const ready = arr(status.conditions).some((c) => obj(c).type === 'Ready' && obj(c).status === 'True')
    return {desired: 1, ready: ready ? 1 : 0}
  }
  const desired = kind === 'DaemonSet' ? count(status.desiredNumberScheduled) : count(obj(o.spec).replicas)
  if (desired === undefined) return undefined
  const ready = count(kind === 'DaemonSet' ? status.numberReady : status.readyReplicas) ?? 0
  return {desired, ready}
}
