/**
 * kube-vip and kube-vip-cloud-provider: how they show in the API, and the step that finishes them. Sources:
 * kube-vip/kube-vip `pkg/kubevip/config_generator.go` (svc_enable), kube-vip/kube-vip-cloud-provider
 * `manifest/kube-vip-cloud-controller.yaml` and `pkg/provider/loadBalancer.go` (the kubevip ConfigMap).
 */
import type {Workload} from '../plan/types.js'
import {CONFIG_MAP_KEYS, describe, servicesWith, summarize} from './evidence.js'
import {capitalize, rangeText} from './step-text.js'
import type {Action, Facts, Finding, LoadBalancerModule, StepContext, StepPart} from './types.js'

const KUBE_VIP_IMAGE = /(^|\/)kube-vip\/kube-vip([:@]|$)/
const KUBE_VIP_CLOUD_PROVIDER_IMAGE = /(^|\/)kube-vip\/kube-vip-cloud-provider([:@]|$)/

export function isKubeVipCloudProvider(w: Workload): boolean {
  return (
    w.name === 'kube-vip-cloud-provider' ||
    w.labels.component === 'kube-vip-cloud-provider' ||
    w.images.some((image) => KUBE_VIP_CLOUD_PROVIDER_IMAGE.test(image))
  )
}

export function isKubeVip(w: Workload): boolean {
  if (isKubeVipCloudProvider(w)) return false
  return (
    w.name === 'kube-vip-ds' ||
    w.labels['app.kubernetes.io/name'] === 'kube-vip-ds' ||
    (w.kind === 'Pod' && (w.name === 'kube-vip' || w.name.startsWith('kube-vip-'))) || // static pod kube-vip-<node>
    w.images.some((image) => KUBE_VIP_IMAGE.test(image))
  )
}

// kube-vip reads svc_enable with strconv.ParseBool.
const PARSE_BOOL_TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True'])

export function servesServices(w: Workload): boolean {
  return PARSE_BOOL_TRUE.has(w.env.svc_enable ?? '')
}

function detect({services, signals}: Facts): Finding | undefined {
  const vips = signals.workloads.filter(isKubeVip)
  const forServices = vips.filter(servesServices)
  const ranges = signals.configMaps[CONFIG_MAP_KEYS.kubeVip]
  const rangeKeys = Object.keys(ranges ?? {}).filter((key) => key.startsWith('cidr-') || key.startsWith('range-'))
  // kube-vip-cloud-provider labels the Services it gives an address.
  const marked = servicesWith(services, (svc) =>
    svc.labels.implementation === 'kube-vip' ? 'label implementation=kube-vip' : undefined,
  )
  const evidence = [
    ...vips.map(
      (w) => `${describe(w)}${forServices.includes(w) ? ` has env svc_enable=${w.env.svc_enable ?? ''}` : ''}`,
    ),
    ...signals.workloads.filter(isKubeVipCloudProvider).map(describe),
    ...(ranges === undefined
      ? []
      : [`ConfigMap ${CONFIG_MAP_KEYS.kubeVip}${rangeKeys.length > 0 ? ` with ${rangeKeys.join(', ')}` : ''}`]),
    ...summarize(marked.map(({svc, mark}) => `Service ${svc.namespace}/${svc.name} has ${mark}`)),
  ]
  if (evidence.length === 0) return undefined
  const lb = {name: 'kube-vip' as const, evidence, serving: forServices.length > 0}
  if (lb.serving) return {lb}
  const reason =
    vips.length > 0
      ? 'kube-vip is installed but does not serve Services (no `svc_enable=true` in its env): set it'
      : 'kube-vip-cloud-provider is there but no kube-vip with `svc_enable=true` was found: deploy kube-vip with it'
  return {lb, finish: {name: 'kube-vip', reason}}
}

function kubeVipStep(ctx: StepContext): StepPart {
  const actions: Action[] = [{text: capitalize(ctx.reason), commands: []}]
  const daemonSet = ctx.snapshot.signals.workloads.find(
    (w) => w.kind === 'DaemonSet' && w.name.startsWith('kube-vip') && !w.name.includes('cloud-provider'),
  )
  if (daemonSet !== undefined && daemonSet.env.svc_enable === undefined) {
    actions.push({
      text: `Set it on DaemonSet ${daemonSet.namespace}/${daemonSet.name}`,
      commands: [
        `${ctx.options.kubectl} -n ${daemonSet.namespace} set env daemonset/${daemonSet.name} svc_enable=true`,
      ],
    })
  }
  const usesRange = ctx.snapshot.signals.configMaps[CONFIG_MAP_KEYS.kubeVip] === undefined
  if (usesRange) {
    const [namespace, name] = CONFIG_MAP_KEYS.kubeVip.split('/')
    actions.push({
      text: 'Give kube-vip-cloud-provider addresses to hand out',
      commands: [
        `${ctx.options.kubectl} create configmap --namespace ${namespace} ${name} --from-literal range-global=${rangeText(ctx.range)}`,
      ],
    })
  }
  return {title: 'finish configuring kube-vip', actions, usesRange}
}

export const kubeVip: LoadBalancerModule = {
  name: 'kube-vip',
  display: 'kube-vip',
  detect,
  steps: {'kube-vip': kubeVipStep},
}
