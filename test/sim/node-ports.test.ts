// The simulator allocates NodePorts as kube-apiserver does: from the default range 30000-32767 only, a taken or
// out-of-range port refused with the real server's message, and no more than the range's 2,768 ports in a cluster.
import {describe, expect, it, onTestFinished} from 'vitest'
import {startSimServer, type KubeObject, type SimServer} from '../../src/sim/api-server.js'
import {SimApiError} from '../../src/sim/node-ports.js'

async function start(objects: KubeObject[] = []): Promise<SimServer> {
  const sim = await startSimServer({objects})
  onTestFinished(() => sim.close())
  return sim
}

function service(
  name: string,
  ports: Array<{port: number; nodePort?: number; protocol?: string}>,
  extra: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {name, namespace: 'apps'},
    spec: {type: 'NodePort', ports, ...extra},
  }
}

const nodePorts = (o: KubeObject) => (o.spec as {ports: Array<{nodePort?: number}>}).ports.map((p) => p.nodePort)

/** The Status a refused write carries, or undefined when it went through. */
function refusal(write: () => unknown): {code: number; reason: string; message: string} | undefined {
  try {
    write()
    return undefined
  } catch (error) {
    if (!(error instanceof SimApiError)) throw error
    return {code: error.status.code, reason: error.status.reason, message: error.status.message}
  }
}

describe('NodePort allocation', () => {
  it('hands out the lowest free ports of 30000-32767 and keeps them across updates', async () => {
    const sim = await start([service('held', [{port: 80, nodePort: 30001}])])
    const a = sim.apply(service('a', [{port: 80}, {port: 443}]))
    expect(nodePorts(a)).toEqual([30000, 30002])
    // An update without nodePorts keeps the ones the ports had; a new port gets the next free one.
    const again = sim.apply(service('a', [{port: 443}, {port: 80}, {port: 8080}]))
    expect(nodePorts(again)).toEqual([30002, 30000, 30003])
  })

  it('refuses a NodePort another Service holds with the real message, and changes nothing', async () => {
    const sim = await start([service('web', [{port: 80, nodePort: 30080}])])
    expect(refusal(() => sim.apply(service('api', [{port: 8080}, {port: 9090, nodePort: 30080}])))).toEqual({
      code: 422,
      reason: 'Invalid',
      message:
        'Service "api" is invalid: spec.ports[1].nodePort: Invalid value: 30080: provided port is already allocated',
    })
    expect(sim.objects().some((o) => o.metadata.name === 'api')).toBe(false)
    // The port it would have been given automatically is still free.
    expect(nodePorts(sim.apply(service('other', [{port: 1}])))).toEqual([30000])
  })

  it('lets one Service use a port number for TCP and UDP, and reuse its own port on update', async () => {
    const sim = await start()
    const dns = sim.apply(
      service('dns', [
        {port: 53, protocol: 'UDP', nodePort: 30053},
        {port: 53, protocol: 'TCP', nodePort: 30053},
      ]),
    )
    expect(nodePorts(dns)).toEqual([30053, 30053])
    expect(nodePorts(sim.apply(service('dns', [{port: 53, protocol: 'UDP', nodePort: 30053}])))).toEqual([30053])
  })

  it('refuses a NodePort outside the range with the real message', async () => {
    const sim = await start()
    expect(refusal(() => sim.apply(service('low', [{port: 80, nodePort: 20000}])))).toEqual({
      code: 422,
      reason: 'Invalid',
      message:
        'Service "low" is invalid: spec.ports[0].nodePort: Invalid value: 20000: provided port is not in the valid range. The range of valid ports is 30000-32767',
    })
  })

  it('frees the ports of a deleted Service, of one that is no longer a NodePort, and of one that moved', async () => {
    const sim = await start([
      service('gone', [{port: 80, nodePort: 30100}]),
      service('now-cluster-ip', [{port: 80, nodePort: 30101}]),
      service('moved', [{port: 80, nodePort: 30102}]),
    ])
    sim.remove('v1', 'Service', 'gone', 'apps')
    sim.apply({...service('now-cluster-ip', [{port: 80}]), spec: {type: 'ClusterIP', ports: [{port: 80}]}})
    sim.apply(service('moved', [{port: 80, nodePort: 30200}]))
    for (const [i, port] of [30100, 30101, 30102].entries()) {
      expect(nodePorts(sim.apply(service(`taker-${i}`, [{port: 80, nodePort: port}])))).toEqual([port])
    }
  })

  it('has room for 2,768 NodePorts and no more: the next one fails as a full range does', async () => {
    const sim = await start()
    for (let i = 0; i < 2768; i++) sim.apply(service(`s-${i}`, [{port: 80}]))
    const used = new Set(sim.objects().flatMap((o) => (o.kind === 'Service' ? nodePorts(o) : [])))
    expect(used.size).toBe(2768)
    expect(Math.min(...(used as Set<number>))).toBe(30000)
    expect(Math.max(...(used as Set<number>))).toBe(32767)
    expect(refusal(() => sim.apply(service('one-more', [{port: 80}])))).toEqual({
      code: 500,
      reason: 'InternalError',
      message: 'Internal error occurred: failed to allocate a nodePort: range is full',
    })
    // A LoadBalancer with externalTrafficPolicy Local needs a healthCheckNodePort too: nothing left for it either.
    sim.remove('v1', 'Service', 's-0', 'apps')
    const local = service('local', [{port: 80}], {type: 'LoadBalancer', externalTrafficPolicy: 'Local'})
    expect(refusal(() => sim.apply(local))?.reason).toBe('InternalError')
    expect(nodePorts(sim.apply(service('fits', [{port: 80}])))).toEqual([30000])
  })
})
