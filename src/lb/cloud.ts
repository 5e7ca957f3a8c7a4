/**
 * A cloud provider's load balancer, seen from the providerID its cloud controller manager sets on nodes.
 */
import type {Facts, Finding, LoadBalancerModule} from './types.js'

// providerID prefixes set by cloud controller managers. kind://, k3s://, rke2:// and talos:// are local stubs.
const CLOUD_PROVIDER_PREFIXES = [
  'aws://',
  'gce://',
  'azure://',
  'digitalocean://',
  'hcloud://',
  'hetzner://',
  'linode://',
  'openstack://',
  'vsphere://',
  'oci://',
  'ocid1.',
  'alicloud://',
  'ibm://',
  'scaleway://',
  'equinixmetal://',
  'exoscale://',
]

function detect({nodes}: Facts): Finding | undefined {
  const providerID = nodes
    .map((node) => node.providerID)
    .find((id) => id !== undefined && CLOUD_PROVIDER_PREFIXES.some((prefix) => id.startsWith(prefix)))
  if (providerID === undefined) return undefined
  return {lb: {name: 'cloud', evidence: [`node providerID ${providerID}`], serving: true}}
}

export const cloud: LoadBalancerModule = {name: 'cloud', display: "the cloud provider's load balancer", detect}
