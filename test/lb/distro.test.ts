import {describe, expect, it} from 'vitest'
import {
  detectDistro,
  parseNodeArgs,
  rke2ServiceLbEnabledBy,
  serviceLbDisabledBy,
  type Distro,
} from '../../src/lb/distro.js'
import type {Node} from '../../src/plan/types.js'
import {makeNode} from '../builders.js'

function node(overrides: Partial<Node> = {}, name = 'node1'): Node {
  return makeNode(name, '192.168.1.10', overrides)
}

function withNodeArgs(args: unknown, key = 'k3s.io/node-args'): Node {
  return node({annotations: {[key]: JSON.stringify(args)}}, 'server1')
}

describe('detectDistro', () => {
  it.each<[string, Node[], Distro]>([
    ['a k3s providerID means k3s', [node({providerID: 'k3s://node1'})], 'k3s'],
    ['a k3d providerID means k3s', [node({providerID: 'k3s://k3d-dev-server-0'})], 'k3s'],
    ['the instance-type label k3s means k3s', [node({labels: {'node.kubernetes.io/instance-type': 'k3s'}})], 'k3s'],
    [
      'the beta instance-type label k3s means k3s',
      [node({labels: {'beta.kubernetes.io/instance-type': 'k3s'}})],
      'k3s',
    ],
    ['a +k3s kubelet version means k3s', [node({kubeletVersion: 'v1.35.4+k3s1'})], 'k3s'],
    ['a k3s.io annotation means k3s', [node({annotations: {'k3s.io/internal-ip': '192.168.1.10'}})], 'k3s'],
    ['an rke2 providerID means rke2', [node({providerID: 'rke2://node1'})], 'rke2'],
    ['the instance-type label rke2 means rke2', [node({labels: {'node.kubernetes.io/instance-type': 'rke2'}})], 'rke2'],
    ['a +rke2 kubelet version means rke2', [node({kubeletVersion: 'v1.33.1+rke2r1'})], 'rke2'],
    ['an rke2.io annotation means rke2', [node({annotations: {'rke2.io/hostname': 'node1'}})], 'rke2'],
    ['a kind providerID means kind', [node({providerID: 'kind://docker/kind/kind-control-plane'})], 'kind'],
    ['a minikube.k8s.io label means minikube', [node({labels: {'minikube.k8s.io/name': 'minikube'}})], 'minikube'],
    ['the microk8s.io/cluster label means microk8s', [node({labels: {'microk8s.io/cluster': 'true'}})], 'microk8s'],
    ['a Talos osImage means talos', [node({osImage: 'Talos (v1.10.4)'})], 'talos'],
    ['a node named docker-desktop means docker-desktop', [node({}, 'docker-desktop')], 'docker-desktop'],
    ['a plain kubeadm node is unknown', [node({kubeletVersion: 'v1.34.1', osImage: 'Ubuntu 24.04.2 LTS'})], 'unknown'],
    ['no nodes is unknown', [], 'unknown'],
    [
      'a label whose value merely spells the k3s key=value is not k3s (the Zarf bug)',
      [node({labels: {'example.com/note': 'node.kubernetes.io/instance-type=k3s'}})],
      'unknown',
    ],
    [
      'the instance-type label of a cloud is not k3s',
      [node({labels: {'node.kubernetes.io/instance-type': 'm5.large'}})],
      'unknown',
    ],
    ['one k3s node among plain ones makes the cluster k3s', [node({}, 'a'), node({providerID: 'k3s://b'}, 'b')], 'k3s'],
  ])('%s', (_name, nodes, expected) => {
    expect(detectDistro(nodes)).toBe(expected)
  })
})

