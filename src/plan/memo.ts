// What one buildPlan call keeps for the next, so that a change to one Service re-plans that Service only. A plain
// object the caller owns and passes back in (serve's loop keeps one per cluster); the planning stays pure: with or
// without a memo, buildPlan returns plans that are equal, and with one, unchanged Services are the same objects.
import type {NameClaims} from './names.js'
import type {EndpointSlice, Node, PlannedService, PlanOptions, Service} from './types.js'

/** One Service's plan, with the inputs it was made from (compared by identity) and its named form. */
export interface ServiceMemo {
  slices: readonly EndpointSlice[]
  nodes: readonly Node[]
  options: PlanOptions
  /** The plan before names are given (names empty, the Service's own warnings only). */
  unnamed: PlannedService
  /** The last named form: reused while the names and the naming warnings stay the same. */
  named?: PlannedService
  nameWarnings?: readonly string[]
  /** The names the Service claims, for the domain and short-name uniqueness they were made with. */
  claims?: KeptClaims
}

/** A Service's name claims, with the inputs they were made for. */
export interface KeptClaims {
  domain: string
  unique: boolean
  claims: NameClaims
  /** Its names when it gets every one it claims (the long name, then the wanted ones): one array while it does. */
  plain?: string[]
}

/** Passed to buildPlan again and again; entries go with the Service objects they belong to. */
export interface PlanMemo {
  services: WeakMap<Service, ServiceMemo>
  /** The last target nodes: an equal list is replaced by this one, so that each Service compares one reference. */
  nodes?: readonly Node[]
  /** The Services of the last call, in plan order. */
  sorted?: Service[]
  /** The Services of the last call as the snapshot listed them (sortedWith finds what came and went from them). */
  input?: Service[]
}

/** An empty memo. */
export function newPlanMemo(): PlanMemo {
  return {services: new WeakMap()}
}

/** Whether two lists hold the same objects in the same order. */
export function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
