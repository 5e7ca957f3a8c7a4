import {describe, expect, it} from 'vitest'
import type {Node, Service} from '../../src/plan/types.js'
import {formatRanges, parseIPv4, suggestRange, type RangeSuggestion} from '../../src/lb/range.js'
import {makeNode, makeService} from '../builders.js'

function ipv6Node(name: string, ip: string): Node {
  return makeNode(name, '', {
    addresses: [
      {type: 'InternalIP', address: ip},
      {type: 'Hostname', address: name},
    ],
  })
}

describe('suggestRange', () => {
  it.each<[string, {nodes: Node[]; services?: Service[]}, RangeSuggestion]>([
    [
      'nodes in one /24 get .240–.250 of it',
      {nodes: [makeNode('a', '192.168.1.10'), makeNode('b', '192.168.1.11'), makeNode('c', '192.168.1.12')]},
      {ok: true, subnet: '192.168.1.0/24', ranges: [{start: '192.168.1.240', end: '192.168.1.250'}], notes: []},
    ],
    [
      'nodes in several /24s get the most common one, and are told so',
      {nodes: [makeNode('a', '10.0.1.5'), makeNode('b', '10.0.2.5'), makeNode('c', '10.0.2.6')]},
      {
        ok: true,
        subnet: '10.0.2.0/24',
        ranges: [{start: '10.0.2.240', end: '10.0.2.250'}],
        notes: [
          'the nodes are in several /24 networks (10.0.2.0/24: 2 nodes, 10.0.1.0/24: 1 node): the block is in 10.0.2.0/24, the most common',
        ],
      },
    ],
    [
      'a tie between /24s goes to the first node’s',
      {nodes: [makeNode('a', '10.0.9.5'), makeNode('b', '10.0.2.5')]},
      {
        ok: true,
        subnet: '10.0.9.0/24',
        ranges: [{start: '10.0.9.240', end: '10.0.9.250'}],
        notes: [
          'the nodes are in several /24 networks (10.0.9.0/24: 1 node, 10.0.2.0/24: 1 node): the block is in 10.0.9.0/24, the most common',
        ],
      },
    ],
    [
      'node addresses inside the block are skipped, splitting it',
      {nodes: [makeNode('a', '192.168.1.10'), makeNode('b', '192.168.1.245'), makeNode('c', '192.168.1.250')]},
      {
        ok: true,
        subnet: '192.168.1.0/24',
        ranges: [
          {start: '192.168.1.240', end: '192.168.1.244'},
          {start: '192.168.1.246', end: '192.168.1.249'},
        ],
        notes: ['2 addresses of .240–.250 already in use left out'],
      },
    ],
    [
      'a node ExternalIP and Service external and load-balancer IPs in the block are skipped too',
      {
        nodes: [
          makeNode('a', '192.168.1.10', {
            addresses: [
              {type: 'InternalIP', address: '192.168.1.10'},
              {type: 'ExternalIP', address: '192.168.1.240'},
            ],
          }),
        ],
        services: [
          makeService('web', {externalIPs: ['192.168.1.241']}),
          makeService('dns', {type: 'LoadBalancer', loadBalancerIngress: [{ip: '192.168.1.250'}, {hostname: 'x'}]}),
        ],
      },
      {
        ok: true,
        subnet: '192.168.1.0/24',
        ranges: [{start: '192.168.1.242', end: '192.168.1.249'}],
        notes: ['3 addresses of .240–.250 already in use left out'],
      },
    ],
    [
      'IPv6-only nodes: no range',
      {nodes: [ipv6Node('a', 'fd00::10'), ipv6Node('b', 'fd00::11')]},
      {
        ok: false,
        reason:
          'no node has an IPv4 InternalIP (IPv6-only, or addresses not reported), so no IPv4 range can be suggested',
      },
    ],
    [
      'dual-stack nodes use their IPv4 InternalIP',
      {
        nodes: [
          makeNode('a', '', {
            addresses: [
              {type: 'InternalIP', address: 'fd00::10'},
              {type: 'InternalIP', address: '10.1.2.3'},
            ],
          }),
        ],
      },
      {ok: true, subnet: '10.1.2.0/24', ranges: [{start: '10.1.2.240', end: '10.1.2.250'}], notes: []},
    ],
    [
      'a node without an IPv4 InternalIP is left out and named as such',
      {nodes: [makeNode('a', '192.168.1.10'), ipv6Node('b', 'fd00::11')]},
      {
        ok: true,
        subnet: '192.168.1.0/24',
        ranges: [{start: '192.168.1.240', end: '192.168.1.250'}],
        notes: ['1 node without an IPv4 InternalIP left out'],
      },
    ],
    [
      'a node being deleted does not choose the subnet',
      {nodes: [makeNode('a', '10.0.1.5'), makeNode('old', '10.0.7.5', {deleting: true})]},
      {ok: true, subnet: '10.0.1.0/24', ranges: [{start: '10.0.1.240', end: '10.0.1.250'}], notes: []},
    ],
    ['no nodes: no range', {nodes: []}, {ok: false, reason: 'no nodes could be seen, so their subnet is unknown'}],
    [
      'every address of the block taken: no range',
      {
        nodes: Array.from({length: 11}, (_, i) => makeNode(`n${i}`, `10.0.0.${240 + i}`)),
      },
      {ok: false, reason: 'every address from .240 to .250 of 10.0.0.0/24 is used by a node or a Service'},
    ],
  ])('%s', (_name, input, expected) => {
    expect(suggestRange(input)).toEqual(expected)
  })
})

describe('formatRanges', () => {
  it('writes a-b runs joined by the separator', () => {
    const ranges = [
      {start: '10.0.0.240', end: '10.0.0.244'},
      {start: '10.0.0.246', end: '10.0.0.246'},
    ]
    expect(formatRanges(ranges)).toBe('10.0.0.240-10.0.0.244,10.0.0.246-10.0.0.246')
    expect(formatRanges(ranges, ', ')).toBe('10.0.0.240-10.0.0.244, 10.0.0.246-10.0.0.246')
  })
})

describe('parseIPv4', () => {
  it.each<[string, number[] | undefined]>([
    ['192.168.1.10', [192, 168, 1, 10]],
    ['010.0.0.1', [10, 0, 0, 1]],
    ['256.0.0.1', undefined],
    ['1.2.3', undefined],
    ['fd00::1', undefined],
    ['node-a', undefined],
    ['', undefined],
  ])('%s', (text, expected) => {
    expect(parseIPv4(text)).toEqual(expected)
  })
})
