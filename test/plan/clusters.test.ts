import {describe, expect, it} from 'vitest'
import {clusterLabel, clusterLabels, mergeClusterPlans} from '../../src/plan/clusters.js'
import {buildPlan} from '../../src/plan/plan.js'
import type {Service} from '../../src/plan/types.js'
import {makeNode, makeService, makeSnapshot, nodePortService} from '../builders.js'

const domain = 'kube.internal'
const plan = (node: string, services: Service[]) =>
  buildPlan(makeSnapshot({services, nodes: [makeNode(node, node === 'home-1' ? '127.0.10.1' : '127.0.20.1')]}), {
    domain,
    addressType: 'InternalIP',
  })
const radarr = nodePortService('radarr', [{port: 7878, nodePort: 30878}], {namespace: 'media'})
const radarrTest = nodePortService('radarr', [{port: 7878, nodePort: 31878}], {namespace: 'staging'})
const sonarr = nodePortService('sonarr', [{port: 8989, nodePort: 30989}], {namespace: 'media'})
const homer = nodePortService('homer', [{port: 8080, nodePort: 30080}], {
  annotations: {'expose-lb/hostname': 'start'},
})
const homerTest = nodePortService('homer', [{port: 8080, nodePort: 31080}], {
  annotations: {'expose-lb/hostname': 'start'},
})
const grafana = makeService('grafana', {namespace: 'monitoring'})

describe('clusterLabel', () => {
  it.each([
    ['home', 'home'],
    ['kind-test', 'kind-test'],
    ['Admin@Home', 'admin-home'],
    ['arn:aws:eks:eu-west-1:123456789012:cluster/prod', 'arn-aws-eks-eu-west-1-123456789012-cluster-prod'],
    ['--x--', 'x'],
    ['###', 'cluster'],
    [`${'a'.repeat(62)}-b`, 'a'.repeat(62)],
  ])('%s → %s', (context, label) => {
    expect(clusterLabel(context)).toEqual(label)
  })
})

describe('clusterLabels', () => {
  it('takes --cluster-name where given, clusterLabel elsewhere', () => {
    expect(clusterLabels(['kind-test', 'home'], ['kind-test=test'])).toEqual({
      labels: new Map([
        ['kind-test', 'test'],
        ['home', 'home'],
      ]),
    })
  })
  it.each([
    [['home'], ['home'], /--cluster-name "home" is not CONTEXT=LABEL/],
    [['home'], ['home=a.b'], /--cluster-name "home=a.b" is not CONTEXT=LABEL/],
    [['home'], ['lab=lab'], /--cluster-name "lab=lab": no context "lab" is being served \(contexts: home\)/],
    [
      ['Home', 'home'],
      [],
      /contexts "Home" and "home" both become the cluster name "home" — give one its own with --cluster-name home=<label>/,
    ],
  ])('refuses %j with %j', (contexts, overrides, error) => {
    const result = clusterLabels(contexts, overrides)
    expect('error' in result && result.error).toMatch(error)
  })
})

describe('mergeClusterPlans', () => {
  const merged = mergeClusterPlans(
    [
      {label: 'home', plan: plan('home-1', [radarr, sonarr, homer, grafana])},
      {label: 'test', plan: plan('test-1', [radarrTest, homerTest])},
    ],
    domain,
  )
  const names = (cluster: string, ns: string, name: string) =>
    merged.services.find((s) => s.cluster === cluster && s.namespace === ns && s.name === name)?.names

  it('gives every mapped Service its cluster-qualified name first', () => {
    expect(names('home', 'media', 'radarr')?.[0]).toEqual('radarr.media.home.kube.internal')
    expect(names('test', 'staging', 'radarr')?.[0]).toEqual('radarr.staging.test.kube.internal')
  })

  it('keeps <svc>.<ns>.<domain> and <svc>.<domain> only while unique across clusters', () => {
    expect(names('home', 'media', 'radarr')).toEqual(['radarr.media.home.kube.internal', 'radarr.media.kube.internal'])
    expect(names('test', 'staging', 'radarr')).toEqual([
      'radarr.staging.test.kube.internal',
      'radarr.staging.kube.internal',
    ])
    expect(names('home', 'media', 'sonarr')).toEqual([
      'sonarr.media.home.kube.internal',
      'sonarr.media.kube.internal',
      'sonarr.kube.internal',
    ])
  })

  it('takes a name two clusters claim from both, and says so on each and in the plan', () => {
    expect(names('home', 'default', 'homer')).toEqual(['homer.default.home.kube.internal'])
    expect(names('test', 'default', 'homer')).toEqual(['homer.default.test.kube.internal'])
    expect(merged.services.find((s) => s.cluster === 'home' && s.name === 'homer')?.warnings).toContain(
      'name homer.kube.internal is also claimed by test/default/homer; skipped (the Service keeps homer.default.home.kube.internal)',
    )
    expect(merged.warnings).toEqual(
      expect.arrayContaining([
        'name radarr.kube.internal is claimed by home/media/radarr and test/staging/radarr: none of them gets it',
        'name homer.default.kube.internal is claimed by home/default/homer and test/default/homer: none of them gets it',
        'name start.kube.internal is claimed by home/default/homer and test/default/homer: none of them gets it',
      ]),
    )
  })

  it('leaves unmapped Services without names, marks every Service with its cluster, prefixes nodes', () => {
    expect(names('home', 'monitoring', 'grafana')).toEqual([])
    expect(merged.services.map((s) => s.cluster)).toEqual(['home', 'home', 'home', 'home', 'test', 'test'])
    expect(merged.nodes.map((n) => n.name)).toEqual(['home/home-1', 'test/test-1'])
  })

  it('refuses a name that is another cluster’s qualified name', () => {
    const sneaky = nodePortService('x', [{port: 80, nodePort: 30001}], {
      annotations: {'expose-lb/hostname': 'radarr.media.home.kube.internal'},
    })
    const result = mergeClusterPlans(
      [
        {label: 'home', plan: plan('home-1', [radarr])},
        {label: 'test', plan: plan('test-1', [sneaky])},
      ],
      domain,
    )
    const x = result.services.find((s) => s.name === 'x')!
    expect(x.names).not.toContain('radarr.media.home.kube.internal')
    expect(result.services.find((s) => s.name === 'radarr')?.names).toContain('radarr.media.home.kube.internal')
  })
})
