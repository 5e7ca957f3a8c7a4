// Which zones serve may answer for. A zone is a whole subtree of names: `--domain com` would send every .com name a
// workstation looks up to serve (through dns-setup's routing domain `~com`), so single labels and public suffixes
// (the Public Suffix List, https://publicsuffix.org/, ICANN and private sections, through tldts) are refused.
import {getPublicSuffix} from 'tldts'

/** Zones to suggest: `.internal` is reserved for private use (ICANN, 2024), `home.arpa` for home networks (RFC 8375). */
export const SUGGESTED_ZONES = 'kube.internal, or a subdomain of home.arpa such as kube.home.arpa'

/** Why `zone` (lowercase, valid, no trailing dot) is too broad to serve, or undefined when it is fine. */
export function zoneProblem(zone: string): string | undefined {
  if (!zone.includes('.')) return `"${zone}" is a single label: serving it would capture every name under .${zone}`
  if (getPublicSuffix(zone, {allowPrivateDomains: true}) === zone) {
    return `"${zone}" is a public suffix: serving it would capture names that belong to others`
  }
  return undefined
}
