// How addresses are written in every message, table and key: one home for the IPv6 bracket rule.

/** `address:port`, with IPv6 addresses in brackets (RFC 3986 §3.2.2). */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/** Whether an IP address is a loopback one (127.0.0.0/8, ::1; RFC 1122 §3.2.1.3, RFC 4291 §2.5.3). */
export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address)
}

/** Whether an address is the unspecified one, which means "every address" to bind (0.0.0.0, ::). */
export function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || address === '::'
}
