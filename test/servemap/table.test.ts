import {describe, expect, it} from 'vitest'
import type {ServeRow} from '../../src/servemap/map.js'
import {formatServeTable} from '../../src/servemap/table.js'

const target = (i: number) => ({
  node: `node-${i}`,
  address: `127.0.20.${i}`,
  port: 30080,
  probe: {kind: 'tcp' as const, address: `127.0.20.${i}`, port: 30080},
})
const row = (targets: number, note?: string): ServeRow => ({
  service: 'media/radarr',
  name: 'radarr.kube.internal',
  endpoint: '127.77.1.2:7878',
  mode: 'http',
  targets: Array.from({length: targets}, (_, i) => target(i + 1)),
  ...(note ? {note} : {}),
})

describe('formatServeTable', () => {
  it('lists up to six targets with their health, and counts them beyond', () => {
    const state = (p: {address: string}) => (p.address.endsWith('.2') ? 'down' : 'up') as 'up' | 'down'
    const lines = formatServeTable(
      [
        row(3),
        row(50),
        {
          service: 'monitoring/grafana',
          name: 'grafana.monitoring',
          mode: '-',
          targets: [],
          note: 'cluster-only: not reachable from outside the cluster',
        },
      ],
      state,
    ).split('\n')
    expect(lines).toEqual([
      'NAME                   ADDRESS           MODE   TARGETS',
      'radarr.kube.internal   127.77.1.2:7878   http   node-1(up),node-2(down),node-3(up)',
      'radarr.kube.internal   127.77.1.2:7878   http   50 targets: 49 up, 1 down',
      'grafana.monitoring     -                 -      cluster-only: not reachable from outside the cluster',
    ])
  })
})
