/**
 * k3s ServiceLB (klipper-lb, "svclb"; also RKE2's, switched off there by default): how it shows in the API, and the
 * steps that use, enable or re-enable it. Sources: k3s-io/k3s `pkg/cloudprovider/servicelb.go`, the k3s docs
 * ("Service Load Balancer").
 */
import {distroEvidence, rke2ServiceLbEnabledBy, serviceLbDisabledBy} from './distro.js'
import {markedByOthers, servicesWith, summarize, describe} from './evidence.js'
import type {Service} from '../plan/types.js'
import {eventLine} from './diagnosis-text.js'
import type {
  Action,
  DiagnosisContext,
  Facts,
  Finding,
  LbPod,
  LoadBalancerModule,
  Pending,
  StepContext,
  StepPart,
} from './types.js'

// ServiceLB labels its DaemonSets and pods `svccontroller.<program>.cattle.io/svcname` (k3s servicelb.go). Names
// changed over the years (svclb-<svc>, svclb-<svc>-<uid>, docs say svc-), so only the label key is trusted.
export const SVCLB_LABELS = ['svccontroller.k3s.cattle.io/svcname', 'svccontroller.rke2.cattle.io/svcname']

function detect({nodes, services, signals, distro}: Facts): Finding | undefined {
  const evidence = summarize(
    signals.workloads.flatMap((w) => {
      const label = SVCLB_LABELS.find((key) => key in w.labels)
      return label === undefined ? [] : [`${describe(w)} has label ${label}`]
    }),
  )
  if (distro === 'k3s' || distro === 'rke2') {
    const nodeIPs = new Set(nodes.flatMap((node) => node.addresses.map((a) => a.address)))
    const onNodeIPs = servicesWith(services, (svc) => {
      const ips = svc.loadBalancerIngress.map((ingress) => ingress.ip)
      const all = ips.length > 0 && ips.every((ip) => ip !== undefined && nodeIPs.has(ip))
      return svc.loadBalancerClass === undefined && all && !markedByOthers(svc) ? ips.join(', ') : undefined
    })
    evidence.push(
      ...summarize(
        onNodeIPs.map(
          ({svc, mark}) => `Service ${svc.namespace}/${svc.name} got node IP ${mark} as its load-balancer address`,
        ),
      ),
    )
  }
  if (evidence.length > 0) return {lb: {name: 'k3s-servicelb', evidence, serving: true}}

  // Enabled but idle: ServiceLB creates nothing until a LoadBalancer Service exists.
  if (distro === 'k3s' && serviceLbDisabledBy(nodes) === undefined) {
    const seen = distroEvidence(nodes, 'k3s') ?? 'distro k3s'
    return {
      lb: {
        name: 'k3s-servicelb',
        evidence: [seen, 'ServiceLB is on by default in k3s and no k3s.io/node-args disables it'],
        serving: false,
      },
    }
  }
  const enabled = distro === 'rke2' ? rke2ServiceLbEnabledBy(nodes) : undefined
  if (enabled !== undefined) {
    return {
      lb: {
        name: 'k3s-servicelb',
        evidence: [`node ${enabled.node} rke2.io/node-args has ${enabled.flag}`],
        serving: false,
      },
    }
  }
  return undefined
}

// ServiceLB's DaemonSets and pods carry this label key (k3s pkg/cloudprovider/servicelb.go); RKE2 swaps the program.
const svclbLabel = (program: 'k3s' | 'rke2') => `svccontroller.${program}.cattle.io/svcname`

