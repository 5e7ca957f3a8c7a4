// How addresses are written in every message, table and key: one home for the IPv6 bracket rule.

/** `address:port`, with IPv6 addresses in brackets (RFC 3986 §3.2.2). */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}
