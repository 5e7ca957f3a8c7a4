// Every manifest in test/fixtures/real-world (copied from public homelab repos and issues, see each file's
// "# Source:" line) goes through the converter and the planner: none may crash, and each gets the exposure,
// modes and targets a user of that cluster would expect.
import {readFileSync, readdirSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'
import {toNode, toService} from '../../src/kube/convert.js'
import {buildPlan} from '../../src/plan/plan.js'
import type {Service} from '../../src/plan/types.js'
import {makeNode, makeSlice, makeSnapshot} from '../builders.js'

const dir = new URL('../fixtures/real-world/', import.meta.url)

function load(file: string): unknown[] {
  return parseAllDocuments(readFileSync(new URL(file, dir), 'utf8'))
    .map((d) => d.toJS() as unknown)
    .filter(Boolean)
}

/** Manifests leave nodePort out; the API server allocates one. Do the same, deterministically. */
function allocateNodePorts(svc: Service): Service {
  if (svc.type !== 'NodePort' && svc.type !== 'LoadBalancer') return svc
  let next = 31000
  return {...svc, ports: svc.ports.map((p) => (p.nodePort ? p : {...p, nodePort: next++}))}
}

const nodes = [makeNode('node-a', '192.168.1.11'), makeNode('node-b', '192.168.1.12')]

/** `name:port/PROTO:mode:targets` for each port. */
function summary(file: string, slices = [] as ReturnType<typeof makeSlice>[]) {
  const services = load(file)
    .filter((o) => (o as {kind?: string}).kind === 'Service')
    .map((o) => allocateNodePorts(toService(o)))
  const plan = buildPlan(makeSnapshot({services, nodes, endpointSlices: slices}), {
    domain: 'kube.internal',
    addressType: 'InternalIP',
  })
  return plan.services.map((s) => ({
    svc: `${s.namespace}/${s.name}`,
    exposure: s.exposure,
    ports: s.ports.map((p) => `${p.name ?? ''}:${p.port}/${p.protocol}:${p.mode}:${p.targets.length}`),
  }))
}

describe('real-world fixtures', () => {
  it('has the fixture files this suite expects', () => {
    expect(readdirSync(dir).filter((f) => f.endsWith('.yaml')).length).toBe(10)
  })

  it.each<[string, ReturnType<typeof summary>]>([
    [
      '01-k3s-traefik-svc-ipv6-ingress.issue-k3s-5600.yaml',
      [{svc: 'kube-system/traefik', exposure: 'lb-ready', ports: ['web:80/TCP:http:0', 'websecure:443/TCP:tcp:0']}],
    ],
    [
      '07-pihole-nodeport-dns-dhcp.SP0Fs-k3s-manifests.yaml',
      [
        {
          svc: 'pihole/pihole-service',
          exposure: 'node-port',
          ports: [
            'dns-tcp:53/TCP:tcp:2',
            'dns-udp:53/UDP:udp:2',
            'dhcp:67/UDP:udp:2',
            'http:80/TCP:http:2',
            'https:443/TCP:tcp:2',
          ],
        },
      ],
    ],
    [
      '09-jellyfin-lb-mixed-tcp-udp.kj800x-homelab.yaml',
      [
        {
          svc: 'jellyfin/jellyfin',
          exposure: 'lb-pending',
          ports: [
            'http-default:80/TCP:http:2',
            'http:8096/TCP:http:2',
            'https:8920/TCP:tcp:2',
            'dlna:1900/UDP:udp:2',
            'discovery:7359/UDP:udp:2',
          ],
        },
      ],
    ],
    [
      '11-plex-lb-mixed-many-udp-metallb.JacquesEhlers-homecluster.yaml',
      [
        {
          svc: 'jmedia/plex-discovery',
          exposure: 'lb-pending',
          ports: [
            'tcp-32400:32400/TCP:tcp:2',
            'tcp-32469:32469/TCP:tcp:2',
            'tcp-3005:3005/TCP:tcp:2',
            'tcp-8324:8324/TCP:tcp:2',
            'udp-1900:1900/UDP:udp:2',
            'udp-32469:32469/UDP:udp:2',
            'udp-32410:32410/UDP:udp:2',
            'udp-32412:32412/UDP:udp:2',
            'udp-32413:32413/UDP:udp:2',
            'udp-32414:32414/UDP:udp:2',
          ],
        },
        {svc: 'jmedia/plex-web', exposure: 'lb-pending', ports: ['web:80/TCP:http:2']},
      ],
    ],
    [
      '13-unifi-clusterip-externalips-many-ports.shaman007-home-k3s.yaml',
      [
        {
          svc: 'unifi/unifi',
          exposure: 'cluster-only',
          ports: [
            'unifi-8443:8443/TCP:tcp:0',
            'unifi-3478:3478/UDP:udp:0',
            'unifi-10001:10001/UDP:udp:0',
            'unifi-8080:8080/TCP:http:0',
            'unifi-1900:1900/UDP:udp:0',
            'unifi-8843:8843/TCP:tcp:0',
            'unifi-8880:8880/TCP:tcp:0',
            'unifi-6789:6789/TCP:tcp:0',
            'unifi-5514:5514/UDP:udp:0',
          ],
        },
      ],
    ],
    [
      '15-unifi-k3s-servicelb.ludorl82-k3s-iac-public.yaml',
      [{svc: 'unifi/unifi', exposure: 'lb-pending', ports: ['https:8443/TCP:tcp:2', 'inform:8080/TCP:http:2']}],
    ],
    [
      '17-gitea-http-clusterip-ssh-lb-no-selector.lentzi90-personal-cloud.yaml',
      [
        {svc: 'default/gitea', exposure: 'cluster-only', ports: ['http:80/TCP:http:0']},
        {svc: 'default/gitea-ssh', exposure: 'lb-pending', ports: ['ssh:22/TCP:tcp:2']},
      ],
    ],
    [
      '19-minecraft-nodeport-external-dns.kj800x-homelab.yaml',
      [
        {
          svc: 'minecraft/minecraft-lb',
          exposure: 'node-port',
          ports: ['minecraft:25565/TCP:tcp:2', 'rcon:25575/TCP:tcp:2'],
        },
      ],
    ],
  ])('%s', (file, expected) => {
    expect(summary(file)).toEqual(expected)
  })

  it('05: pihole with externalTrafficPolicy Local targets only the node running pihole', () => {
    const file = '05-pihole-metallb-tcp-udp-etp-local-k3s.issue-MoJo2600-pihole-kubernetes-20.yaml'
    expect(summary(file)).toEqual([
      {
        svc: 'default/pihole-tcp',
        exposure: 'lb-pending',
        ports: ['pihole-http:9888/TCP:tcp:0', 'pihole-dns-tcp:53/TCP:tcp:0'],
      },
      {svc: 'default/pihole-udp', exposure: 'lb-pending', ports: ['pihole-dns-udp:53/UDP:udp:0']},
    ])
    const slices = [makeSlice('pihole-tcp', [{nodeName: 'node-b'}]), makeSlice('pihole-udp', [{nodeName: 'node-b'}])]
    expect(summary(file, slices).map((s) => s.ports)).toEqual([
      ['pihole-http:9888/TCP:tcp:1', 'pihole-dns-tcp:53/TCP:tcp:1'],
      ['pihole-dns-udp:53/UDP:udp:1'],
    ])
  })

  it('01: the IPv6-only traefik Service keeps its IPv6 ingress and family', () => {
    const [svc] = load('01-k3s-traefik-svc-ipv6-ingress.issue-k3s-5600.yaml').map(toService)
    expect(svc).toMatchObject({
      ipFamilies: ['IPv6'],
      loadBalancerIngress: [{ip: '2600:1f1c:ab4:ee48:b0e8:6e19:17b:1cc7'}],
    })
  })

  it('03: the k3s node converts with its labels, annotations and addresses', () => {
    const node = toNode(load('03-k3s-node-labels-v1.35.issue-k3s-14028.yaml')[0])
    expect(node.name).toBe('server1')
    expect(node.labels['node.kubernetes.io/instance-type']).toBe('k3s')
    const plan = buildPlan(makeSnapshot({nodes: [node]}), {domain: 'kube.internal', addressType: 'InternalIP'})
    expect(plan.nodes).toEqual([{name: 'server1', ready: node.ready, addresses: node.addresses, eligible: true}])
  })
})
