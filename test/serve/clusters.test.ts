import {describe, expect, it} from 'vitest'
import {createLogger} from '../../src/log.js'
import {ClusterSet, type ClusterSource} from '../../src/serve/clusters.js'
import {makeNode, makeSnapshot, nodePortService} from '../builders.js'
import {waitFor} from '../e2e/serve-helpers.js'

const planOptions = {domain: 'kube.internal', addressType: 'InternalIP' as const}

/** A watch whose start fails the first `failures` times it is made, then serves a cluster with radarr. */
function flaky(failures: number): {made: () => number; watch: () => ClusterSource} {
  let made = 0
  return {
    made: () => made,
    watch: () => {
      const attempt = made++
      return {
        start: async () => {
          if (attempt < failures) throw new Error(`connect ECONNREFUSED 127.0.0.1:1 (attempt ${attempt + 1})`)
        },
        snapshot: () =>
          makeSnapshot({
            services: [nodePortService('radarr', [{port: 7878, nodePort: 30878}], {namespace: 'media'})],
            nodes: [makeNode('n', '127.0.10.1')],
          }),
        stop: async () => {},
      }
    },
  }
}

function logger() {
  const lines: string[] = []
  return {lines, log: createLogger({write: (t) => lines.push(t.trimEnd()), color: false})}
}

describe('ClusterSet', () => {
  it('serves the clusters that answer, retries the one that does not in the background, and says so', async () => {
    const {lines, log} = logger()
    const away = flaky(2)
    let changes = 0
    const set = new ClusterSet(
      [
        {context: 'home', label: 'home', watch: flaky(0).watch},
        {context: 'lab', label: 'lab', watch: away.watch},
      ],
      {log, onChange: () => changes++, retryInitialMs: 5, retryMaxMs: 10},
    )
    await set.start()
    expect(set.plan(planOptions).services.map((s) => `${s.cluster}/${s.name}`)).toEqual(['home/radarr'])
    expect(set.status()).toEqual([
      {context: 'home', label: 'home', state: 'serving'},
      {context: 'lab', label: 'lab', state: 'retrying', error: 'connect ECONNREFUSED 127.0.0.1:1 (attempt 1)'},
    ])
    expect(lines).toEqual([
      'warning: context "lab": connect ECONNREFUSED 127.0.0.1:1 (attempt 1); serving the other clusters, trying this one again in the background',
    ])
    await waitFor(() => changes === 1, 2000, 'the lab cluster')
    expect(away.made()).toBe(3)
    expect(lines[1]).toEqual('context "lab": connected; its Services are served as lab')
    expect(set.plan(planOptions).services.map((s) => s.names[0])).toEqual([
      'radarr.media.home.kube.internal',
      'radarr.media.lab.kube.internal',
    ])
    await set.stop()
  })

  it('fails at start only when no cluster answers, with the first error', async () => {
    const {log} = logger()
    const set = new ClusterSet(
      [
        {context: 'a', label: 'a', watch: flaky(9).watch},
        {context: 'b', label: 'b', watch: flaky(9).watch},
      ],
      {log, onChange: () => {}},
    )
    await expect(set.start()).rejects.toThrow('connect ECONNREFUSED 127.0.0.1:1 (attempt 1)')
    await set.stop()
  })
})
