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

  get exitCode(): number {
    return EXIT[this.code]
  }
}

/** The first line of an error's message, for one-line reports. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  return text.split('\n', 1)[0] ?? ''
}
