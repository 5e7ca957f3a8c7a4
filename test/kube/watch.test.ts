// ClusterWatch against the simulated API server's faults: the watch survives 500, 429, 410, a hung watch and a
// corrupt watch line, keeps the last known objects meanwhile, and afterwards holds exactly what a fresh start reads.
import {afterEach, describe, expect, it} from 'vitest'
import {ApiClient} from '../../src/kube/client.js'
import {loadKubeConfig} from '../../src/kube/kubeconfig.js'
import {readSnapshot} from '../../src/kube/snapshot.js'
import {ClusterWatch} from '../../src/kube/watch.js'
import {
  loadObjectsFromYaml,
  startSimServer,
  type Fault,
  type FaultRequest,
  type SimServer,
} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {writeKubeconfig} from '../e2e/helpers.js'
import {waitFor} from '../e2e/serve-helpers.js'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function setUp(options: {rewatchMs?: number} = {}) {
  const sim = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML)})
  cleanups.push(() => sim.close())
  const {kc, context, server} = loadKubeConfig({kubeconfig: writeKubeconfig(sim.kubeconfig())})
  const api = new ApiClient(kc, context, server)
  const logs: string[] = []
  /** The Services in the snapshot at each "watch restored" line: the map it calls current. */
  const restoredWith: string[][] = []
  let changes = 0
  const watch: ClusterWatch = new ClusterWatch({
    kc,
    api,
    log: (l) => {
      logs.push(l)
      if (l.startsWith('watch restored')) restoredWith.push(names(watch))
    },
    onChange: () => changes++,
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    random: () => 0.5,
    ...options,
  })
  cleanups.push(() => watch.stop())
  await watch.start()
  return {sim, watch, logs, restoredWith, changes: () => changes}
}

/** What the log says happened: 'watch lost', 'watch restored', … */
const transitions = (logs: string[]) => logs.map((l) => /^watch \w+/.exec(l)?.[0] ?? l)

/** Counts the watch requests the simulator gets from now on (and lets `refuse` answer some of them). */
function countWatches(sim: SimServer, refuse: (req: FaultRequest) => Fault | undefined = () => undefined) {
  let count = 0
  sim.setFault((req) => {
    if (req.watch) count++
    return refuse(req)
  })
  return () => count
}

const names = (w: ClusterWatch) =>
  w
    .snapshot()
    .services.map((s) => `${s.namespace}/${s.name}`)
    .sort()

/** What a fresh start reads now: a second watch on the same server. */
async function fresh(sim: SimServer): Promise<string[]> {
  const {kc, context, server} = loadKubeConfig({kubeconfig: writeKubeconfig(sim.kubeconfig())})
  const w = new ClusterWatch({kc, api: new ApiClient(kc, context, server), log: () => {}, onChange: () => {}})
  await w.start()
  const result = names(w)
  await w.stop()
  return result
}

const svc = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {namespace: 'default', name},
  spec: {type: 'NodePort', ports: [{port: 80, nodePort: 30999}]},
})

