// Kubeconfig loading the way kubectl does it (k8s.io/client-go tools/clientcmd/loader.go, ClientConfigLoadingRules:
// the first file to set a value wins, missing files are skipped). client-node's loadFromDefault differs (the last
// file's current-context wins, duplicate names throw, missing files throw: node_modules/@kubernetes/client-node
// dist/config.js, loadFromDefault and mergeConfig).
import {KubeConfig} from '@kubernetes/client-node'
import {existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {delimiter, join} from 'node:path'
import {ExposeLbError, firstLine} from '../errors.js'

/** Where in-cluster config lives (Kubernetes docs, "Accessing the API from a Pod"). */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token'

export interface KubeConfigOptions {
  kubeconfig?: string
  context?: string
  /** Defaults to process.env; tests pass their own. */
  env?: NodeJS.ProcessEnv
  /** Prefix of the service-account directory (tests); the in-cluster host and port always come from process.env. */
  serviceAccountRoot?: string
}

export interface LoadedConfig {
  kc: KubeConfig
  /** The context in use (`in-cluster` for a service account). */
  context: string
  server: string
}

/**
 * Loads --kubeconfig, else the files in KUBECONFIG merged by kubectl's rules (the first file that sets a value
 * wins; missing files are skipped), else ~/.kube/config, else the in-cluster service account.
 */
export function loadKubeConfig(options: KubeConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env
  const files = options.kubeconfig
    ? [options.kubeconfig]
    : env.KUBECONFIG
      ? env.KUBECONFIG.split(delimiter).filter(Boolean)
      : [join(env.HOME ?? homedir(), '.kube', 'config')]
  if (options.kubeconfig && !existsSync(options.kubeconfig)) {
    throw new ExposeLbError(
      'noKubeconfig',
      `kubeconfig ${options.kubeconfig} does not exist; check the --kubeconfig path`,
    )
  }
  const present = files.filter((f) => existsSync(f))
  if (present.length === 0) return inCluster(files, env, options)

  const merged = new KubeConfig()
  const seen = {clusters: new Set<string>(), users: new Set<string>(), contexts: new Set<string>()}
  let current = ''
  for (const file of present) {
    const kc = new KubeConfig()
    try {
      kc.loadFromFile(file)
    } catch (error) {
      const why = firstLine(error)
      throw new ExposeLbError(
        'noKubeconfig',
        `cannot read kubeconfig ${file}: ${why}; fix the file or point --kubeconfig elsewhere`,
        undefined,
        {cause: error},
      )
    }
    current ||= kc.currentContext
    for (const c of kc.clusters) {
      if (seen.clusters.has(c.name)) continue
      seen.clusters.add(c.name)
      // client-node refuses http:// unless skipTLSVerify is set; with plain HTTP there is nothing to verify.
      merged.addCluster(c.server.startsWith('http:') ? {...c, skipTLSVerify: true} : c)
    }
    for (const u of kc.users) if (!seen.users.has(u.name) && seen.users.add(u.name)) merged.addUser(u)
    for (const x of kc.contexts) if (!seen.contexts.has(x.name) && seen.contexts.add(x.name)) merged.addContext(x)
  }
  const available = merged.contexts.map((c) => c.name)
  const want = options.context || current
  const list = available.length ? available.join(', ') : 'none'
  if (!want) {
    throw new ExposeLbError(
      'unknownContext',
      `kubeconfig ${present.join(delimiter)} sets no current-context; pass --context (available: ${list})`,
    )
  }
  if (!merged.getContextObject(want)) {
    throw new ExposeLbError(
      'unknownContext',
      `context "${want}" not found in kubeconfig ${present.join(delimiter)}; available: ${list}`,
    )
  }
  merged.setCurrentContext(want)
  const cluster = merged.getCurrentCluster()
  if (!cluster?.server) {
    throw new ExposeLbError(
      'unknownContext',
      `context "${want}" names cluster "${merged.getContextObject(want)?.cluster}", which is not in the kubeconfig (or has no server)`,
    )
  }
  return {kc: merged, context: want, server: cluster.server}
}

function inCluster(files: string[], env: NodeJS.ProcessEnv, options: KubeConfigOptions): LoadedConfig {
  const root = options.serviceAccountRoot ?? ''
  if (env.KUBERNETES_SERVICE_HOST && existsSync(root + SERVICE_ACCOUNT_TOKEN) && !options.context) {
    const kc = new KubeConfig()
    kc.loadFromCluster(root)
    return {kc, context: 'in-cluster', server: kc.getCurrentCluster()?.server ?? ''}
  }
  throw new ExposeLbError(
    'noKubeconfig',
    `no kubeconfig found (looked at ${files.join(delimiter)}) and not running in a cluster; pass --kubeconfig or set KUBECONFIG`,
  )
}
