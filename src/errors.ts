import {hostPort} from './net/address.js'
import {describeErrno, errnoCode} from './net/errno.js'

/** Exit statuses, one per failure a user can act on. Only bin/ and the command layer end the process. */
export const EXIT = {
  internal: 1,
  usage: 2,
  noKubeconfig: 3,
  unknownContext: 4,
  unreachable: 5,
  tls: 6,
  unauthorized: 7,
  forbidden: 8,
  apiError: 9,
  bind: 10,
  /** doctor: at least one check failed. */
  checkFailed: 11,
  /** dns-setup --apply/--undo: a step failed (what was done is recorded for --undo). */
  setupFailed: 12,
  /** serve --hosts-file: the hosts file cannot be written. */
  hostsFile: 13,
  /** service install/uninstall: a step failed, or the service manager is not available. */
  serviceFailed: 14,
} as const

export type ErrorCode = keyof typeof EXIT

/**
 * A failure the user can fix. `message` is one line saying what failed, why and how to fix it;
 * `detail` is optional extra text printed after it (e.g. the RBAC rules a 403 needs).
 */
export class ExposeLbError extends Error {
  override readonly name = 'ExposeLbError'
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: string,
    options?: {cause?: unknown},
  ) {
    super(message, options)
  }
}

/**
 * A wait that ran out: a connect to a node that never answers, a lookup, a request. `code` is ETIMEDOUT, as the
 * OS's own connect timeout, so callers test one code for both.
 */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError'
  readonly code = 'ETIMEDOUT'
  constructor(
    what: string,
    readonly timeoutMs: number,
  ) {
    super(`${what}: no answer in ${timeoutMs / 1000} s`)
  }
}

/** A socket that could not be bound. `code` is the OS's errno (EADDRINUSE, EACCES, …), taken from the cause. */
export class BindError extends Error {
  override readonly name = 'BindError'
  readonly code: string | undefined
  constructor(
    readonly what: string,
    readonly address: string,
    readonly port: number,
    readonly proto: 'udp' | 'tcp',
    cause: unknown,
  ) {
    super(`cannot bind ${what} on ${hostPort(address, port)}/${proto}: ${describeErrno(cause)}`, {cause})
    this.code = errnoCode(cause)
  }
}

/** The first line of an error's message, for one-line reports. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  return text.split('\n', 1)[0] ?? ''
}
