// GET requests to the API server with the kubeconfig's credentials, and API failures turned into errors a user
// can act on. Plain http/https with client-node's agent (TLS material, proxies) and auth headers (tokens, exec
// plugins); JSON is kept raw and converted to the slim types by convert.ts.
import type {KubeConfig} from '@kubernetes/client-node'
import http from 'node:http'
import https from 'node:https'
import {ExposeLbError, firstLine, TimeoutError} from '../errors.js'
import {MINIMAL_CLUSTER_ROLE} from './rbac.js'

/** What a read is for, so a failure can say what was being done. */
export interface ReadTarget {
  path: string
  verb: 'get' | 'list'
  /** `services`, `daemonsets.apps`, … */
  resource: string
  /** Namespace, or undefined for all namespaces / cluster-scoped. */
  namespace?: string
}

/** An API answer other than 2xx, 401 or 403 (those have their own codes). */
export class ApiStatusError extends ExposeLbError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('apiError', message)
  }
}

const REQUEST_TIMEOUT_MS = 15_000

const TLS_CODES = /CERT|SSL|TLS|EPROTO|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS/

export class ApiClient {
  private options: Promise<https.RequestOptions> | undefined

  constructor(
    readonly kc: KubeConfig,
    readonly context: string,
    readonly server: string,
  ) {}

  /** GETs JSON; throws ExposeLbError for failures that stop the command, ApiStatusError for other statuses. */
  async get<T>(target: ReadTarget): Promise<T> {
    const url = new URL(this.server.replace(/\/$/, '') + target.path)
    const options = await this.requestOptions()
    // A token from a token-file is read again when the file changes (kubeconfig.ts); the cached header is not.
    const token = this.kc.getCurrentUser()?.token
    const authorization = token ? {Authorization: `Bearer ${token}`} : {}
    const {status, body} = await new Promise<{status: number; body: string}>((resolve, reject) => {
      const lib = url.protocol === 'http:' ? http : https
      const req = lib.request(
        url,
        {...options, method: 'GET', headers: {...options.headers, ...authorization, accept: 'application/json'}},
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve({status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8')}))
          res.on('error', reject)
        },
      )
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new TimeoutError(`GET ${target.resource}`, REQUEST_TIMEOUT_MS)),
      )
      req.on('error', reject)
      req.end()
    }).catch((error: unknown) => {
      throw this.transportError(error)
    })
    if (status >= 200 && status < 300) {
      try {
        return JSON.parse(body) as T
      } catch {
        throw new ExposeLbError(
          'apiError',
          `the API server at ${this.server} sent a ${target.resource} answer that is not JSON`,
        )
      }
    }
    throw this.statusError(status, body, target)
  }

  /** Options for a streaming request of its own (a port-forward WebSocket): TLS material, agent, auth header. */
  async streamOptions(): Promise<https.RequestOptions> {
    const options = await this.requestOptions()
    const token = this.kc.getCurrentUser()?.token
    return {...options, headers: {...options.headers, ...(token ? {Authorization: `Bearer ${token}`} : {})}}
  }

  private requestOptions(): Promise<https.RequestOptions> {
    this.options ??= (async () => {
      const opts: https.RequestOptions = {}
      try {
        await this.kc.applyToHTTPSOptions(opts)
      } catch (error) {
        const why = firstLine(error)
        throw new ExposeLbError(
          'unauthorized',
          `cannot get credentials for context "${this.context}": ${why}`,
          undefined,
          {cause: error},
        )
      }
      return opts
    })()
    return this.options
  }

  private transportError(error: unknown): ExposeLbError {
    const code = (error as {code?: string}).code ?? ''
    const why = firstLine(error)
    if (TLS_CODES.test(code) || /certificate|SSL|TLS/i.test(why)) {
      return new ExposeLbError(
        'tls',
        `TLS with the API server of context "${this.context}" at ${this.server} failed: ${why}; check certificate-authority-data in the kubeconfig (or --context)`,
        undefined,
        {cause: error},
      )
    }
    return new ExposeLbError(
      'unreachable',
      `cannot reach the API server of context "${this.context}" at ${this.server}: ${why}; is the cluster up and the kubeconfig current?`,
      undefined,
      {cause: error},
    )
  }

  private statusError(status: number, body: string, target: ReadTarget): Error {
    const scope = target.namespace ? `in namespace "${target.namespace}"` : 'in all namespaces'
    const what = `${target.verb} ${target.resource}${target.resource === 'nodes' || target.verb === 'get' ? '' : ` ${scope}`}`
    if (status === 401) {
      return new ExposeLbError(
        'unauthorized',
        `the API server of context "${this.context}" at ${this.server} rejected the credentials (401 Unauthorized); log in again or refresh the token in the kubeconfig`,
      )
    }
    if (status === 403) {
      return new ExposeLbError(
        'forbidden',
        `not allowed to ${what} (403 Forbidden, context "${this.context}"); expose-lb needs read access granted by a ClusterRole like this one:`,
        MINIMAL_CLUSTER_ROLE,
      )
    }
    let message = `the API server answered ${status}`
    try {
      const parsed = JSON.parse(body) as {message?: string}
      if (parsed.message) message += `: ${parsed.message}`
    } catch {
      /* not a Status object */
    }
    return new ApiStatusError(status, `cannot ${what}: ${message}`)
  }
}

/**
 * A read the command can do without: undefined when it is forbidden (403) or not there (404, also "this API does
 * not exist"), noted in `unavailable` as `verb resource (forbidden|not found)` so the output can say what it could
 * not see; any other failure throws. `quietIfMissing`: a 404 is not noted (an optional API that is simply absent).
 */
export async function readOptional<T>(
  api: ApiClient,
  target: ReadTarget,
  unavailable: string[],
  quietIfMissing = false,
): Promise<T | undefined> {
  try {
    return await api.get<T>(target)
  } catch (error) {
    const status =
      error instanceof ApiStatusError
        ? error.status
        : error instanceof ExposeLbError && error.code === 'forbidden'
          ? 403
          : 0
    if (status === 404 && quietIfMissing) return undefined
    if (status !== 403 && status !== 404) throw error
    unavailable.push(`${target.verb} ${target.resource} (${status === 403 ? 'forbidden' : 'not found'})`)
    return undefined
  }
}
