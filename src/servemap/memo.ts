// What one buildServeMap call keeps for the next, so that a change to one Service rebuilds that Service's share of
// the map only. A plain object the caller owns and passes back in (serve's loop keeps one); the map stays a pure
// function of its inputs: with or without a memo it is equal, and with one, unchanged Services keep the same
// routes, listeners, rows and target lists (which lets DNS, the health checks and the change log skip them).
import type {PlannedService} from '../plan/types.js'
import type {Assignment} from './addresses.js'
import type {HostReceiver} from './hosts.js'
import type {GatewayAddress} from './tunnels.js'
import type {ForwardListener, HttpRoute, ServeRow, SrvRecord, TlsRoute} from './types.js'

/**
 * One Service's share of the map, in the order buildServeMap adds it: replaying the parts of all Services in plan
 * order builds the same map, so a part can be kept while its inputs stay the same.
 */
export interface ServicePart {
  /**
   * The Service's DNS names (its planned `names`), which all answer `answer`: absent when they are not in DNS. Two
   * fields rather than a [name, answer] pair per name, 20,000 of them at 10,000 Services (./assemble.ts pairs them).
   */
  names: readonly string[]
  answer?: string[]
  srv: Array<[string, SrvRecord[]]>
  http: HttpRoute[]
  tls: TlsRoute[]
  receiver?: [string, HostReceiver]
  listeners: ForwardListener[]
  rows: ServeRow[]
  warnings: string[]
}

/** A Service's inputs besides its planned object: its address, and per port its gateway and RBAC refusal. */
export interface PartInputs {
  assigned?: string
  unheld?: string
  gateways: Array<GatewayAddress | undefined>
  denied: Array<string | undefined>
}

/** A kept part with its Service's key, the tunnel keys of its ports, and the inputs it was built from. */
export interface KeptPart {
  id: string
  tunnelKeys: string[]
  inputs: PartInputs
  part: ServicePart
}

export interface ServeMapMemo {
  /** The options every part depends on, as text: when they change, no part is kept. */
  context?: string
  /** Parts by planned Service, with the Service's own inputs (address, gateways) they were built from. */
  parts: WeakMap<PlannedService, KeptPart>
  /** The answer of serve's own names (the dashboard's and the apex): the router's address, one array while it stays. */
  reserved?: {router: string; answer: string[]}
  /** The last per-service addresses and the keys and range they were assigned for. */
  addresses?: Assignment
  /**
   * The DNS maps of the last call and the parts they were assembled from, in map order: the next call patches them
   * in place for the parts that came and went (./assemble.ts). Undefined when they cannot be patched (the last map
   * had Ingress hosts, or a name two parts share: the full assembly lets the later one win).
   */
  assembled?: AssembledDns
}

/** DNS maps and the parts they hold (see ServeMapMemo.assembled). */
export interface AssembledDns {
  parts: ServicePart[]
  /** The answer of serve's own names the maps hold (ServeMapMemo.reserved). */
  reserved: string[]
  hosts: Map<string, string[]>
  srv: Map<string, SrvRecord[]>
}

/** An empty memo. */
export function newServeMapMemo(): ServeMapMemo {
  return {parts: new WeakMap()}
}

/** Forgets every part when `context` (the options every part depends on, as text) is not the last one. */
export function forgetOnChange(memo: ServeMapMemo, context: string): void {
  if (memo.context === context) return
  memo.context = context
  memo.parts = new WeakMap()
  memo.assembled = undefined
}
