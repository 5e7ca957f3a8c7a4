import {describe, expect, it} from 'vitest'
import {zoneProblem} from '../../src/plan/zone.js'

describe('zoneProblem', () => {
  it.each<[string, string | undefined]>([
    ['kube.internal', undefined],
    ['kube.home.arpa', undefined],
    ['lab.example.com', undefined],
    ['k8s.local', undefined],
    ['com', '"com" is a single label: serving it would capture every name under .com'],
    ['internal', '"internal" is a single label: serving it would capture every name under .internal'],
    ['localhost', '"localhost" is a single label: serving it would capture every name under .localhost'],
    ['arpa', '"arpa" is a single label: serving it would capture every name under .arpa'],
    ['co.uk', '"co.uk" is a public suffix: serving it would capture names that belong to others'],
    ['home.arpa', '"home.arpa" is a public suffix: serving it would capture names that belong to others'],
    ['github.io', '"github.io" is a public suffix: serving it would capture names that belong to others'],
  ])('%s → %s', (zone, problem) => {
    expect(zoneProblem(zone)).toBe(problem)
  })
})
