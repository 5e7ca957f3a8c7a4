// The lo0 alias bookkeeping of serve on macOS, run here on Linux through the same code path: a fake runner records
// the ifconfig commands (nothing on this machine changes, as in dns-setup's and service's tests) and the record file
// lives in a temp dir. Then serve itself (the demo homelab) with aliases on: added before the listeners bind,
// removed when it stops.
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it, onTestFinished} from 'vitest'
import type {CommandResult, Runner} from '../../src/dnssetup/apply.js'
import {createLogger} from '../../src/log.js'
import {LoopbackAliases} from '../../src/serve/lo-aliases.js'
import {serveUntilSignal} from '../../src/serve/start.js'
import {parseIpRange, type AddressRange} from '../../src/servemap/addresses.js'
import {startDemo} from '../../src/sim/demo.js'

const scratch = mkdtempSync(join(tmpdir(), 'lo-aliases-'))
afterAll(() => rmSync(scratch, {recursive: true, force: true}))
let counter = 0
/** A record file path in a folder of its own (the folder exists; the file does not). */
function recordPath(): string {
  const dir = join(scratch, `r${++counter}`)
  mkdirSync(dir)
  return join(dir, 'lo0-aliases.json')
}

const PID = 4242
const DEAD = 999_999

/** A runner that records each command as one string and answers with `answer` (exit 0 by default). */
function fakeRunner(answer: (argv: string[]) => Partial<CommandResult> = () => ({})): {
  runner: Runner
  calls: string[]
} {
  const calls: string[] = []
  const runner: Runner = async (argv) => {
    calls.push(argv.join(' '))
    return {code: 0, stdout: '', stderr: '', ...answer(argv)}
  }
  return {runner, calls}
}

function logLines() {
  const lines: string[] = []
  return {lines, log: {info: (l: string) => lines.push(`info ${l}`), warn: (l: string) => lines.push(`warn ${l}`)}}
}

function record(path: string): unknown {
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined
}

const add = (a: string) => `ifconfig lo0 alias ${a} netmask 255.255.255.255`
const remove = (a: string) => `ifconfig lo0 -alias ${a}`

