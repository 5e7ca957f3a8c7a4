// Why a LoadBalancer Service is pending, end to end: the real kubectl runs the plugin against the simulator loaded
// with the k3s ServiceLB port conflict of the research's example E1 (test/fixtures/pending/k3s-port-conflict.yaml).
import {readFileSync} from 'node:fs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {EXIT} from '../../src/errors.js'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {startDemo} from '../../src/sim/demo.js'
import {kubectl, writeKubeconfig} from './helpers.js'

const FIXTURE = readFileSync(new URL('../fixtures/pending/k3s-port-conflict.yaml', import.meta.url), 'utf8')
const FREE_PORTS =
  "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 2 Preemption is not helpful for scheduling."
const MESSAGE =
  'its svclb pods cannot be scheduled: ports 80/TCP, 443/TCP are already taken on the nodes, held by Service kube-system/traefik (80/TCP, 443/TCP)'

let sim: SimServer
let config: string
beforeAll(async () => {
  sim = await startSimServer({
    objects: loadObjectsFromYaml(FIXTURE),
    tokens: {'admin-token': 'admin', 'no-events-token': 'no-events'},
    rbac: {
      admin: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}],
      // Everything but Events, in either group.
      'no-events': [
        {apiGroups: [''], resources: ['services', 'nodes', 'pods', 'configmaps'], verbs: ['get', 'list', 'watch']},
        {apiGroups: ['discovery.k8s.io', 'apps', 'networking.k8s.io'], resources: ['*'], verbs: ['get', 'list']},
      ],
    },
  })
  config = writeKubeconfig(sim.kubeconfig({token: 'admin-token'}))
})
afterAll(() => sim.close())

describe('list: why a Service is pending', () => {
  it('-o json puts the diagnosis, with the evidence quoted, on the pending Service only', async () => {
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', config, '-o', 'json'])
    expect(run.code).toBe(0)
    const report = JSON.parse(run.stdout)
    const nginx = report.services.find((s: {name: string}) => s.name === 'ingress-nginx-controller')
    expect(nginx.exposure).toBe('lb-pending')
    expect(nginx.pending).toEqual({
      reason: 'servicelb-port-conflict',
      message: MESSAGE,
      fix: expect.stringContaining('(k3s: `--disable=traefik`)'),
      evidence: [
        `Pod kube-system/svclb-ingress-nginx-controller-cfddc8d6-4dfjw: Warning FailedScheduling from default-scheduler: ${FREE_PORTS}`,
        'svclb pods not ready: kube-system/svclb-ingress-nginx-controller-cfddc8d6-2vn82 (Pending), kube-system/svclb-ingress-nginx-controller-cfddc8d6-4dfjw (Pending), kube-system/svclb-ingress-nginx-controller-cfddc8d6-lw6gv (Pending)',
        'Service kube-system/traefik holds 80/TCP, 443/TCP: svclb pods ready: svclb-traefik-57d28a11-czhkk on k3d-vyking-dev-agent-0, svclb-traefik-57d28a11-q4n8v on k3d-vyking-dev-agent-1, svclb-traefik-57d28a11-x7m2p on k3d-vyking-dev-server-0',
      ],
    })
    const traefik = report.services.find((s: {name: string}) => s.name === 'traefik')
    expect(traefik.exposure).toBe('lb-ready')
    expect(traefik).not.toHaveProperty('pending')
  })

  it('-o wide has a WHY column, and the header says how many are pending and why', async () => {
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', config, '-o', 'wide'])
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    const at = lines.findIndex((l) => l.startsWith('PENDING: '))
    expect(lines.slice(at, at + 2)).toEqual([
      'PENDING: 1 of 2 LoadBalancer Services',
      `  WHY: servicelb-port-conflict: ingress-nginx/ingress-nginx-controller: ${MESSAGE}`,
    ])
    expect(
      lines
        .find((l) => l.startsWith('NAMESPACE'))
        ?.split(/ {3,}/)
        .at(-1),
    ).toBe('WHY')
    const row = lines.find((l) => l.startsWith('ingress-nginx '))
    expect(row?.split(/ {3,}/).at(-1)).toBe(`servicelb-port-conflict: ${MESSAGE}`)
    expect(
      lines
        .find((l) => l.startsWith('kube-system '))
        ?.split(/ {3,}/)
        .at(-1),
    ).toBe('<none>')
  })

  it('without the right to list Events, says which read was forbidden and still finds the pods', async () => {
    const file = writeKubeconfig(sim.kubeconfig({token: 'no-events-token'}))
    const run = await kubectl(['expose-lb', 'list', '--kubeconfig', file, '-n', 'ingress-nginx', '-o', 'json'])
    expect(run.code).toBe(0)
    const [nginx] = JSON.parse(run.stdout).services
    expect(nginx.pending).toMatchObject({
      reason: 'servicelb-port-conflict',
      unavailable: ['list events (core and events.k8s.io) (forbidden)'],
    })
    // No event to quote: the pod's PodScheduled condition says the same.
    expect(nginx.pending.evidence[0]).toBe(
      `Pod kube-system/svclb-ingress-nginx-controller-cfddc8d6-2vn82: PodScheduled False Unschedulable: ${FREE_PORTS}`,
    )
  })
})

