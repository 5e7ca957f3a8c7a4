import {spawn} from 'node:child_process'
import {chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {ExposeLbError} from '../../src/errors.js'
import {
  freeRange,
  instanceConflict,
  instanceDir,
  readInstanceRecord,
  registerInstance,
  type InstanceRecord,
} from '../../src/serve/instance.js'

const record = (over: Partial<InstanceRecord> = {}): InstanceRecord => ({
  pid: 100,
  domain: 'kube.internal',
  context: 'home',
  listen: '127.0.0.1',
  dnsPort: 53,
  httpPort: 80,
  ipRange: '127.77.0.0/16',
  startedAt: '2026-12-03T10:00:00.000Z',
  ...over,
})

describe('instanceConflict', () => {
  const first = record({pid: 7, context: 'house'})
  const who = 'another kubectl-expose-lb serve (pid 7, kube.internal, context "house")'
  const cases: {name: string; mine: Partial<InstanceRecord>; conflict: string | undefined}[] = [
    {
      name: 'the same range, whatever the ports',
      mine: {dnsPort: 5353, httpPort: 8080},
      conflict: `${who} already hands out addresses in 127.77.0.0/16 — stop it, or run this one beside it on a range of its own: --ip-range 127.78.0.0/16 with other --dns-port and --http-port`,
    },
    {
      name: 'a range inside the other one',
      mine: {ipRange: '127.77.3.0/24', dnsPort: 5353, httpPort: 8080},
      conflict: `${who} already hands out addresses in 127.77.0.0/16 — stop it, or run this one beside it on a range of its own: --ip-range 127.78.0.0/16 with other --dns-port and --http-port`,
    },
    {
      name: 'a range of its own and other ports',
      mine: {ipRange: '127.78.0.0/16', dnsPort: 5353, httpPort: 8080},
      conflict: undefined,
    },
    {
      name: 'a range of its own but the same DNS port',
      mine: {ipRange: '127.78.0.0/16', httpPort: 8080},
      conflict: `${who} already listens on 127.0.0.1:53 — stop it, or give this one another --dns-port`,
    },
    {
      name: 'the same HTTP port on every address against one address',
      mine: {ipRange: 'none', listen: '0.0.0.0', dnsPort: 5353},
      conflict: `${who} already listens on 127.0.0.1:80 — stop it, or give this one another --http-port`,
    },
    {name: 'the same ports on another address', mine: {ipRange: 'none', listen: '127.0.0.2'}, conflict: undefined},
    {
      name: 'port 0 (chosen by the OS) never collides',
      mine: {ipRange: 'none', dnsPort: 0, httpPort: 0},
      conflict: undefined,
    },
  ]
  it.each(cases)('$name', ({mine, conflict}) => {
    expect(instanceConflict(record(mine), [first])).toEqual(conflict)
  })

  it('suggests a /16 no running serve uses', () => {
    expect(freeRange([record(), record({ipRange: '127.78.0.0/15'}), record({ipRange: 'none'})])).toEqual(
      '127.80.0.0/16',
    )
  })
})

describe('registerInstance', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, {recursive: true, force: true})
  })
  const folder = () => {
    const dir = mkdtempSync(join(tmpdir(), 'instance-'))
    dirs.push(dir)
    return join(dir, 'kubectl-expose-lb')
  }
  const deadPid = async () => {
    const child = spawn(process.execPath, ['-e', ''])
    await new Promise((done) => child.on('exit', done))
    return child.pid ?? 0
  }
  const write = (dir: string, r: InstanceRecord) => writeFileSync(join(dir, `serve-${r.pid}.json`), JSON.stringify(r))

  it('refuses beside a live serve on the same range, leaving no record of its own', () => {
    const dir = folder()
    registerInstance(record({pid: process.ppid}), dir) // our parent is alive: it stands in for the first serve
    const mine = record({pid: process.pid, startedAt: '2026-12-03T11:00:00.000Z'})
    const refused = (() => {
      try {
        registerInstance(mine, dir)
      } catch (error) {
        return error
      }
    })()
    expect(refused).toBeInstanceOf(ExposeLbError)
    expect((refused as ExposeLbError).code).toEqual('bind')
    expect((refused as Error).message).toMatch(new RegExp(`^another kubectl-expose-lb serve \\(pid ${process.ppid}, `))
    expect(readdirSync(dir)).toEqual([`serve-${process.ppid}.json`])
  })

  it('runs beside it on a range of its own, and release() removes its record', () => {
    const dir = folder()
    registerInstance(record({pid: process.ppid}), dir)
    const mine = record({pid: process.pid, ipRange: '127.78.0.0/16', dnsPort: 5353, httpPort: 8080})
    const registration = registerInstance(mine, dir)
    expect(readdirSync(dir).sort()).toEqual([`serve-${process.pid}.json`, `serve-${process.ppid}.json`].sort())
    registration.release()
    expect(existsSync(registration.file)).toBe(false)
  })

  it('removes the records of serves no longer running, readable or not, and takes their range', async () => {
    const dir = folder()
    registerInstance(record({pid: process.pid, ipRange: 'none', dnsPort: 0, httpPort: 0}), dir).release()
    const dead = record({pid: await deadPid()})
    write(dir, dead)
    writeFileSync(join(dir, 'serve-99999999.json'), '{"pid": 99999999, "dom')
    registerInstance(record({pid: process.pid}), dir)
    expect(readdirSync(dir)).toEqual([`serve-${process.pid}.json`])
  })

  it("keeps a running serve's record it cannot read (a newer version's), and does not compare against it", () => {
    const dir = folder()
    registerInstance(record({pid: process.pid, ipRange: 'none', dnsPort: 0, httpPort: 0}), dir).release()
    writeFileSync(join(dir, `serve-${process.ppid}.json`), '{"version": 2}')
    expect(() => registerInstance(record({pid: process.pid}), dir)).not.toThrow()
    expect(readdirSync(dir).sort()).toEqual([`serve-${process.pid}.json`, `serve-${process.ppid}.json`].sort())
  })

  it('of two serves that started at once, only the later one gives way', () => {
    const dir = folder()
    registerInstance(record({pid: process.pid, ipRange: 'none', dnsPort: 0, httpPort: 0}), dir).release()
    // The other serve started after this one: it is the one to refuse when it reads our record.
    write(dir, record({pid: process.ppid, startedAt: '2026-12-03T12:00:00.000Z'}))
    expect(() => registerInstance(record({pid: process.pid}), dir)).not.toThrow()
  })

  it.runIf(process.getuid?.() === 0)("refuses a folder another user owns (as root: one that root doesn't)", () => {
    const dir = folder()
    registerInstance(record({pid: process.pid, ipRange: 'none', dnsPort: 0, httpPort: 0}), dir).release()
    chownSync(dir, 4321, 4321)
    expect(() => registerInstance(record({pid: process.pid}), dir)).toThrow(
      `the folder ${dir} belongs to uid 4321, not to you (uid 0)`,
    )
  })

  it("reads back a serve's record by its pid (how port-holder.ts names another serve), and nothing for another pid", () => {
    const dir = folder()
    const mine = record({pid: process.pid})
    registerInstance(mine, dir)
    expect(readInstanceRecord(process.pid, dir)).toEqual(mine)
    expect(readInstanceRecord(process.ppid, dir)).toBeUndefined()
  })

  it('lives in $XDG_RUNTIME_DIR, else in a per-user folder in the temp directory', () => {
    expect(instanceDir({XDG_RUNTIME_DIR: '/run/user/1000'})).toEqual('/run/user/1000/kubectl-expose-lb')
    expect(instanceDir({})).toEqual(join(tmpdir(), `kubectl-expose-lb-${process.getuid?.() ?? 0}`))
  })
})