describe('LoopbackAliases', () => {
  it('adds an alias per address, removes the one whose Service went, and all of them on close', async () => {
    const recordFile = recordPath()
    const {runner, calls} = fakeRunner()
    const {lines, log} = logLines()
    const aliases = new LoopbackAliases({runner, recordFile, log, pid: PID})
    await aliases.start()
    expect(calls).toEqual([])

    await aliases.update(['127.77.0.9', '127.77.0.2', '127.77.0.9'])
    expect(calls).toEqual([add('127.77.0.2'), add('127.77.0.9')])
    expect(record(recordFile)).toEqual({pid: PID, interface: 'lo0', addresses: ['127.77.0.2', '127.77.0.9']})

    calls.length = 0
    await aliases.update(['127.77.0.9', '127.77.0.5'])
    expect(calls).toEqual([add('127.77.0.5'), remove('127.77.0.2')])
    expect(record(recordFile)).toEqual({pid: PID, interface: 'lo0', addresses: ['127.77.0.5', '127.77.0.9']})

    calls.length = 0
    await aliases.update(['127.77.0.9', '127.77.0.5'])
    expect(calls).toEqual([])

    await aliases.close()
    expect(calls).toEqual([remove('127.77.0.5'), remove('127.77.0.9')])
    expect(record(recordFile)).toBeUndefined()
    expect(lines).toEqual([
      'info lo0: added 2 aliases for per-service addresses',
      'info lo0: added 1 alias for per-service addresses',
    ])
  })

  it('ensure() only adds (before listeners bind); the update() after the apply removes what went', async () => {
    const recordFile = recordPath()
    const {runner, calls} = fakeRunner()
    const aliases = new LoopbackAliases({runner, recordFile, log: logLines().log, pid: PID})
    await aliases.update(['127.77.0.2', '127.77.0.3'])
    calls.length = 0
    await aliases.ensure(['127.77.0.3', '127.77.0.4'])
    expect(calls).toEqual([add('127.77.0.4')])
    expect(aliases.addresses()).toEqual(['127.77.0.2', '127.77.0.3', '127.77.0.4'])
    calls.length = 0
    await aliases.update(['127.77.0.3', '127.77.0.4'])
    expect(calls).toEqual([remove('127.77.0.2')])
    expect(record(recordFile)).toEqual({pid: PID, interface: 'lo0', addresses: ['127.77.0.3', '127.77.0.4']})
  })

  it('records an alias before ifconfig adds it, so a crash in between leaves it on record', async () => {
    const recordFile = recordPath()
    const seen: unknown[] = []
    const runner: Runner = async (argv) => {
      if (argv[2] === 'alias') seen.push(record(recordFile))
      return {code: 0, stdout: '', stderr: ''}
    }
    const aliases = new LoopbackAliases({runner, recordFile, log: logLines().log, pid: PID})
    await aliases.update(['127.77.0.2'])
    expect(seen).toEqual([{pid: PID, interface: 'lo0', addresses: ['127.77.0.2']}])
  })

  it('at start, removes the aliases a crashed serve recorded, and forgets the record', async () => {
    const recordFile = recordPath()
    const {runner, calls} = fakeRunner((argv) =>
      // One of them is gone already (macOS's answer for an address lo0 does not have).
      argv[3] === '127.77.0.3'
        ? {code: 1, stderr: "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address"}
        : {},
    )
    writeFileSync(
      recordFile,
      JSON.stringify({pid: DEAD, interface: 'lo0', addresses: ['127.77.0.3', '127.77.0.8', '127.0.0.1']}),
    )
    const {lines, log} = logLines()
    const next = new LoopbackAliases({runner, recordFile, log, pid: PID, isRunning: (pid) => pid !== DEAD})
    await next.start()
    expect(calls).toEqual([remove('127.77.0.3'), remove('127.77.0.8')]) // never lo0's own 127.0.0.1
    expect(record(recordFile)).toBeUndefined()
    expect(next.addresses()).toEqual([])
    expect(lines).toEqual(['info removed 1 lo0 aliases a previous serve left behind'])
  })

  it('refuses to start while the serve that recorded the aliases still runs', async () => {
    const recordFile = recordPath()
    const {runner, calls} = fakeRunner()
    await new LoopbackAliases({runner, recordFile, log: logLines().log, pid: 17}).update(['127.77.0.3'])
    calls.length = 0
    const second = new LoopbackAliases({
      runner,
      recordFile,
      log: logLines().log,
      pid: PID,
      isRunning: (pid) => pid === 17,
    })
    await expect(second.start()).rejects.toThrow(
      `another serve (pid 17) keeps lo0 aliases recorded in ${recordFile}: stop it first, or run this one with --ip-range none`,
    )
    expect(calls).toEqual([])
    expect(record(recordFile)).toEqual({pid: 17, interface: 'lo0', addresses: ['127.77.0.3']})
  })

  it('warns when ifconfig fails: an alias not added is not on record; one not removed stays on record', async () => {
    const recordFile = recordPath()
    const {runner, calls} = fakeRunner((argv) =>
      argv[3] === '127.77.0.4'
        ? {code: 1, stderr: 'ifconfig: ioctl (SIOCAIFADDR): File exists'}
        : argv[2] === '-alias'
          ? {code: 1, stderr: 'ifconfig: ioctl (SIOCDIFADDR): Operation not permitted'}
          : {},
    )
    const {lines, log} = logLines()
    const aliases = new LoopbackAliases({runner, recordFile, log, pid: PID})
    await aliases.update(['127.77.0.4', '127.77.0.6'])
    expect(record(recordFile)).toEqual({pid: PID, interface: 'lo0', addresses: ['127.77.0.6']})
    await aliases.close()
    expect(calls).toEqual([add('127.77.0.4'), add('127.77.0.6'), remove('127.77.0.6')])
    expect(record(recordFile)).toEqual({pid: PID, interface: 'lo0', addresses: ['127.77.0.6']})
    expect(lines).toEqual([
      "warn lo0: cannot add alias 127.77.0.4: ifconfig: ioctl (SIOCAIFADDR): File exists; its Service's TCP and UDP ports will not answer",
      'info lo0: added 1 alias for per-service addresses',
      'warn lo0: cannot remove alias 127.77.0.6: ifconfig: ioctl (SIOCDIFADDR): Operation not permitted; remove it with: sudo ifconfig lo0 -alias 127.77.0.6',
    ])
  })

  it('refuses a record file it cannot read as one, saying how to clean up by hand', async () => {
    const recordFile = recordPath()
    writeFileSync(recordFile, 'not json')
    const aliases = new LoopbackAliases({runner: fakeRunner().runner, recordFile, log: logLines().log})
    await expect(aliases.start()).rejects.toThrow(/is not a record of lo0 aliases: check `ifconfig lo0`/)
  })
})

