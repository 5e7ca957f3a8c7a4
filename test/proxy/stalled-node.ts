// A node that never answers a connect: its listening socket's accept queue is full and nothing accepts, so the kernel
// drops every further SYN (net/ipv4/tcp_input.c tcp_conn_request: a full accept queue drops the SYN) and a connect
// to it waits until the connecting side gives up. The listener runs in a worker thread whose event loop stays busy
// waiting, so Node never accepts for it; the connections that fill its queue come from here.
import net from 'node:net'
import {Worker} from 'node:worker_threads'

import {onTestFinished} from 'vitest'

const LISTENER = `
const net = require('node:net')
const {parentPort, workerData} = require('node:worker_threads')
const server = net.createServer()
server.listen({host: workerData.host, port: 0, backlog: 1}, () => {
  parentPort.postMessage(server.address().port)
  const stop = new Int32Array(workerData.stop)
  while (Atomics.load(stop, 0) === 0) Atomics.wait(stop, 0, 0, 50)
  server.close()
})
`

/** Listens on `host` and fills the accept queue; later connects to the port hang. Cleanup is registered. */
export async function stalledNode(host: string): Promise<{port: number}> {
  const stop = new SharedArrayBuffer(4)
  const worker = new Worker(LISTENER, {eval: true, workerData: {host, stop}})
  const fillers: net.Socket[] = []
  onTestFinished(async () => {
    for (const socket of fillers) socket.destroy()
    Atomics.store(new Int32Array(stop), 0, 1)
    Atomics.notify(new Int32Array(stop), 0)
    await worker.terminate()
  })
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  // Connect until one does not get through: the queue is full from then on.
  for (;;) {
    const socket = net.connect({host, port})
    socket.on('error', () => {})
    fillers.push(socket)
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 300)
      socket.once('connect', () => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    if (!connected) return {port}
    if (fillers.length > 64) throw new Error(`the accept queue of ${host}:${port} never filled`)
  }
}
