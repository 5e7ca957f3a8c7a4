// `kubectl expose-lb recommend` end to end: the real kubectl finds bin/kubectl-expose_lb on PATH, which reads the
// simulated homelab (3 kubeadm-style nodes on 127.0.10.1-3, no load balancer) and prints the MetalLB step.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'
import {EXIT} from '../../src/errors.js'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'
import {kubectl, writeKubeconfig} from './helpers.js'

const MANIFEST_URL = 'https://raw.githubusercontent.com/metallb/metallb/v0.14.9/config/manifests/metallb-native.yaml'
const CHECK_FREE =
  "warning: check these addresses are free and outside your DHCP range: 127.0.10.240-127.0.10.250 (a guess in 127.0.10.0/24, assuming the nodes' network is a /24)"

let sim: SimServer
let config: string
beforeAll(async () => {
  sim = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML)})
  config = writeKubeconfig(sim.kubeconfig())
})
afterAll(() => sim.close())

describe('kubectl expose-lb recommend', () => {
  it('-o yaml prints only YAML: an IPAddressPool in the nodes’ /24 and an L2Advertisement for it', async () => {
    const run = await kubectl(['expose-lb', 'recommend', '--kubeconfig', config, '-o', 'yaml'])
    expect(run.code).toBe(0)
    const docs = parseAllDocuments(run.stdout)
    if (!Array.isArray(docs)) throw new Error('stdout is not a YAML stream')
    expect(docs.flatMap((doc) => doc.errors)).toEqual([])
    expect(docs.map((doc) => doc.toJS() as unknown)).toEqual([
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: {name: 'expose-lb-pool', namespace: 'metallb-system'},
        spec: {addresses: ['127.0.10.240-127.0.10.250']},
      },
      {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'L2Advertisement',
        metadata: {name: 'expose-lb-l2', namespace: 'metallb-system'},
        spec: {ipAddressPools: ['expose-lb-pool']},
      },
    ])
    // The install command cannot be YAML: it is a comment at the top, with the cluster flags of this run.
    expect(run.stdout).toContain(`#      kubectl --kubeconfig ${config} apply -f ${MANIFEST_URL}\n`)
    expect(run.stdout).toContain(
      '    # check these addresses are free and outside your DHCP range (suggested from 127.0.10.0/24)\n    - 127.0.10.240-127.0.10.250\n',
    )
    expect(run.stderr).toBe(`${CHECK_FREE}\n`)
  })

  it('text: the install command, the apply pipeline, the manifests, and the serve line last', async () => {
    const run = await kubectl(['expose-lb', '--context', 'sim', 'recommend', '--kubeconfig', config])
    expect(run.code).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    const k = `kubectl --kubeconfig ${config} --context sim`
    expect(lines.slice(0, 2)).toEqual([
      'NEXT STEP (metallb): install MetalLB (L2) and give it an address pool',
      'Why: 1 of 1 LoadBalancer Services is pending (1 no-implementation); this cluster has 3 nodes: install MetalLB (L2) and give it a range of free addresses',
    ])
    expect(lines).toContain(`     ${k} apply -f ${MANIFEST_URL}`)
    expect(lines).toContain(
      '2. Give MetalLB the addresses 127.0.10.240-127.0.10.250 and announce them on the node network (L2):',
    )
    expect(lines).toContain(`     ${k} expose-lb recommend -o yaml | ${k} apply -f -`)
    expect(lines).toContain('         - 127.0.10.240-127.0.10.250')
    expect(lines).toContain('       ipAddressPools:')
    expect(lines.at(-1)).toBe('until then, kubectl expose-lb serve maps the names on this workstation.')
    expect(run.stderr).toBe(`${CHECK_FREE}\n`)
  })
})

describe('kubectl expose-lb recommend errors', () => {
  it.each<[string, () => string[], number, RegExp]>([
    [
      'no kubeconfig',
      () => ['--kubeconfig', '/nonexistent/config'],
      EXIT.noKubeconfig,
      /^error: kubeconfig \/nonexistent\/config does not exist/,
    ],
    [
      'an unknown context',
      () => ['--kubeconfig', config, '--context', 'prod'],
      EXIT.unknownContext,
      /^error: context "prod" not found in kubeconfig .*; available: sim$/,
    ],
    [
      'a bad -o value',
      () => ['--kubeconfig', config, '-o', 'json'],
      EXIT.usage,
      /^error: Expected --output=json to be one of: text, yaml/,
    ],
    [
      'an unreachable server',
      () => ['--kubeconfig', writeKubeconfig(sim.kubeconfig().replace(sim.url, 'http://127.0.0.1:1'))],
      EXIT.unreachable,
      /^error: cannot reach the API server of context "sim" at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
    ],
  ])('%s: one line on stderr, its own exit code, nothing on stdout', async (_name, args, code, message) => {
    const run = await kubectl(['expose-lb', 'recommend', ...args()])
    expect(run.code).toBe(code)
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(run.stderr.trimEnd()).toMatch(message)
    expect(run.stdout).toBe('')
  })
})