describe('ClusterWatch', () => {
  it('follows adds and deletes', async () => {
    const {sim, watch} = await setUp()
    sim.apply(svc('added'))
    await waitFor(() => names(watch).includes('default/added'), 5000, 'add')
    sim.remove('v1', 'Service', 'added', 'default')
    await waitFor(() => !names(watch).includes('default/added'), 5000, 'delete')
  })

  it('lists a kind again only after an event of that kind: the snapshots between share its list', async () => {
    const {sim, watch, changes} = await setUp()
    const first = watch.snapshot()
    const again = watch.snapshot()
    expect(again.services).toBe(first.services)
    expect(again.nodes).toBe(first.nodes)
    expect(again.endpointSlices).toBe(first.endpointSlices)
    const before = changes()
    sim.apply(svc('added'))
    await waitFor(() => changes() > before, 5000, 'the add')
    const after = watch.snapshot()
    expect(after.services).not.toBe(first.services)
    expect(after.services.map((s) => s.name)).toContain('added')
    expect(after.services).toHaveLength(first.services.length + 1)
    expect(after.nodes).toBe(first.nodes)
  })

  it.each<[string, Fault]>([
    ['500', {status: 500}],
    ['429', {status: 429}],
  ])(
    'after %s answers keeps the last objects, reconnects with backoff and matches a fresh start',
    async (_name, fault) => {
      const {sim, watch, logs} = await setUp()
      const before = names(watch)
      sim.setFault(() => fault)
      sim.dropWatches()
      await waitFor(() => logs.some((l) => l.startsWith('watch lost')), 5000, 'watch lost')
      expect(names(watch)).toEqual(before) // the last known map stays
      sim.remove('v1', 'Service', 'radarr', 'media')
      sim.apply(svc('during-outage'))
      sim.compact()
      sim.setFault(undefined)
      await waitFor(() => logs.some((l) => l.startsWith('watch restored')), 10_000, 'watch restored')
      await waitFor(() => names(watch).includes('default/during-outage'), 5000, 'resync')
      expect(names(watch)).toEqual(await fresh(sim))
      expect(names(watch)).not.toContain('media/radarr')
      expect(logs.filter((l) => l.startsWith('watch lost'))).toHaveLength(1)
    },
  )

  // The watch empties the objects the informer keeps once converted (keepIdentityOnly): what it offers must stay what
  // a one-off read converts, on every read, across a relist that finds the same versions, and after a change.
  it('offers what a one-off read converts, read again, after a relist and after a change', async () => {
    const {sim, watch} = await setUp()
    const {kc, context, server} = loadKubeConfig({kubeconfig: writeKubeconfig(sim.kubeconfig())})
    const api = new ApiClient(kc, context, server)
    const byName = <T extends {name: string; namespace?: string}>(list: T[]) =>
      [...list].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))
    const same = async () => {
      const read = await readSnapshot(api)
      const now = watch.snapshot()
      expect(byName(now.services)).toEqual(byName(read.services))
      expect(byName(now.nodes)).toEqual(byName(read.nodes))
      expect(byName(now.endpointSlices)).toEqual(byName(read.endpointSlices))
      expect(now.services.length).toBeGreaterThan(0)
    }
    await same()
    await same()
    sim.compact()
    sim.dropWatches() // resumes from a compacted version: 410, and the relist finds every object unchanged
    sim.apply(svc('after-relist'))
    await waitFor(() => names(watch).includes('default/after-relist'), 5000, 'relist')
    await same()
    sim.apply({...svc('after-relist'), spec: {type: 'NodePort', ports: [{port: 81, nodePort: 30998}]}})
    await waitFor(
      () => watch.snapshot().services.some((s) => s.name === 'after-relist' && s.ports[0]?.port === 81),
      5000,
      'change',
    )
    await same()
  })

  it('relists after an in-stream 410 (resourceVersion too old)', async () => {
    const {sim, watch} = await setUp()
    sim.remove('v1', 'Service', 'homer', 'default')
    sim.compact()
    sim.dropWatches() // the informer resumes from a compacted resourceVersion and gets 410 Expired
    sim.apply(svc('after-compaction'))
    await waitFor(() => names(watch).includes('default/after-compaction'), 5000, 'relist')
    expect(names(watch)).toEqual(await fresh(sim))
  })

  it('relists after 410 answers to the watch request itself', async () => {
    const {sim, watch, logs} = await setUp()
    let gone = 0
    sim.setFault((req) => (req.watch && gone++ < 3 ? {status: 410} : undefined))
    sim.remove('v1', 'Service', 'mosquitto', 'iot')
    sim.dropWatches()
    await waitFor(() => gone >= 3, 5000, '410 answers')
    await waitFor(() => !names(watch).includes('iot/mosquitto'), 5000, 'relist')
    expect(names(watch)).toEqual(await fresh(sim))
    expect(logs).toEqual([]) // a 410 is the normal "relist" signal, not an outage
  })

  it('survives a corrupt watch line', async () => {
    const {sim, watch} = await setUp()
    let corrupted = 0
    sim.setFault((req) => (req.watch && corrupted++ < 2 ? {corruptWatchLine: true} : undefined))
    sim.dropWatches()
    await waitFor(() => corrupted >= 2, 5000, 'corrupt lines sent')
    sim.apply(svc('after-corruption'))
    await waitFor(() => names(watch).includes('default/after-corruption'), 5000, 'events again')
  })

  it('restarts a watch that hangs without closing', async () => {
    const {sim, watch} = await setUp({rewatchMs: 300})
    let hung = 0
    sim.setFault((req) => (req.watch && hung++ < 3 ? 'hang' : undefined))
    sim.dropWatches()
    await waitFor(() => hung >= 3, 5000, 'hung watches')
    sim.apply(svc('after-hang'))
    await waitFor(() => names(watch).includes('default/after-hang'), 5000, 'events after the hang')
  })

  it('re-watches periodically without reporting it, and a re-watch after a stall relists on 410 Gone', async () => {
    const {sim, watch, logs} = await setUp({rewatchMs: 150})
    let stalled = 0
    // The next watch of each resource stalls: a 200, then silence, as over a half-open connection.
    const watches = countWatches(sim, () => (stalled++ < 3 ? 'hang' : undefined))
    sim.dropWatches()
    await waitFor(() => stalled >= 3, 5000, 'stalled watches')
    // Missed while stalled and compacted away: the re-watch resumes from a resourceVersion the server no longer
    // has, gets 410 Gone, and the informer relists.
    sim.remove('v1', 'Service', 'homer', 'default')
    sim.compact()
    await waitFor(() => !names(watch).includes('default/homer'), 5000, 'the relist after 410')
    const before = watches()
    await waitFor(() => watches() >= before + 9, 10_000, 'three more rounds of re-watches')
    sim.apply(svc('after-rewatches'))
    await waitFor(() => names(watch).includes('default/after-rewatches'), 5000, 'events after the re-watches')
    expect(names(watch)).toEqual(await fresh(sim))
    expect(logs).toEqual([])
  })

  it('reports an outage once, as one "watch lost" and one "watch restored", even when it ends in stages', async () => {
    const {sim, watch, logs} = await setUp({rewatchMs: 100})
    sim.setFault(() => ({status: 503}))
    sim.dropWatches()
    await waitFor(() => logs.length > 0, 5000, 'watch lost')
    sim.remove('v1', 'Service', 'homer', 'default')
    sim.compact()
    // Watches come back first (and, resuming from a compacted resourceVersion, get 410 Gone); lists a little later.
    let listsRefused = 0
    sim.setFault((req) => (!req.watch && listsRefused++ < 6 ? {status: 503} : undefined))
    await waitFor(() => logs.length >= 2, 10_000, 'watch restored')
    await waitFor(() => !names(watch).includes('default/homer'), 5000, 'the resync')
    const watches = countWatches(sim)
    await waitFor(() => watches() >= 9, 10_000, 'three rounds of re-watches after the outage')
    expect(transitions(logs)).toEqual(['watch lost', 'watch restored'])
  })

  it('says "watch restored" only once the map is current: a Service deleted while watches were refused is gone', async () => {
    const {sim, watch, logs, restoredWith} = await setUp()
    sim.setFault((req) => (req.watch ? {status: 503} : undefined)) // lists still answer, watches do not
    sim.dropWatches()
    await waitFor(() => logs.length > 0, 5000, 'watch lost')
    sim.remove('v1', 'Service', 'homer', 'default')
    sim.compact() // the events of the window are gone: a watch resuming from before it gets 410 Gone
    // Every resource is refused a watch after the delete too, so the window is longer than any one retry.
    const refusedAfter = new Set<string>()
    sim.setFault((req) => (req.watch ? (refusedAfter.add(req.path), {status: 503}) : undefined))
    // Services, Nodes, EndpointSlices, and the Ingress kinds serve watches for hosts (IngressClasses, Ingresses).
    await waitFor(() => refusedAfter.size >= 5, 5000, 'a refused watch of each resource after the delete')
    expect(names(watch)).toContain('default/homer') // meanwhile the last known map stays
    sim.setFault(undefined)
    await waitFor(() => restoredWith.length > 0, 10_000, 'watch restored')
    expect(restoredWith[0]).not.toContain('default/homer')
    expect(restoredWith).toEqual([await fresh(sim)])
    expect(transitions(logs)).toEqual(['watch lost', 'watch restored'])
  })

  it('fails start() with the first error when the cluster cannot be read', async () => {
    const sim = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML)})
    cleanups.push(() => sim.close())
    sim.setFault(() => ({status: 403}))
    const {kc, context, server} = loadKubeConfig({kubeconfig: writeKubeconfig(sim.kubeconfig())})
    const watch = new ClusterWatch({kc, api: new ApiClient(kc, context, server), log: () => {}, onChange: () => {}})
    cleanups.push(() => watch.stop())
    await expect(watch.start()).rejects.toMatchObject({code: 'forbidden'})
  })
})
