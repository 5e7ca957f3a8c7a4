/**
 * Which Kubernetes distribution the nodes belong to, and how k3s/RKE2 were told to run ServiceLB.
 * Pure: reads slim Nodes only.
 */
import type {Node} from '../plan/types.js'

/** Distributions detection tells apart, because each changes what to recommend. */
export type Distro = 'k3s' | 'rke2' | 'kind' | 'minikube' | 'microk8s' | 'talos' | 'docker-desktop' | 'unknown'

/** Why one node looks like a distro (e.g. "node providerID k3s://server1"), or undefined. */
type Sign = (node: Node) => string | undefined

// k3s builds providerIDs, labels and annotations from `version.Program`, which is "rke2" on RKE2
// (k3s-io/k3s pkg/cloudprovider/instances.go).
const INSTANCE_TYPE_LABELS = ['node.kubernetes.io/instance-type', 'beta.kubernetes.io/instance-type']

function rancherSign(program: 'k3s' | 'rke2'): Sign {
  return (node) => {
    if (node.providerID?.startsWith(`${program}://`)) return `node providerID ${node.providerID}`
    // Key and value compared apart: Zarf's DetectDistro compared values to "key=value" and never matched.
    const label = INSTANCE_TYPE_LABELS.find((key) => node.labels[key] === program)
    if (label !== undefined) return `node ${node.name} has label ${label}=${program}`
    if (node.kubeletVersion?.includes(`+${program}`)) return `node ${node.name} runs kubelet ${node.kubeletVersion}`
    const annotation = Object.keys(node.annotations).find((key) => key.startsWith(`${program}.io/`))
    if (annotation !== undefined) return `node ${node.name} has annotation ${annotation}`
    return undefined
  }
}

function labelSign(matches: (key: string) => boolean): Sign {
  return (node) => {
    const key = Object.keys(node.labels).find(matches)
    return key === undefined ? undefined : `node ${node.name} has label ${key}=${node.labels[key] ?? ''}`
  }
}

/** Checked in this order; the first distro any node shows wins. */
const DISTRO_SIGNS: ReadonlyArray<readonly [Exclude<Distro, 'unknown'>, Sign]> = [
  ['k3s', rancherSign('k3s')],
  ['rke2', rancherSign('rke2')],
  // kind's kubeadm config sets provider-id: kind://{{.NodeProvider}}/{{.ClusterName}}/{{.NodeName}}.
  ['kind', (node) => (node.providerID?.startsWith('kind://') ? `node providerID ${node.providerID}` : undefined)],
  ['minikube', labelSign((key) => key.startsWith('minikube.k8s.io/'))],
  ['microk8s', labelSign((key) => key === 'microk8s.io/cluster')],
  // Talos reports PRETTY_NAME "Talos (vX.Y.Z)" as the node's osImage.
  ['talos', (node) => (node.osImage?.startsWith('Talos') ? `node ${node.name} runs ${node.osImage}` : undefined)],
  ['docker-desktop', (node) => (node.name === 'docker-desktop' ? 'node docker-desktop' : undefined)],
]

/** The distribution the nodes show, `unknown` when none (kubeadm, managed clouds, no nodes visible). */
export function detectDistro(nodes: Node[]): Distro {
  for (const [distro, sign] of DISTRO_SIGNS) {
    if (nodes.some((node) => sign(node) !== undefined)) return distro
  }
  return 'unknown'
}

/** The first node fact that shows `distro`, as evidence text, or undefined. */
export function distroEvidence(nodes: Node[], distro: Distro): string | undefined {
  const sign = DISTRO_SIGNS.find(([name]) => name === distro)?.[1]
  if (sign === undefined) return undefined
  for (const node of nodes) {
    const seen = sign(node)
    if (seen !== undefined) return seen
  }
  return undefined
}

/** Where a server flag that decides ServiceLB was seen, for messages. */
export interface NodeArg {
  node: string
  /** The flag as written, e.g. `--disable servicelb` or `--disable=traefik,servicelb`. */
  flag: string
}

/**
 * The k3s flag that turned ServiceLB off, read from the `k3s.io/node-args` annotation (the server's argv as a JSON
 * array, including config.yaml values since k3s v1.21.1). ServiceLB lives in the embedded cloud controller, so
 * `--disable-cloud-controller` turns it off too (k3s docs, "Service Load Balancer").
 */
export function serviceLbDisabledBy(nodes: Node[]): NodeArg | undefined {
  return findNodeArg(nodes, 'k3s.io/node-args', disablesServiceLb)
}

/** The RKE2 flag that turned ServiceLB on (it is off by default), from `rke2.io/node-args`. */
export function rke2ServiceLbEnabledBy(nodes: Node[]): NodeArg | undefined {
  // The PR that added it says --enable-servicelb; the docs say --serviceLB. Accept both.
  return findNodeArg(nodes, 'rke2.io/node-args', (args) =>
    args.find((arg) => isTrueFlag(arg, '--enable-servicelb') || isTrueFlag(arg, '--serviceLB')),
  )
}

function findNodeArg(
  nodes: Node[],
  annotation: string,
  find: (args: string[]) => string | undefined,
): NodeArg | undefined {
  for (const node of nodes) {
    const flag = find(parseNodeArgs(node.annotations[annotation]))
    if (flag !== undefined) return {node: node.name, flag}
  }
  return undefined
}

/** The argv in a node-args annotation; empty when it is missing or not a JSON array. */
export function parseNodeArgs(raw: string | undefined): string[] {
  if (raw === undefined) return []
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    return []
  }
  return Array.isArray(parsed) ? parsed.filter((arg): arg is string => typeof arg === 'string') : []
}

function disablesServiceLb(args: string[]): string | undefined {
  for (const [i, arg] of args.entries()) {
    if (isTrueFlag(arg, '--disable-cloud-controller')) return arg
    const equals = arg.indexOf('=')
    const flag = equals === -1 ? arg : arg.slice(0, equals)
    // --no-deploy is the pre-v1.20 spelling of --disable.
    if (flag !== '--disable' && flag !== '--no-deploy') continue
    const value = equals === -1 ? (args[i + 1] ?? '') : arg.slice(equals + 1)
    if (value.split(',').some((component) => component.trim() === 'servicelb')) {
      return equals === -1 ? `${flag} ${value}` : arg
    }
  }
  return undefined
}

/** A boolean flag given as `--flag` or `--flag=true`. */
function isTrueFlag(arg: string, flag: string): boolean {
  return arg === flag || arg === `${flag}=true`
}
