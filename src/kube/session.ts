// What a command needs to talk to a cluster: the kubeconfig loaded as kubectl would, and an API client for it.
// Commands import this module lazily, so `--help` never loads @kubernetes/client-node.
import {ApiClient} from './client.js'
import {kubeconfigContextNames, loadKubeConfig, type KubeConfigOptions} from './kubeconfig.js'

export {readSnapshot} from './snapshot.js'

/** Loads the kubeconfig and returns a client for the chosen context. */
export function openCluster(options: KubeConfigOptions): ApiClient {
  const {kc, context, server} = loadKubeConfig(options)
  return new ApiClient(kc, context, server)
}

/**
 * Every context of the kubeconfig (`--all-contexts`), in kubectl's merge order; none set as current is needed. A
 * kubeconfig that names none is loadKubeConfig's error (no kubeconfig, an empty one, …), as without the flag.
 */
export function kubeconfigContexts(options: KubeConfigOptions): string[] {
  const names = kubeconfigContextNames(options)
  return names.length > 0 ? names : loadKubeConfig(options).contexts
}

export {diagnosePending} from './pending.js'
