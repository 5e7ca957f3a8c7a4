import net from 'node:net'
import {describe, expect, it} from 'vitest'
import {EXIT} from '../../src/errors.js'
import {
  bindError,
  listenWarning,
  ServeRuntime,
  type RuntimeOptions,
  type SnapshotSource,
} from '../../src/serve/runtime.js'
import type {ForwardListener} from '../../src/servemap/types.js'
import {makeSnapshot} from '../builders.js'

const errno = (code: string) => Object.assign(new Error(code), {code})
const listener: ForwardListener = {
  service: 'dns/pihole',
  address: '127.77.1.2',
  port: 53,
  protocol: 'UDP',
  mode: 'udp',
  targets: [],
}

describe('bindError', () => {
  it.each([
    [
      'EACCES',
      'cannot bind DNS on 127.0.0.1:53/udp: permission denied — run with sudo; or `sudo setcap cap_net_bind_service=+ep "$(command -v node)"`; or `sudo sysctl net.ipv4.ip_unprivileged_port_start=53`; or use --dns-port 5353 --http-port 8080',
    ],
    [
      'EADDRINUSE',
      'cannot bind DNS on 127.0.0.1:53/udp: address already in use — stop what holds it, or use --dns-port 5353 --http-port 8080',
    ],
    ['EADDRNOTAVAIL', 'cannot bind DNS on 127.0.0.1:53/udp: address not available on this machine — check --listen'],
  ])('%s names the address, port and remedies in one line', (code, message) => {
    const error = bindError('DNS', '127.0.0.1', 53, 'udp', errno(code))
    expect({code: error.code, exitCode: EXIT[error.code], message: error.message}).toEqual({
      code: 'bind',
      exitCode: 10,
      message,
    })
  })
})

describe('listenWarning', () => {
  it('names the fix for a privileged per-service port, with the sysctl value that port needs', () => {
    expect(listenWarning({...listener, port: 22, protocol: 'TCP'}, errno('EACCES'))).toBe(
      'dns/pihole: cannot listen on 127.77.1.2:22/tcp: permission denied; ports below 1024 need privilege: run with sudo; or `sudo setcap cap_net_bind_service=+ep "$(command -v node)"`; or `sudo sysctl net.ipv4.ip_unprivileged_port_start=22`',
    )
  })

  it('says what else went wrong in the words of the OS (a port in use is given up whole: ServeRuntime)', () => {
    expect(listenWarning(listener, errno('EADDRNOTAVAIL'))).toMatch(
      /^dns\/pihole: cannot listen on 127\.77\.1\.2:53\/udp: /,
    )
  })
})

describe('ServeRuntime.stop', () => {
  it('names a part that does not close within the grace period and its slack, and ends anyway', async () => {
    const warnings: string[] = []
    const log = {info: () => {}, debug: () => {}, warn: (line: string) => void warnings.push(line), verbosity: 0}
    // An API watch that never finishes stopping (a connection to an API server that went silent).
    const source = {start: async () => {}, stop: () => new Promise<void>(() => {})} as unknown as SnapshotSource
    const runtime = loopbackRuntime(source, log)
    await runtime.stop(20, 30)
    expect(warnings).toEqual(['stopping: the API watches still closing 0.05 s on; not waiting'])
  })

  it('closes the DNS responder and the router while a watch stop hangs', async () => {
    const source = {
      start: async () => {},
      stop: () => new Promise<void>(() => {}),
      snapshot: () => makeSnapshot(),
    } as unknown as SnapshotSource
    const log = {info: () => {}, debug: () => {}, warn: () => {}, verbosity: 0}
    const runtime = loopbackRuntime(source, log)
    await runtime.start()
    const {http, dnsTcp} = runtime.ports()
    expect(await connects(http)).toBe(true) // the router was listening
    await runtime.stop(20, 30)
    expect(await connects(http)).toBe(false)
    expect(await connects(dnsTcp)).toBe(false)
  })
})

/** A runtime on 127.0.0.1 with ports chosen by the system. */
function loopbackRuntime(source: SnapshotSource, log: RuntimeOptions['log']): ServeRuntime {
  const options = {plan: {domain: 'kube.internal'}, listen: '127.0.0.1', dnsPort: 0, httpPort: 0, log, print: () => {}}
  return new ServeRuntime(source, options as unknown as RuntimeOptions)
}

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
