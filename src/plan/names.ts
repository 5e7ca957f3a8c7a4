// Friendly DNS names for mapped Services. Names are lowercase and carry no trailing dot (docs/architecture.md).
import {fitted} from '../fitted.js'

/** Annotation with extra names for a Service, comma-separated: a label (`movies`) or a name ending in the zone. */
export const HOSTNAME_ANNOTATION = 'expose-lb/hostname'

/** The label of serve's own names: `expose-lb.<zone>` and `expose-lb.localhost` lead to its dashboard. */
export const DASHBOARD_LABEL = 'expose-lb'

/** Names no Service may take: serve's dashboard under the zone, and the zone apex (the dashboard answers both). */
export function reservedNames(domain: string): string[] {
  return [`${DASHBOARD_LABEL}.${domain}`, domain]
}

/** A DNS label as RFC 1123 allows it for host names: 1–63 of a-z, 0-9 and '-', not starting or ending with '-'. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
const MAX_NAME_LENGTH = 253 // RFC 1035 §2.3.4, without the trailing dot

/** Whether `name` (lowercase, no trailing dot) is a valid host name of one or more labels. */
export function isValidDnsName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && name.split('.').every((label) => LABEL.test(label))
}

/** Lowercases a zone given on the command line and strips a trailing dot; undefined when it is not a valid name. */
export function normalizeDomain(domain: string): string | undefined {
  const name = domain.trim().toLowerCase().replace(/\.$/, '')
  return isValidDnsName(name) ? name : undefined
}

export interface NameClaims {
  /** `<svc>.<ns>.<domain>`: always the Service's own. */
  long: string
  /** Other names this Service asks for: `<svc>.<domain>` and the annotation's names. */
  wanted: string[]
  warnings: string[]
}

/** The names one Service claims, before conflicts between Services are settled. */
export function claimNames(
  svc: {namespace: string; name: string; annotations: Record<string, string>},
  domain: string,
  shortNameIsUnique: boolean,
): NameClaims {
  const long = `${svc.name}.${svc.namespace}.${domain}`.toLowerCase()
  const wanted = shortNameIsUnique ? [`${svc.name}.${domain}`.toLowerCase()] : []
  const warnings: string[] = []
  const annotation = svc.annotations[HOSTNAME_ANNOTATION]
  for (const raw of annotation?.split(',') ?? []) {
    const entry = raw.trim().toLowerCase().replace(/\.$/, '')
    if (entry === '') continue
    // A single label is relative to the zone; a longer name must already end in it.
    const name = entry.includes('.') ? entry : `${entry}.${domain}`
    if (!isValidDnsName(name) || name === domain) {
      warnings.push(`annotation ${HOSTNAME_ANNOTATION}: "${raw.trim()}" is not a valid DNS name; skipped`)
    } else if (!name.endsWith(`.${domain}`)) {
      warnings.push(
        `annotation ${HOSTNAME_ANNOTATION}: "${raw.trim()}" is outside the zone ${domain}; skipped (use a single label or a name ending in .${domain})`,
      )
    } else if (!wanted.includes(name) && name !== long) {
      wanted.push(name)
    }
  }
  return {long, wanted: fitted(wanted), warnings: fitted(warnings)}
}
