// One table for the OS errors a user meets: what each errno means in words, and which bind problem it is. The DNS
// responder, serve's runtime and per-service listeners, the proxies' connect errors and doctor all word errors from
// here, so one failure reads the same everywhere. Codes are libuv's, as Node reports them in `error.code`.

/** What kind of trouble a failed bind(2) is; each has one remedy below. */
export type BindProblem = 'in-use' | 'denied' | 'unavailable' | 'other'

interface ErrnoEntry {
  words: string
  bind?: BindProblem
}

const ERRNO: Readonly<Record<string, ErrnoEntry>> = {
  EACCES: {words: 'permission denied', bind: 'denied'},
  EPERM: {words: 'operation not permitted', bind: 'denied'},
  EADDRINUSE: {words: 'address already in use', bind: 'in-use'},
  EADDRNOTAVAIL: {words: 'address not available on this machine', bind: 'unavailable'},
  ECONNREFUSED: {words: 'connection refused'},
  ECONNRESET: {words: 'connection reset'},
  EHOSTUNREACH: {words: 'host unreachable'},
  ENETUNREACH: {words: 'network unreachable'},
  EPIPE: {words: 'connection closed by the other side'},
  ETIMEDOUT: {words: 'timed out'},
  ENOENT: {words: 'no such file or directory'},
  ENOTDIR: {words: 'a part of the path is not a directory'},
  EISDIR: {words: 'is a directory'},
  EROFS: {words: 'read-only file system'},
  EBUSY: {words: 'resource busy'},
}

/** The errno code an error carries (`EACCES`, …), or undefined. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as {code?: unknown} | null | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/**
 * A few words for an error, for logs, tables and error pages: its errno in words (a timeout says how long it
 * waited, from its `timeoutMs`), else its code, else the first line of its message.
 */
export function describeErrno(error: unknown): string {
  const code = errnoCode(error)
  const timeoutMs = (error as {timeoutMs?: unknown} | null | undefined)?.timeoutMs
  if (code === 'ETIMEDOUT' && typeof timeoutMs === 'number') return `no answer in ${timeoutMs / 1000} s`
  const entry = code === undefined ? undefined : ERRNO[code]
  if (entry) return entry.words
  if (code) return code
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n', 1)[0] ?? ''
}

/** Which bind problem an error is. */
export function bindProblem(error: unknown): BindProblem {
  const code = errnoCode(error)
  return (code === undefined ? undefined : ERRNO[code]?.bind) ?? 'other'
}

/**
 * What lets a process bind a port below 1024 on Linux (capabilities(7), `net.ipv4.ip_unprivileged_port_start`
 * in the kernel's ip-sysctl documentation); `lowest` is the port the sysctl must reach.
 */
export function privilegeRemedies(lowest: number): string {
  return `run with sudo; or \`sudo setcap cap_net_bind_service=+ep "$(command -v node)"\`; or \`sudo sysctl net.ipv4.ip_unprivileged_port_start=${lowest}\``
}