describe('kubectl expose-lb explain', () => {
  it('prints one Service like kubectl describe, with the diagnosis and its evidence', async () => {
    const run = await kubectl([
      'expose-lb',
      'explain',
      'ingress-nginx-controller',
      '-n',
      'ingress-nginx',
      '--kubeconfig',
      config,
    ])
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines.slice(0, 4)).toEqual([
      'Name:           ingress-nginx-controller',
      'Namespace:      ingress-nginx',
      'Type:           LoadBalancer',
      'Exposure:       lb-pending',
    ])
    expect(lines).toContain(
      'Ports:          http 80:32765/TCP (http) -> 172.18.0.3:32765, 172.18.0.4:32765, 172.18.0.2:32765',
    )
    expect(lines).toContain('  Reason:       servicelb-port-conflict')
    expect(lines).toContain(`  Message:      ${MESSAGE}`)
    expect(lines).toContain(
      `    Pod kube-system/svclb-ingress-nginx-controller-cfddc8d6-4dfjw: Warning FailedScheduling from default-scheduler: ${FREE_PORTS}`,
    )
    expect(lines.find((l) => l.startsWith('  Fix:'))).toMatch(/^ {2}Fix: +give this Service other ports/)
  })

  it('-o json and -o yaml print the same document, holding the Service as list has it', async () => {
    const args = ['expose-lb', '--kubeconfig', config, 'explain', 'ingress-nginx-controller', '-n', 'ingress-nginx']
    const [json, yaml, list] = await Promise.all([
      kubectl([...args, '-o', 'json']),
      kubectl([...args, '-o', 'yaml']),
      kubectl(['expose-lb', 'list', '--kubeconfig', config, '-n', 'ingress-nginx', '-o', 'json']),
    ])
    const doc = JSON.parse(json.stdout)
    expect(parse(yaml.stdout)).toEqual(doc)
    expect(doc).toMatchObject({apiVersion: 'expose-lb/v1', kind: 'ServiceExplanation', context: 'sim'})
    expect(doc.service).toEqual(JSON.parse(list.stdout).services[0])
  })

  it('an unknown Service is one line saying where it looked, exit code usage', async () => {
    const run = await kubectl(['expose-lb', 'explain', 'nope', '--kubeconfig', config])
    expect(run.code).toBe(EXIT.usage)
    expect(run.stderr.trimEnd()).toBe(
      'error: service "nope" not found in namespace "default": see the Services there with `kubectl expose-lb list -n default`',
    )
    expect(run.stdout).toBe('')
  })
})

describe('the demo cluster', () => {
  it('has a pending Service whose reason list shows', async () => {
    const demo = await startDemo({nodePrefix: '127.0.47.'})
    try {
      const run = await kubectl(['expose-lb', 'list', '--kubeconfig', demo.kubeconfig, '-o', 'wide', '-n', 'home'])
      expect(run.code).toBe(0)
      const row = run.stdout.split('\n').find((l) => l.startsWith('home '))
      expect(row?.split(/ {3,}/).at(-1)).toBe(
        'class-not-served: spec.loadBalancerClass is io.cilium/l2-announcer, and no load balancer found here takes that class; the default ones ignore a Service with a class',
      )
    } finally {
      await demo.close()
    }
  })
})

describe('recommend counts the pending Services', () => {
  it('ServiceLB serving one Service and leaving one pending on three nodes: MetalLB, said with numbers', async () => {
    const reason =
      'k3s ServiceLB serves 1 of 2 LoadBalancer Services; 1 is pending (1 servicelb-port-conflict): their ports collide on every node; MetalLB gives each Service its own address'
    const [text, yaml, list] = await Promise.all([
      kubectl(['expose-lb', 'recommend', '--kubeconfig', config]),
      kubectl(['expose-lb', 'recommend', '--kubeconfig', config, '-o', 'yaml']),
      kubectl(['expose-lb', 'list', '--kubeconfig', config]),
    ])
    expect(text.code).toBe(0)
    expect(text.stdout.split('\n').slice(0, 2)).toEqual([
      'NEXT STEP (metallb): install MetalLB (L2) and give it an address pool',
      `Why: ${reason}`,
    ])
    expect(yaml.stdout).toContain('kind: IPAddressPool')
    expect(list.stdout).toContain(
      `RECOMMENDATION: metallb: ${reason}; until then, \`kubectl expose-lb serve\` maps the names on this workstation`,
    )
  })
})
