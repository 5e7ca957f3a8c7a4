// Which health probes serve's map uses, kept between changes: a change to one Service adds and removes the probes
// of its own target lists only, instead of handing the health monitor every probe of the map (250,000 at 2,500
// NodePort Services on 100 nodes). Target lists are compared by identity: the serve map memo
// (src/servemap/memo.ts) keeps an unchanged Service's lists, so only a changed Service's lists are new.
import {PortTable} from '../proxy/port-table.js'
import {listChanges} from '../servemap/list-changes.js'
import {probeOf, type Probe, type ProbedTarget, type ServeMap} from '../servemap/types.js'

/**
 * The target lists the data path uses (HTTP routes, listeners, SNI routes), in one array of their number: about
 * 20,000 at 10,000 Services on every change. Unmapped rows are not probed, nor are tunnel gateways (ProbeSet leaves
 * them out). Routes and listeners of one Service port share one list.
 */
export function targetLists(map: Pick<ServeMap, 'http' | 'listeners' | 'tls'>): ProbedTarget[][] {
  const {http, listeners, tls = []} = map
  const lists = new Array<ProbedTarget[]>(http.length + listeners.length + tls.length)
  let i = 0
  for (const route of http) lists[i++] = route.targets
  for (const listener of listeners) lists[i++] = listener.targets
  for (const route of tls) lists[i++] = route.targets
  return lists
}

/** Counts, per probe, the target lists that use it; reports probes that appear or disappear. */
export class ProbeSet {
  private readonly lists = new Set<readonly ProbedTarget[]>()
  /** The lists of the last update, in the map's order (listChanges walks them against the next). */
  private order: ReadonlyArray<readonly ProbedTarget[]> = []
  /** Per address, per slot: how many lists use the probe (a typed-array table: 250,000 of them at issue 20's scale). */
  private readonly uses = new Map<string, PortTable>()

  /**
   * Takes the map's target lists (tunnel gateways are left out: they are not probed); returns the probes no list
   * used before and those no list uses now.
   */
  update(next: ReadonlyArray<readonly ProbedTarget[]>): {added: Probe[]; removed: Probe[]} {
    // The lists that came and went: found in one walk when the map kept most (src/servemap/list-changes.ts), else
    // every list of the last update and this one compared. Lists that came are counted before those that went, so a
    // probe that moves from one list to another is neither added nor removed.
    const changes = listChanges(this.order, next)
    let came: Iterable<readonly ProbedTarget[]>
    let went: Iterable<readonly ProbedTarget[]>
    if (changes) {
      came = changes.came
      went = changes.went
    } else {
      const now = new Set(next)
      const gone = new Set(this.order)
      for (const list of now) gone.delete(list)
      came = now
      went = gone
    }
    const added: Probe[] = []
    const removed: Probe[] = []
    for (const list of came) {
      if (this.lists.has(list)) continue
      this.lists.add(list)
      for (const t of list) if (t.via !== 'api-server' && this.count(t, 1) === 1) added.push(probeOf(t))
    }
    for (const list of went) {
      if (!this.lists.delete(list)) continue
      for (const t of list) if (t.via !== 'api-server' && this.count(t, -1) === 0) removed.push(probeOf(t))
    }
    this.order = next
    return {added, removed}
  }

  /** Adds `by` to the count of the target's probe; returns the new count. */
  private count(target: ProbedTarget, by: number): number {
    const at = target.probe ?? target
    const key = (target.probe?.kind === 'http' ? 0x10000 : 0) | at.port
    let ports = this.uses.get(at.address)
    if (!ports) this.uses.set(at.address, (ports = new PortTable()))
    const n = (ports.get(key) ?? 0) + by
    if (n > 0) ports.set(key, n)
    else {
      ports.delete(key)
      if (ports.size === 0) this.uses.delete(at.address)
    }
    return n
  }
}
