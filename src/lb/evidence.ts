/**
 * Helpers the load-balancer modules share to word evidence and read signals. Pure.
 */
import type {DetectionSignals, Service, Workload} from '../plan/types.js'

/**
 * The keys of `signals.customObjectCounts`, as `<resource>.<group>`. The kube layer lists exactly these,
 * cluster-wide, and stores how many objects each list returned (0 for an empty list). It leaves a key out when the
 * resource does not exist or the list failed, naming a failed read in `signals.unavailable`; detection then treats
 * the count as unknown. CiliumLoadBalancerIPPools with `spec.disabled: true` are not counted.
 */
export const COUNT_KEYS = {
  metallbPools: 'ipaddresspools.metallb.io',
  metallbL2Advertisements: 'l2advertisements.metallb.io',
  metallbBgpAdvertisements: 'bgpadvertisements.metallb.io',
  ciliumPools: 'ciliumloadbalancerippools.cilium.io',
  ciliumL2Policies: 'ciliuml2announcementpolicies.cilium.io',
  openelbEips: 'eips.network.kubesphere.io',
  purelbServiceGroups: 'servicegroups.purelb.io',
} as const

/** The keys of `signals.configMaps` (`namespace/name`); the kube layer gets each with its data when it exists. */
export const CONFIG_MAP_KEYS = {
  /** MetalLB before v0.13 (and minikube's addon): key `config` holds YAML with `address-pools:`. */
  metallbLegacy: 'metallb-system/config',
  /** kube-vip-cloud-provider's address ranges (`cidr-global`, `range-<namespace>`, …). */
  kubeVip: 'kube-system/kubevip',
} as const

export function describe(w: Workload): string {
  return `${w.kind} ${w.namespace}/${w.name}`
}

export function apiGroup(signals: DetectionSignals, group: string): string[] {
  return signals.apiGroups.includes(group) ? [`API group ${group}`] : []
}

export function count(signals: DetectionSignals, key: string): number {
  return signals.customObjectCounts[key] ?? 0
}

export type CountedKind = [key: string, kind: string, options?: {plural?: string; hideZero?: boolean}]

/**
 * `evidence` plus a line such as "2 IPAddressPools, 1 L2Advertisement", or undefined when nothing shows the
 * implementation. Counts alone show it only when one is above zero: the kube layer may store zeros for absent kinds.
 */
export function countEvidence(
  signals: DetectionSignals,
  evidence: string[],
  kinds: CountedKind[],
): string[] | undefined {
  const known = kinds.filter(([key]) => Object.hasOwn(signals.customObjectCounts, key))
  if (evidence.length === 0 && !known.some(([key]) => count(signals, key) > 0)) return undefined
  const line = known
    .filter(([key, , options]) => !(options?.hideZero === true && count(signals, key) === 0))
    .map(([key, kind, options]) => {
      const n = count(signals, key)
      return `${n} ${n === 1 ? kind : (options?.plural ?? `${kind}s`)}`
    })
    .join(', ')
  return line === '' ? evidence : [...evidence, line]
}

/** LoadBalancer Services for which `mark` returns what was seen on them, in input order. */
export function servicesWith(
  services: Service[],
  mark: (svc: Service) => string | undefined,
): Array<{svc: Service; mark: string}> {
  return services.flatMap((svc) => {
    if (svc.type !== 'LoadBalancer') return []
    const seen = mark(svc)
    return seen === undefined ? [] : [{svc, mark: seen}]
  })
}

/** The first line, counting the rest: evidence stays short on clusters with many Services. */
export function summarize(lines: string[]): string[] {
  const [first, ...rest] = lines
  if (first === undefined) return []
  return [rest.length === 0 ? first : `${first} (and ${rest.length} more)`]
}

/** A Service another implementation marked as its own, whatever addresses it got. */
export function markedByOthers(svc: Service): boolean {
  return (
    Object.keys(svc.annotations).some(
      (key) => key.endsWith('/ip-allocated-from-pool') || key === 'purelb.io/allocated-by',
    ) || svc.labels.implementation === 'kube-vip'
  )
}
