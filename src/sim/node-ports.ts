// The NodePort allocator of the simulated API server, as kube-apiserver's: one range for the whole cluster
// (--service-node-port-range, default 30000-32767, so at most 2,768 NodePorts), a requested port must be in it and
// free, a missing one gets a free one, and the errors carry the real server's words
// (kubernetes pkg/registry/core/service/portallocator/allocator.go ErrFull, ErrAllocated, ErrNotInRange; the
// storage layer, pkg/registry/core/service/storage/alloc.go, wraps them as below). A Service may use one port number
// for TCP and UDP alike (the DNS pattern), as the real allocator lets one Service do.
import {statusBody} from './status.js'

/** The default --service-node-port-range of kube-apiserver. */
export const NODE_PORT_RANGE = {first: 30000, last: 32767} as const

/** A write the API server refuses: `status` is the Status body a client would get (422 Invalid, 500 InternalError). */
export class SimApiError extends Error {
  constructor(readonly status: ReturnType<typeof statusBody>) {
    super(status.message)
    this.name = 'SimApiError'
  }
}

/** The ports of a Service spec the allocator looks at. */
export interface NodePortSpec {
  healthCheckNodePort?: number
  ports?: Array<{nodePort?: number}>
}

const RANGE_TEXT = `${NODE_PORT_RANGE.first}-${NODE_PORT_RANGE.last}`

function invalid(service: string, field: string, port: number, why: string): SimApiError {
  const message = `Service "${service}" is invalid: ${field}: Invalid value: ${port}: ${why}`
  const causes = [{reason: 'FieldValueInvalid', message: `Invalid value: ${port}: ${why}`, field}]
  return new SimApiError(statusBody(422, 'Invalid', message, {name: service, kind: 'Service', causes}))
}

/** NodePorts in use, each with the Service (its store key) holding it. */
export class NodePortAllocator {
  private readonly owners = new Map<number, string>()
  /** Where the lowest-free search starts: every port below it is taken (deterministic, so tests can predict it). */
  private lowestFree: number = NODE_PORT_RANGE.first

  /** The Service holding `port`, if any. */
  owner(port: number): string | undefined {
    return this.owners.get(port)
  }

  /**
   * Fills in and takes the NodePorts of `spec` for Service `owner` (named `name` in messages): ports it already
   * holds (`previous`) are kept for the same Service port, the rest come from the range. Checks every requested
   * port before taking any, so a refused write changes nothing; ports `previous` held that `spec` drops are freed.
   * `keep(i)` gives the NodePort the Service's i-th port had before (a re-apply without nodePort keeps it).
   */
  allocate(
    owner: string,
    name: string,
    spec: NodePortSpec,
    previous: NodePortSpec | undefined,
    keep: (i: number) => number | undefined,
    wantsHealthCheck: boolean,
  ): void {
    const ports = spec.ports ?? []
    const requested: Array<{field: string; port: number}> = ports.flatMap((p, i) =>
      p.nodePort === undefined ? [] : [{field: `spec.ports[${i}].nodePort`, port: p.nodePort}],
    )
    if (wantsHealthCheck && spec.healthCheckNodePort !== undefined)
      requested.push({field: 'spec.healthCheckNodePort', port: spec.healthCheckNodePort})
    for (const {field, port} of requested) {
      if (!Number.isInteger(port) || port < NODE_PORT_RANGE.first || port > NODE_PORT_RANGE.last) {
        throw invalid(
          name,
          field,
          port,
          `provided port is not in the valid range. The range of valid ports is ${RANGE_TEXT}`,
        )
      }
      const holder = this.owners.get(port)
      if (holder !== undefined && holder !== owner)
        throw invalid(name, field, port, 'provided port is already allocated')
    }
    // Ports of this Service that stay: its requested ones, then those kept from before.
    const mine = new Set(requested.map((r) => r.port))
    const kept = ports.map((p, i) => (p.nodePort === undefined ? keep(i) : undefined))
    for (const port of kept) if (port !== undefined) mine.add(port)
    let missing = kept.filter((port, i) => port === undefined && ports[i]!.nodePort === undefined).length
    if (wantsHealthCheck && spec.healthCheckNodePort === undefined && previous?.healthCheckNodePort === undefined) {
      missing++
    }
    const fresh = this.free(missing, mine)
    if (fresh.length < missing) {
      const message = 'Internal error occurred: failed to allocate a nodePort: range is full'
      throw new SimApiError(statusBody(500, 'InternalError', message, {causes: [{message}]}))
    }
    ports.forEach((p, i) => {
      p.nodePort ??= kept[i] ?? fresh.shift()!
    })
    if (wantsHealthCheck) spec.healthCheckNodePort ??= previous?.healthCheckNodePort ?? fresh.shift()!
    this.release(owner, previous)
    for (const port of nodePortsOf(spec)) this.owners.set(port, owner)
  }

  /** Frees every NodePort `spec` holds for `owner` (a deleted Service, or the old state of an updated one). */
  release(owner: string, spec: NodePortSpec | undefined): void {
    for (const port of nodePortsOf(spec)) {
      if (this.owners.get(port) !== owner) continue
      this.owners.delete(port)
      if (port < this.lowestFree) this.lowestFree = port
    }
  }

  /** Up to `count` free ports, lowest first, other than `taken`. */
  private free(count: number, taken: Set<number>): number[] {
    const out: number[] = []
    if (count === 0) return out
    while (this.lowestFree <= NODE_PORT_RANGE.last && this.owners.has(this.lowestFree)) this.lowestFree++
    for (let port = this.lowestFree; port <= NODE_PORT_RANGE.last && out.length < count; port++) {
      if (!this.owners.has(port) && !taken.has(port)) out.push(port)
    }
    return out
  }
}

function nodePortsOf(spec: NodePortSpec | undefined): number[] {
  const ports = (spec?.ports ?? []).flatMap((p) => (p.nodePort === undefined ? [] : [p.nodePort]))
  return spec?.healthCheckNodePort === undefined ? ports : [...ports, spec.healthCheckNodePort]
}