describe('serve with lo0 aliases (the demo homelab)', () => {
  it('aliases every per-service address before its listeners bind, and removes them all when it stops', async () => {
    const recordFile = recordPath()
    const listening: boolean[] = []
    const calls: string[] = []
    const runner: Runner = async (argv) => {
      calls.push(argv.join(' '))
      // Nothing listens on the address yet when its alias is added (its DNS port would answer otherwise).
      if (argv[2] === 'alias') listening.push(await accepts(argv[3]!, 1883))
      return {code: 0, stdout: '', stderr: ''}
    }
    const stderr: string[] = []
    const log = createLogger({format: 'text', color: false, write: (line: string) => stderr.push(line)})
    let table = ''
    const range = parseIpRange('127.98.0.0/16') as AddressRange
    // The homelab on nodes of its own (127.0.57.x), so no other test's demo holds its NodePorts.
    const demo = await startDemo({nodePrefix: '127.0.57.'})
    onTestFinished(() => demo.close())
    const served = serveUntilSignal({
      domain: 'kube.internal',
      addressType: 'InternalIP',
      listen: '127.0.0.1',
      dnsPort: 0,
      httpPort: 0,
      range,
      contexts: [],
      kubeconfig: demo.kubeconfig,
      loopbackAliases: {runner, recordFile},
      demo: false,
      maxConnections: 100,
      idleTimeoutMs: 60_000,
      hostCheck: true,
      log,
      print: (text) => (table += text),
    })
    const started = await waitForLine(stderr, /^serving /)
    expect(started).toBe(true)
    const addresses = [...new Set([...table.matchAll(/(127\.98\.\d+\.\d+):\d+/g)].map((m) => m[1]!))].sort()
    expect(addresses.length).toBeGreaterThan(3)
    expect(calls).toEqual(addresses.map(add))
    expect(listening.every((l) => !l)).toBe(true)
    expect(record(recordFile)).toMatchObject({interface: 'lo0', addresses})
    const mosquitto = /(127\.98\.\d+\.\d+):1883/.exec(table)?.[1]
    expect(mosquitto && (await accepts(mosquitto, 1883))).toBe(true) // the listener is up on its address

    calls.length = 0
    process.emit('SIGTERM')
    expect(await served).toBe('SIGTERM')
    expect(calls).toEqual(addresses.map(remove))
    expect(record(recordFile)).toBeUndefined()
  })
})

function accepts(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({host: address, port})
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

async function waitForLine(lines: string[], pattern: RegExp, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (lines.some((l) => pattern.test(l))) return true
    await new Promise((r) => setTimeout(r, 25))
  }
  return false
}
