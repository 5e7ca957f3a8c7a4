/**
 * k3s ServiceLB (klipper-lb, "svclb"; also RKE2's, switched off there by default): how it shows in the API, and the
 * steps that use, enable or re-enable it. Sources: k3s-io/k3s `pkg/cloudprovider/servicelb.go`, the k3s docs
 * ("Service Load Balancer").
 */
import {distroEvidence, rke2ServiceLbEnabledBy, serviceLbDisabledBy} from '../detect/distro.js'
import {markedByOthers, servicesWith, summarize, describe} from './evidence.js'
import type {Action, Facts, Finding, LoadBalancerModule, StepContext, StepPart} from './types.js'

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

export const k3sServiceLb: LoadBalancerModule = {
  name: 'k3s-servicelb',
  display: 'k3s ServiceLB',
  detect,
  steps: {
    'k3s-servicelb': (ctx) => serviceLbStep(ctx, 'k3s'),
    'rke2-servicelb': (ctx) => serviceLbStep(ctx, 'rke2'),
  },
}
