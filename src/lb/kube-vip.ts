/**
 * kube-vip and kube-vip-cloud-provider: how they show in the API, and the step that finishes them. Sources:
 * kube-vip/kube-vip `pkg/kubevip/config_generator.go` (svc_enable), kube-vip/kube-vip-cloud-provider
 * `manifest/kube-vip-cloud-controller.yaml` and `pkg/provider/loadBalancer.go` (the kubevip ConfigMap).
 */
import type {Service, Workload} from '../plan/types.js'
import {controllerDown, eventLine, latestWarning} from './diagnosis-text.js'
import {CONFIG_MAP_KEYS, describe, servicesWith, summarize} from './evidence.js'
import {capitalize, rangeText} from './step-text.js'
import type {
  Action,
  DiagnosisContext,
  Facts,
  Finding,
  LoadBalancerModule,
  Pending,
  StepContext,
  StepPart,
} from './types.js'

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

// EnsureLoadBalancer's errors when no cidr-/range- key fits (pkg/provider/loadBalancer.go; the second is pre-2022).
const NO_RANGE = ['no address pools could be found', 'no IP address ranges could be found']

function diagnose(svc: Service, ctx: DiagnosisContext): Pending | undefined {
  if (svc.loadBalancerIngress.length > 0) return undefined
  const keys = [`cidr-${svc.namespace}`, `range-${svc.namespace}`, 'cidr-global', 'range-global']
  const fix = `add \`range-global\` (or \`range-${svc.namespace}\`, \`cidr-…\`) with free addresses to ConfigMap ${CONFIG_MAP_KEYS.kubeVip}`
  const warning = latestWarning(ctx)
  if (warning !== undefined && NO_RANGE.some((text) => warning.message.includes(text))) {
    return {
      reason: 'kube-vip-no-range',
      message: `kube-vip-cloud-provider found no address range for namespace ${svc.namespace}`,
      fix,
      evidence: [eventLine(warning), ...configMapEvidence(ctx)],
    }
  }
  const cloudProviders = ctx.facts.signals.workloads.filter(isKubeVipCloudProvider)
  if (cloudProviders.length === 0) return undefined
  const down = controllerDown(cloudProviders, 'kube-vip-cloud-provider', 'kube-system')
  if (down !== undefined) return down
  const chosen = svc.annotations['kube-vip.io/loadbalancerIPs'] ?? svc.loadBalancerIP
  if (chosen !== undefined) {
    if (ctx.facts.signals.workloads.some((w) => isKubeVip(w) && servesServices(w))) return undefined
    // The CCM only picks the address; kube-vip in services mode writes the status (kube-vip-cloud-provider#211).
    return {
      reason: 'controller-not-running',
      message: `kube-vip-cloud-provider chose ${chosen}, but no kube-vip with svc_enable=true runs to announce it and write the status`,
      fix: 'run kube-vip (DaemonSet or static pod) with the env `svc_enable=true`',
      evidence: [
        svc.annotations['kube-vip.io/loadbalancerIPs'] !== undefined
          ? `annotation kube-vip.io/loadbalancerIPs: ${chosen}`
          : `spec.loadBalancerIP: ${chosen}`,
        ...ctx.facts.signals.workloads
          .filter(isKubeVip)
          .map((w) => `${describe(w)} env svc_enable=${w.env.svc_enable ?? '(unset)'}`),
      ],
    }
  }
  const data = ctx.facts.signals.configMaps[CONFIG_MAP_KEYS.kubeVip]
  const unread = ctx.facts.signals.unavailable.some((u) => u.includes(CONFIG_MAP_KEYS.kubeVip))
  if (unread || keys.some((key) => data?.[key] !== undefined)) return undefined
  return {
    reason: 'kube-vip-no-range',
    message: `ConfigMap ${CONFIG_MAP_KEYS.kubeVip} has none of ${keys.join(', ')}, so kube-vip-cloud-provider has no address for namespace ${svc.namespace}`,
    fix,
    evidence: configMapEvidence(ctx),
  }
}

function configMapEvidence(ctx: DiagnosisContext): string[] {
  const data = ctx.facts.signals.configMaps[CONFIG_MAP_KEYS.kubeVip]
  if (data === undefined) return [`ConfigMap ${CONFIG_MAP_KEYS.kubeVip}: not found`]
  const entries = Object.entries(data)
  return [
    `ConfigMap ${CONFIG_MAP_KEYS.kubeVip} data: ${entries.length === 0 ? '(empty)' : entries.map(([k, v]) => `${k}=${v}`).join(', ')}`,
  ]
}

export const kubeVip: LoadBalancerModule = {
  name: 'kube-vip',
  display: 'kube-vip',
  detect,
  diagnose,
  // With KUBEVIP_ENABLE_LOADBALANCERCLASS=true (kube-vip-cloud-provider pkg/provider/provider.go).
  classes: ['kube-vip.io/kube-vip-class'],
  steps: {'kube-vip': kubeVipStep},
}
