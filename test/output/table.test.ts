import {describe, expect, it} from 'vitest'
import {formatHostTable} from '../../src/output/table.js'
import type {ReportHost} from '../../src/output/report.js'

const host = (name: string, cluster?: string): ReportHost & {cluster?: string} => ({
  ...(cluster ? {cluster} : {}),
  host: name,
  source: {kind: 'Ingress', namespace: 'media', name: 'radarr'},
  tls: true,
  service: {namespace: 'kube-system', name: 'traefik'},
  exposure: 'lb-pending',
  targets: ['127.0.10.1:30443'],
  warnings: [],
})

describe('formatHostTable', () => {
  it('lists one host per row', () => {
    expect(formatHostTable({hosts: [host('radarr.example.com')]}, {wide: false, headers: true}).split('\n')).toEqual([
      'HOST                 SOURCE                 TLS   SERVICE               EXPOSURE     TARGETS',
      'radarr.example.com   Ingress/media/radarr   yes   kube-system/traefik   lb-pending   127.0.10.1:30443',
    ])
  })

  it('puts the CLUSTER column first when the hosts come from several clusters', () => {
    const table = formatHostTable(
      {hosts: [host('a.example.com', 'home'), host('b.example.com', 'lab')]},
      {
        wide: false,
        headers: true,
      },
    )
    expect(table.split('\n').map((line) => line.split(/ {3,}/).slice(0, 2))).toEqual([
      ['CLUSTER', 'HOST'],
      ['home', 'a.example.com'],
      ['lab', 'b.example.com'],
    ])
  })
})