function serviceLbStep(ctx: StepContext, program: 'k3s' | 'rke2'): StepPart {
  const name = program === 'k3s' ? 'k3s ServiceLB' : 'RKE2 ServiceLB'
  const check: Action = {
    text: `Check that ServiceLB runs an svclb pod for each LoadBalancer Service`,
    commands: [`${ctx.options.kubectl} get pods --all-namespaces --selector ${svclbLabel(program)}`],
  }
  const notes = [
    'ServiceLB runs an svclb pod on every node for each LoadBalancer Service and binds each Service port as a ' +
      'hostPort there: a port already taken on a node (80 and 443 by Traefik, for one) keeps the Service off that ' +
      'node, and the Service gets the node IPs as its address, not a new one',
  ]
  const enabled = program === 'k3s' ? serviceLbDisabledBy(ctx.nodes) === undefined : rke2ServiceLbEnabledBy(ctx.nodes)
  const colliding = [...ctx.pending].filter(([, p]) => p.reason === 'servicelb-port-conflict')
  if (enabled && colliding.length > 0) {
    return {
      title: `free the ports ${name} needs`,
      actions: [
        ...colliding.map(([key, p]) => ({text: `${key}: ${p.message}; ${p.fix}`, commands: []})),
        {
          text: 'See the evidence for one of them',
          commands: colliding
            .slice(0, 1)
            .map(
              ([key]) =>
                `${ctx.options.kubectl} expose-lb explain ${key.split('/')[1] ?? ''} -n ${key.split('/')[0] ?? ''}`,
            ),
        },
        check,
      ],
      notes,
    }
  }
  if (enabled) {
    return {
      title: `use ${name} (it is on)`,
      actions: [
        {
          text: 'Nothing to install: create a LoadBalancer Service (or keep yours) and ServiceLB gives it the node IPs',
          commands: [],
        },
        check,
      ],
      notes,
    }
  }
  if (program === 'rke2') {
    return {
      title: `enable ${name}`,
      actions: [
        {
          text:
            'On each RKE2 server, add `enable-servicelb: true` to /etc/rancher/rke2/config.yaml (the ' +
            '`--enable-servicelb` flag; RKE2 ships ServiceLB off), then restart RKE2',
          commands: [
            "echo 'enable-servicelb: true' | sudo tee -a /etc/rancher/rke2/config.yaml",
            'sudo systemctl restart rke2-server',
          ],
        },
        check,
      ],
      notes,
    }
  }
  const disabled = serviceLbDisabledBy(ctx.nodes)
  const seen = disabled === undefined ? '' : ` (node ${disabled.node} runs with \`${disabled.flag}\`)`
  const remove = disabled?.flag.startsWith('--disable-cloud-controller')
    ? 'remove `disable-cloud-controller: true` from /etc/rancher/k3s/config.yaml, or `--disable-cloud-controller` ' +
      "from ExecStart in /etc/systemd/system/k3s.service: ServiceLB runs in k3s' embedded cloud controller"
    : 'remove `servicelb` from the `disable:` list in /etc/rancher/k3s/config.yaml (or a file in ' +
      '/etc/rancher/k3s/config.yaml.d/), or the `--disable servicelb` argument from ExecStart in ' +
      '/etc/systemd/system/k3s.service'
  return {
    title: `re-enable ${name}`,
    actions: [
      {text: `On each k3s server, ${remove}${seen}`, commands: []},
      {text: 'Restart k3s there', commands: ['sudo systemctl daemon-reload', 'sudo systemctl restart k3s']},
      check,
    ],
    notes,
  }
}

// The scheduler's NodePorts plugin reason (kubernetes pkg/scheduler/framework/plugins/nodeports/node_ports.go).
const FREE_PORTS = "didn't have free ports for the requested pod ports"
// If any node has this label, only nodes where it is "true" run svclb pods (k3s docs, "Service Load Balancer").
const ENABLE_LB = 'svccontroller.k3s.cattle.io/enablelb'
const LB_POOL = 'svccontroller.k3s.cattle.io/lbpool'

/** The svclb pods of `svc`, found by the labels ServiceLB puts on them (k3s servicelb.go). */
function svclbPods(svc: Service, pods: LbPod[]): LbPod[] {
  return pods.filter((pod) =>
    ['k3s', 'rke2'].some(
      (program) =>
        pod.labels[`svccontroller.${program}.cattle.io/svcname`] === svc.name &&
        (pod.labels[`svccontroller.${program}.cattle.io/svcnamespace`] ?? svc.namespace) === svc.namespace,
    ),
  )
}

const portText = (p: {port: number; protocol: string}) => `${p.port}/${p.protocol}`
const plural = (items: string[], noun: string) =>
  items.length === 1 ? `${noun} ${items[0] ?? ''} is` : `${noun}s ${items.join(', ')} are`

