// The values completion cannot know by itself: context names from the kubeconfig files, read here with `yaml`
// alone so that completing them never loads @kubernetes/client-node (≈ 0.4 s), and namespace names from the
// cluster, the one completion that loads the client. Completion runs on every TAB: a failure gives no values
// and no message, and the cluster gets NAMESPACE_TIMEOUT_MS to answer.
import {readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {delimiter, join} from 'node:path'
import {parse} from 'yaml'
import type {ClusterTarget, ValueSource} from './complete.js'

/** How long namespace completion waits for the API server; a TAB that hangs longer feels broken. */
export const NAMESPACE_TIMEOUT_MS = 2000

/** Contexts from the kubeconfig, namespaces from the cluster; `env` supplies KUBECONFIG and HOME. */
export function clusterSource(env: NodeJS.ProcessEnv = process.env, timeoutMs = NAMESPACE_TIMEOUT_MS): ValueSource {
  return {
    contexts: async (target) => contextNames(kubeconfigFiles(target, env)),
    namespaces: (target) => namespaceNames(target, env, timeoutMs),
  }
}

/**
 * The kubeconfig files kubectl would read, by the rules of loadKubeConfig (src/kube/kubeconfig.ts, which cannot
 * be imported without the client): --kubeconfig, else every file in KUBECONFIG, else ~/.kube/config. A typed
 * `~/` is expanded, as the shell will when the command runs.
 */
export function kubeconfigFiles(target: ClusterTarget, env: NodeJS.ProcessEnv): string[] {
  if (target.kubeconfig) return [expandHome(target.kubeconfig, env)]
  if (env.KUBECONFIG) return env.KUBECONFIG.split(delimiter).filter(Boolean)
  return [join(env.HOME ?? homedir(), '.kube', 'config')]
}

/** `~/x` as the shell will expand it when the command runs (completion sees the word as typed). */
function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  return path.replace(/^~(?=\/|$)/, env.HOME ?? homedir())
}

/** Context names in kubectl's merge order (file by file, first name wins); unreadable files count as empty. */
export function contextNames(files: readonly string[]): string[] {
  const names = new Set<string>()
  for (const file of files) {
    let doc: unknown
    try {
      doc = parse(readFileSync(file, 'utf8'))
    } catch {
      continue
    }
    const contexts = (doc as {contexts?: unknown} | null)?.contexts
    if (!Array.isArray(contexts)) continue
    for (const context of contexts as Array<{name?: unknown} | null>) {
      if (typeof context?.name === 'string' && context.name) names.add(context.name)
    }
  }
  return [...names]
}

interface NamespaceList {
  items?: Array<{metadata?: {name?: string}}>
}

/** Namespace names of the target's cluster, or [] when it cannot tell within timeoutMs. */
export async function namespaceNames(
  target: ClusterTarget,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<string[]> {
  const lookup = (async () => {
    const {openCluster} = await import('../kube/session.js')
    const kubeconfig = target.kubeconfig ? expandHome(target.kubeconfig, env) : undefined
    const api = openCluster({kubeconfig, context: target.context, env})
    const list = await api.get<NamespaceList>({path: '/api/v1/namespaces', verb: 'list', resource: 'namespaces'})
    return (list.items ?? []).flatMap((ns) => (ns.metadata?.name ? [ns.metadata.name] : []))
  })()
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), timeoutMs)))
  try {
    return await Promise.race([lookup.catch(() => []), late])
  } finally {
    clearTimeout(timer)
  }
}
