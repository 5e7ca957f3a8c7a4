// `serve --demo`: the homelab cluster in-process — the simulated API server plus loopback nodes answering on
// their NodePorts — so serve can be tried without a cluster.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {loadObjectsFromYaml, startSimServer, type SimServer} from './api-server.js'
import {HOMELAB_PENDING_YAML, HOMELAB_YAML} from './homelab.js'
import {LoopbackNodes} from './nodes.js'

export interface Demo {
  sim: SimServer
  nodes: LoopbackNodes
  /** A kubeconfig file pointing at the simulated API server; removed by close(). */
  kubeconfig: string
  /** Re-reads the simulated cluster so nodes listen on new NodePorts (after sim.apply / sim.remove). */
  sync(): Promise<void>
  close(): Promise<void>
}

/** The homelab with its nodes at `<nodePrefix>1..3` (default 127.0.10.x). */
export async function startDemo(options: {nodePrefix?: string} = {}): Promise<Demo> {
  const homelab = `${HOMELAB_YAML}---${HOMELAB_PENDING_YAML}`
  const yaml = options.nodePrefix ? homelab.replaceAll('127.0.10.', options.nodePrefix) : homelab
  const sim = await startSimServer({objects: loadObjectsFromYaml(yaml)})
  const nodes = new LoopbackNodes()
  const dir = mkdtempSync(join(tmpdir(), 'expose-lb-demo-'))
  const kubeconfig = join(dir, 'kubeconfig')
  try {
    writeFileSync(kubeconfig, sim.kubeconfig({contextName: 'demo'}), {mode: 0o600})
    await nodes.sync(sim.objects())
  } catch (error) {
    await nodes.close()
    await sim.close()
    rmSync(dir, {recursive: true, force: true})
    throw error
  }
  return {
    sim,
    nodes,
    kubeconfig,
    sync: () => nodes.sync(sim.objects()),
    async close() {
      await nodes.close()
      await sim.close()
      rmSync(dir, {recursive: true, force: true})
    },
  }
}