function diagnose(svc: Service, ctx: DiagnosisContext): Pending | undefined {
  if (svc.loadBalancerIngress.length > 0) return undefined
  const {nodes, distro} = ctx.facts
  const pods = svclbPods(svc, ctx.pending.pods)
  if (distro !== 'k3s' && distro !== 'rke2' && pods.length === 0) return undefined

  const disabled = distro === 'k3s' ? serviceLbDisabledBy(nodes) : undefined
  if (disabled !== undefined && pods.length === 0 && ctx.othersServing('k3s-servicelb').length === 0) {
    const node = nodes.find((n) => n.name === disabled.node)
    return {
      reason: 'servicelb-disabled',
      message: `k3s runs with \`${disabled.flag}\` (node ${disabled.node}), so ServiceLB is off and nothing else gives LoadBalancer Services an address`,
      fix: "remove `servicelb` from the k3s servers' `--disable` flags (or `disable:` in /etc/rancher/k3s/config.yaml) and restart k3s, or install another load balancer (`kubectl expose-lb recommend`)",
      evidence: [`node ${disabled.node} annotation k3s.io/node-args: ${node?.annotations['k3s.io/node-args'] ?? ''}`],
    }
  }

  const stuck = pods.filter((pod) => !pod.ready)
  const conflicts = stuck.flatMap((pod) => {
    const event = ctx.pending.events
      .filter(
        (e) =>
          e.regarding.kind === 'Pod' &&
          e.regarding.name === pod.name &&
          e.regarding.namespace === pod.namespace &&
          e.message.includes(FREE_PORTS),
      )
      .at(-1)
    if (event !== undefined) return [{pod, line: eventLine(event), fromEvent: true}]
    if (pod.unscheduled?.message?.includes(FREE_PORTS)) {
      return [
        {
          pod,
          line: `Pod ${pod.namespace}/${pod.name}: PodScheduled False ${pod.unscheduled.reason ?? ''}: ${pod.unscheduled.message}`,
          fromEvent: false,
        },
      ]
    }
    return []
  })
  if (conflicts.length > 0) {
    const wanted = [...new Map(stuck.flatMap((p) => p.hostPorts).map((p) => [portText(p), p])).values()]
    const holders = holdersOf(svc, wanted, ctx)
    const taken = holders.length > 0 ? holders.map((h) => h.ports).flat() : wanted.map(portText)
    const by =
      holders.length > 0
        ? `, held by ${holders.map((h) => `Service ${h.svc.namespace}/${h.svc.name} (${h.ports.join(', ')})`).join(' and ')}`
        : ''
    return {
      reason: 'servicelb-port-conflict',
      message: `its svclb pods cannot be scheduled: ${plural([...new Set(taken)], 'port')} already taken on the nodes${by}`,
      fix:
        holders.length > 0
          ? `give this Service other ports, or remove ${holders.map((h) => `${h.svc.namespace}/${h.svc.name}`).join(' and ')} from those ports${holders.some((h) => h.svc.namespace === 'kube-system' && h.svc.name === 'traefik') ? ' (k3s: `--disable=traefik`)' : ''}, or use a load balancer that gives each Service its own address (MetalLB: \`kubectl expose-lb recommend\`)`
          : 'free those ports on the nodes (a hostPort pod or a host process holds them), give this Service other ports, or use MetalLB, which gives each Service its own address',
      evidence: [
        // An event quotes the scheduler as it reported; the pod condition says the same where events are gone.
        (conflicts.find((c) => c.fromEvent) ?? conflicts[0])?.line ?? '',
        `svclb pods not ready: ${stuck.map((p) => `${p.namespace}/${p.name} (${p.phase})`).join(', ')}`,
        ...holders.map((h) => `Service ${h.svc.namespace}/${h.svc.name} holds ${h.ports.join(', ')}: ${h.why}`),
      ],
    }
  }

  if (pods.length === 0 && distro === 'k3s') {
    const labelled = nodes.filter((n) => ENABLE_LB in n.labels)
    if (labelled.length > 0 && !labelled.some((n) => n.labels[ENABLE_LB] === 'true')) {
      return {
        reason: 'servicelb-no-eligible-node',
        message: `nodes carry ${ENABLE_LB}, which makes ServiceLB run only on nodes where it is "true", and none is`,
        fix: `label the nodes that should answer: \`kubectl label node <node> ${ENABLE_LB}=true\``,
        evidence: labelled.map((n) => `node ${n.name} label ${ENABLE_LB}=${n.labels[ENABLE_LB] ?? ''}`),
      }
    }
    const pool = svc.labels[LB_POOL]
    if (
      pool !== undefined &&
      labelled.length > 0 &&
      !nodes.some((n) => n.labels[ENABLE_LB] === 'true' && n.labels[LB_POOL] === pool)
    ) {
      return {
        reason: 'servicelb-no-eligible-node',
        message: `the Service asks for ServiceLB node pool "${pool}" and no enabled node is in it`,
        fix: `label nodes of that pool: \`kubectl label node <node> ${ENABLE_LB}=true ${LB_POOL}=${pool}\``,
        evidence: [
          `label ${LB_POOL}=${pool}`,
          ...labelled.map(
            (n) =>
              `node ${n.name} labels ${ENABLE_LB}=${n.labels[ENABLE_LB] ?? ''}${n.labels[LB_POOL] === undefined ? '' : `, ${LB_POOL}=${n.labels[LB_POOL]}`}`,
          ),
        ],
      }
    }
  }
  return undefined
}

/** Other LoadBalancer Services that hold some of `ports` with running svclb pods (or an address) on the nodes. */
function holdersOf(
  svc: Service,
  ports: Array<{port: number; protocol: string}>,
  ctx: DiagnosisContext,
): Array<{svc: Service; ports: string[]; why: string}> {
  return ctx.facts.services.flatMap((other) => {
    if (other === svc || other.type !== 'LoadBalancer' || other.loadBalancerClass !== undefined) return []
    const shared = ports
      .filter((p) => other.ports.some((o) => o.port === p.port && o.protocol === p.protocol))
      .map(portText)
    if (shared.length === 0) return []
    const running = svclbPods(other, ctx.pending.pods).filter((p) => p.ready)
    if (running.length > 0) {
      return [
        {
          svc: other,
          ports: shared,
          why: `svclb pods ready: ${running.map((p) => `${p.name}${p.nodeName ? ` on ${p.nodeName}` : ''}`).join(', ')}`,
        },
      ]
    }
    const ips = other.loadBalancerIngress.flatMap((i) => i.ip ?? [])
    return ips.length > 0 ? [{svc: other, ports: shared, why: `status.loadBalancer.ingress: ${ips.join(', ')}`}] : []
  })
}

export const k3sServiceLb: LoadBalancerModule = {
  name: 'k3s-servicelb',
  display: 'k3s ServiceLB',
  detect,
  diagnose,
  steps: {
    'k3s-servicelb': (ctx) => serviceLbStep(ctx, 'k3s'),
    'rke2-servicelb': (ctx) => serviceLbStep(ctx, 'rke2'),
  },
}