describe('serviceLbDisabledBy', () => {
  it.each<[string, unknown, {node: string; flag: string} | undefined]>([
    [
      '--disable followed by servicelb',
      ['server', '--disable', 'servicelb'],
      {node: 'server1', flag: '--disable servicelb'},
    ],
    ['--disable=servicelb', ['server', '--disable=servicelb'], {node: 'server1', flag: '--disable=servicelb'}],
    [
      '--disable followed by a comma list',
      ['server', '--disable', 'traefik,servicelb'],
      {node: 'server1', flag: '--disable traefik,servicelb'},
    ],
    [
      '--disable= with a comma list and spaces',
      ['server', '--disable=traefik, servicelb'],
      {node: 'server1', flag: '--disable=traefik, servicelb'},
    ],
    [
      'a repeated --disable flag',
      ['server', '--disable', 'traefik', '--disable', 'servicelb'],
      {node: 'server1', flag: '--disable servicelb'},
    ],
    [
      '--disable-cloud-controller',
      ['server', '--disable-cloud-controller'],
      {node: 'server1', flag: '--disable-cloud-controller'},
    ],
    [
      '--disable-cloud-controller=true',
      ['server', '--disable-cloud-controller=true'],
      {node: 'server1', flag: '--disable-cloud-controller=true'},
    ],
    [
      'the old --no-deploy spelling',
      ['server', '--no-deploy', 'servicelb'],
      {node: 'server1', flag: '--no-deploy servicelb'},
    ],
    ['--disable of something else', ['server', '--disable', 'traefik'], undefined],
    ['servicelb as a stray positional argument', ['server', '--disable', 'traefik', 'servicelb'], undefined],
    ['--disable-cloud-controller=false', ['server', '--disable-cloud-controller=false'], undefined],
    ['--disable-network-policy', ['server', '--disable-network-policy'], undefined],
    ['a servicelb option that is not --disable', ['server', '--servicelb-namespace', 'servicelb'], undefined],
    ['--disable as the last argument', ['server', '--disable'], undefined],
    ['an agent', ['agent', '--server', 'https://10.0.0.1:6443'], undefined],
  ])('reads %s', (_name, args, expected) => {
    expect(serviceLbDisabledBy([withNodeArgs(args)])).toEqual(expected)
  })

  it('names the first node whose arguments disable ServiceLB', () => {
    const agent = node({annotations: {'k3s.io/node-args': '["agent"]'}}, 'agent1')
    expect(serviceLbDisabledBy([agent, withNodeArgs(['server', '--disable=servicelb'])])).toEqual({
      node: 'server1',
      flag: '--disable=servicelb',
    })
  })

  it('ignores rke2.io/node-args', () => {
    expect(serviceLbDisabledBy([withNodeArgs(['server', '--disable=servicelb'], 'rke2.io/node-args')])).toBeUndefined()
  })
})

describe('rke2ServiceLbEnabledBy', () => {
  it.each<[string, unknown, {node: string; flag: string} | undefined]>([
    ['--enable-servicelb', ['server', '--enable-servicelb'], {node: 'server1', flag: '--enable-servicelb'}],
    [
      '--enable-servicelb=true',
      ['server', '--enable-servicelb=true'],
      {node: 'server1', flag: '--enable-servicelb=true'},
    ],
    ['the documented --serviceLB', ['server', '--serviceLB'], {node: 'server1', flag: '--serviceLB'}],
    ['--enable-servicelb=false', ['server', '--enable-servicelb=false'], undefined],
    ['no flag', ['server'], undefined],
  ])('reads %s', (_name, args, expected) => {
    expect(rke2ServiceLbEnabledBy([withNodeArgs(args, 'rke2.io/node-args')])).toEqual(expected)
  })
})

describe('parseNodeArgs', () => {
  it.each<[string, string | undefined, string[]]>([
    ['a JSON array of strings', '["server","--disable","servicelb"]', ['server', '--disable', 'servicelb']],
    ['a missing annotation', undefined, []],
    ['text that is not JSON', '--disable servicelb', []],
    ['JSON that is not an array', '{"disable":"servicelb"}', []],
    [
      'an array with non-strings, keeping the strings',
      '["server",1,null,"--disable=servicelb"]',
      ['server', '--disable=servicelb'],
    ],
  ])('reads %s', (_name, raw, expected) => {
    expect(parseNodeArgs(raw)).toEqual(expected)
  })
})
