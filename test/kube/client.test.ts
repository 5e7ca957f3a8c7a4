// ApiClient against the simulated API server: a token-file's token is sent as it is now, not as it was at start.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {openCluster} from '../../src/kube/session.js'
import {loadObjectsFromYaml, startSimServer, type SimServer} from '../../src/sim/api-server.js'
import {HOMELAB_YAML} from '../../src/sim/homelab.js'

const tokens: Record<string, string> = {'token-of-the-first-hour': 'me'}
let sim: SimServer
let dir: string
beforeAll(async () => {
  sim = await startSimServer({objects: loadObjectsFromYaml(HOMELAB_YAML), tokens})
  dir = mkdtempSync(join(tmpdir(), 'token-file-'))
})
afterAll(async () => {
  await sim.close()
  rmSync(dir, {recursive: true, force: true})
})

describe('ApiClient with a token-file', () => {
  it('reads the token from the file beside the kubeconfig and follows its rotation', async () => {
    const kubeconfig = join(dir, 'config')
    writeFileSync(kubeconfig, sim.kubeconfig({token: 'placeholder'}).replace('token: placeholder', 'token-file: token'))
    writeFileSync(join(dir, 'token'), 'token-of-the-first-hour\n')
    const api = openCluster({kubeconfig})
    const read = () => api.get<{items: unknown[]}>({path: '/api/v1/nodes', verb: 'list', resource: 'nodes'})
    expect((await read()).items).toHaveLength(3)

    // The kubelet rotates a projected token: the new one is valid, the old one is not.
    tokens['token-of-the-second-hour'] = 'me'
    delete tokens['token-of-the-first-hour']
    writeFileSync(join(dir, 'token'), 'token-of-the-second-hour\n')
    expect((await read()).items).toHaveLength(3)
    expect(sim.requests.filter((r) => r.status === 401)).toEqual([])
  })
})
