// Kubeconfig loading the way kubectl does it (k8s.io/client-go tools/clientcmd/loader.go, ClientConfigLoadingRules:
// the first file to set a value wins, missing files are skipped). client-node's loadFromDefault differs (the last
// file's current-context wins, duplicate names throw, missing files throw: node_modules/@kubernetes/client-node
// dist/config.js, loadFromDefault and mergeConfig).
import {KubeConfig} from '@kubernetes/client-node'
import {existsSync, readFileSync, statSync} from 'node:fs'
import {homedir} from 'node:os'
import {delimiter, dirname, isAbsolute, join} from 'node:path'
import {parse, stringify} from 'yaml'
import {ExposeLbError, firstLine} from '../errors.js'
import {describeErrno} from '../net/errno.js'

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
  /** Every context of the merged kubeconfig, in file order (`--all-contexts`). */
  contexts: string[]
}

/**
 * Loads --kubeconfig, else the files in KUBECONFIG merged by kubectl's rules (the first file that sets a value
 * wins; missing files are skipped), else ~/.kube/config, else the in-cluster service account.
 */
export function loadKubeConfig(options: KubeConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env
  const files = configFiles(options, env)
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
  /** Where each merged cluster and user came from, for messages; and the token files of users. */
  const origin = {clusters: new Map<string, string>(), users: new Map<string, string>()}
  const tokenFiles = new Map<string, string>()
  let current = ''
  const empty: string[] = []
  for (const file of present) {
    const read = readKubeconfigFile(file)
    if (!read) {
      empty.push(file)
      continue
    }
    const {kc} = read
    current ||= kc.currentContext
    for (const c of kc.clusters) {
      if (seen.clusters.has(c.name)) continue
      seen.clusters.add(c.name)
      origin.clusters.set(c.name, file)
      // client-node refuses http:// unless skipTLSVerify is set; with plain HTTP there is nothing to verify.
      merged.addCluster(c.server.startsWith('http:') ? {...c, skipTLSVerify: true} : c)
    }
    for (const u of kc.users) {
      if (seen.users.has(u.name)) continue
      seen.users.add(u.name)
      origin.users.set(u.name, file)
      const tokenFile = read.tokenFiles.get(u.name)
      if (tokenFile) tokenFiles.set(u.name, tokenFile)
      merged.addUser(u)
    }
    for (const x of kc.contexts) if (!seen.contexts.has(x.name) && seen.contexts.add(x.name)) merged.addContext(x)
  }
  if (empty.length === present.length) {
    throw new ExposeLbError(
      'noKubeconfig',
      `kubeconfig ${empty.join(delimiter)} is empty; fill it (e.g. copy the cluster's admin kubeconfig) or point --kubeconfig elsewhere`,
    )
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
  const clusterFile = origin.clusters.get(cluster.name) ?? present[0]
  checkServerUrl(cluster.server, want, clusterFile ?? '')
  const user = merged.getCurrentUser()
  const userFile = (user && origin.users.get(user.name)) ?? clusterFile ?? ''
  checkFiles([
    {field: 'certificate-authority', path: cluster.caFile, owner: `cluster "${cluster.name}"`, file: clusterFile ?? ''},
    {field: 'client-certificate', path: user?.certFile, owner: `user "${user?.name}"`, file: userFile},
    {field: 'client-key', path: user?.keyFile, owner: `user "${user?.name}"`, file: userFile},
    {field: 'token-file', path: user && tokenFiles.get(user.name), owner: `user "${user?.name}"`, file: userFile},
  ])
  const tokenFile = user && tokenFiles.get(user.name)
  if (user && tokenFile) Object.defineProperty(user, 'token', {get: tokenReader(tokenFile), enumerable: true})
  return {kc: merged, context: want, server: cluster.server, contexts: available}
}

/** The files kubectl reads: --kubeconfig, else every file in KUBECONFIG, else ~/.kube/config. */
function configFiles(options: KubeConfigOptions, env: NodeJS.ProcessEnv): string[] {
  if (options.kubeconfig) return [options.kubeconfig]
  if (env.KUBECONFIG) return env.KUBECONFIG.split(delimiter).filter(Boolean)
  return [join(env.HOME ?? homedir(), '.kube', 'config')]
}

/**
 * Every context of the kubeconfig files in kubectl's merge order (first name wins), whether or not a current
 * context is set or usable: `--all-contexts` opens each one on its own. Missing files are skipped.
 */
export function kubeconfigContextNames(options: KubeConfigOptions = {}): string[] {
  const names = new Set<string>()
  for (const file of configFiles(options, options.env ?? process.env)) {
    if (!existsSync(file)) continue
    for (const context of readKubeconfigFile(file)?.kc.contexts ?? []) names.add(context.name)
  }
  return [...names]
}

/**
 * One kubeconfig file, or undefined when it is empty (kubectl merges an empty file as nothing). `token-file` is
 * taken out before client-node sees it: client-node reads it once, relative to the working directory and with
 * its newline; kubectl resolves it against the kubeconfig's folder (client-go clientcmd ResolveLocalPaths) and
 * re-reads it, which projected service-account tokens need (they rotate hourly).
 */
function readKubeconfigFile(file: string): {kc: KubeConfig; tokenFiles: Map<string, string>} | undefined {
  const fail = (why: string, cause?: unknown) =>
    new ExposeLbError(
      'noKubeconfig',
      `cannot read kubeconfig ${file}: ${why}; fix the file or point --kubeconfig elsewhere`,
      undefined,
      {cause},
    )
  let doc: unknown
  try {
    const text = readFileSync(file, 'utf8')
    if (text.trim() === '') return undefined
    doc = parse(text)
  } catch (error) {
    throw fail(describeErrno(error), error)
  }
  if (doc === null || doc === undefined) return undefined
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw fail('it is not a YAML mapping of clusters, users and contexts')
  const tokenFiles = new Map<string, string>()
  const users = (doc as {users?: unknown}).users
  for (const entry of Array.isArray(users) ? users : []) {
    const user = (entry as {name?: unknown; user?: Record<string, unknown>} | null)?.user
    const name = (entry as {name?: unknown}).name
    const tokenFile = user?.['token-file']
    if (typeof name !== 'string' || typeof tokenFile !== 'string' || !user) continue
    tokenFiles.set(name, isAbsolute(tokenFile) ? tokenFile : join(dirname(file), tokenFile))
    delete user['token-file']
  }
  const kc = new KubeConfig()
  try {
    kc.loadFromString(stringify(doc))
    kc.makePathsAbsolute(dirname(file))
  } catch (error) {
    throw fail(firstLine(error), error)
  }
  return {kc, tokenFiles}
}

/** The server must be an http(s) URL: client-node would fail on the first request with a bare "Invalid URL". */
function checkServerUrl(server: string, context: string, file: string): void {
  let url: URL | undefined
  try {
    url = new URL(server)
  } catch {
    url = undefined
  }
  if (url?.protocol === 'https:' || url?.protocol === 'http:') return
  const hint = /^[\w.-]+(:\d+)?$|^\[[\da-f:]+\](:\d+)?$/i.test(server)
    ? `it lacks the scheme: write https://${server}`
    : 'write it as https://<host>:<port>'
  throw new ExposeLbError(
    'noKubeconfig',
    `context "${context}" in kubeconfig ${file} has server "${server}", which is not an http(s) URL; ${hint}`,
  )
}

/** Files the context's cluster and user name must exist, or every request would fail with a misleading 401. */
function checkFiles(refs: Array<{field: string; path: string | null | undefined; owner: string; file: string}>): void {
  for (const {field, path, owner, file} of refs) {
    if (!path || existsSync(path)) continue
    throw new ExposeLbError(
      'noKubeconfig',
      `kubeconfig ${file}: ${owner} names ${field} ${path}, which does not exist; fix the path, or embed the file as ${field === 'token-file' ? 'token' : `${field}-data`}`,
    )
  }
}

/** Reads a token file, again whenever it changes (size or mtime), without its trailing newline. */
function tokenReader(path: string): () => string | undefined {
  let stamp = ''
  let token: string | undefined
  return () => {
    try {
      const stat = statSync(path)
      const now = `${stat.mtimeMs}:${stat.size}`
      if (now !== stamp) {
        token = readFileSync(path, 'utf8').trim()
        stamp = now
      }
    } catch {
      // Gone for a moment (a projected volume swaps a symlink): keep the last token; the server judges it.
    }
    return token
  }
}

function inCluster(files: string[], env: NodeJS.ProcessEnv, options: KubeConfigOptions): LoadedConfig {
  const root = options.serviceAccountRoot ?? ''
  if (env.KUBERNETES_SERVICE_HOST && existsSync(root + SERVICE_ACCOUNT_TOKEN) && !options.context) {
    const kc = new KubeConfig()
    kc.loadFromCluster(root)
    return {kc, context: 'in-cluster', server: kc.getCurrentCluster()?.server ?? '', contexts: ['in-cluster']}
  }
  throw new ExposeLbError(
    'noKubeconfig',
    `no kubeconfig found (looked at ${files.join(delimiter)}) and not running in a cluster; pass --kubeconfig or set KUBECONFIG`,
  )
}
