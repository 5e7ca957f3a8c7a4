import {spawn} from 'node:child_process'
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {
  beginLine,
  blockOwners,
  endLine,
  instanceOwner,
  removeBlocks,
  renderHostsBlock,
  replaceBlock,
  unwritableHostEntries,
} from '../../src/serve/hosts-block.js'
import {ExposeLbError} from '../../src/errors.js'
import {HostsFile} from '../../src/serve/hosts-file.js'
import {versionHosts} from './hosts-file-crash.js'

const hostsOf = (entries: Record<string, string[]>) => new Map(Object.entries(entries))
/** The owner of the blocks in the pure tests; the HostsFile tests write as this process (`self`). */
const OWNER = 'pid=4242'
const HOSTS_BEGIN = beginLine(OWNER)
const HOSTS_END = endLine(OWNER)
const self = instanceOwner(process.pid)
const blockOf = (...lines: string[]) => [HOSTS_BEGIN, ...lines, HOSTS_END].join('\n')

describe('renderHostsBlock', () => {
  const cases: {name: string; hosts: Record<string, string[]>; block: string}[] = [
    {name: 'an empty map gives just the markers', hosts: {}, block: blockOf()},
    {
      name: 'groups the names of one address on its line, names sorted',
      hosts: {
        'radarr.media.kube.internal': ['127.77.0.1'],
        'radarr.kube.internal': ['127.77.0.1'],
        'sonarr.kube.internal': ['127.77.0.2'],
      },
      block: blockOf('127.77.0.1 radarr.kube.internal radarr.media.kube.internal', '127.77.0.2 sonarr.kube.internal'),
    },
    {
      name: 'sorts IPv4 numerically, then IPv6, and writes addresses exactly as given',
      hosts: {
        'a.kube.internal': ['fd00::A', '10.0.0.10'],
        'b.kube.internal': ['10.0.0.9', '::1'],
        'c.kube.internal': ['192.168.1.240'],
      },
      block: blockOf(
        '10.0.0.9 b.kube.internal',
        '10.0.0.10 a.kube.internal',
        '192.168.1.240 c.kube.internal',
        '::1 b.kube.internal',
        'fd00::A a.kube.internal',
      ),
    },
    {
      name: 'lists a name once per address even when given twice',
      hosts: {'a.kube.internal': ['127.0.0.1', '127.0.0.1']},
      block: blockOf('127.0.0.1 a.kube.internal'),
    },
    {
      name: 'leaves out entries that would break or inject a line',
      hosts: {
        'ok.kube.internal': ['127.0.0.1', '127.0.0.2\n1.2.3.4 bank.example', ''],
        'bad name': ['127.0.0.3'],
        '#x': ['127.0.0.4'],
      },
      block: blockOf('127.0.0.1 ok.kube.internal'),
    },
  ]
  it.each(cases)('$name', ({hosts, block}) => {
    expect(renderHostsBlock(hostsOf(hosts), OWNER)).toEqual(block)
  })

  it('names what it leaves out', () => {
    expect(unwritableHostEntries(hostsOf({'a b': ['1.1.1.1'], ok: ['1.1.1.1', 'x y']}))).toEqual([
      '"a b"',
      'ok → "x y"',
    ])
  })
})

describe('replaceBlock', () => {
  const block = blockOf('127.0.0.1 a.kube.internal')
  const other = blockOf('127.0.0.2 b.kube.internal')
  const lf = `${HOSTS_BEGIN}\n127.0.0.1 a.kube.internal\n${HOSTS_END}`
  const crlf = `${HOSTS_BEGIN}\r\n127.0.0.1 a.kube.internal\r\n${HOSTS_END}`
  const cases: {name: string; content: string; block: string | undefined; result: string}[] = [
    {name: 'inserts into an empty file', content: '', block, result: `${lf}\n`},
    {
      name: 'appends after the last line',
      content: '127.0.0.1 localhost\n',
      block,
      result: `127.0.0.1 localhost\n${lf}\n`,
    },
    {
      name: 'adds the missing final newline before the block, and none after it',
      content: '127.0.0.1 localhost',
      block,
      result: `127.0.0.1 localhost\n${lf}`,
    },
    {
      name: 'removing that block gives back the file without its final newline',
      content: `127.0.0.1 localhost\n${lf}`,
      block: undefined,
      result: '127.0.0.1 localhost',
    },
    {
      name: 'replaces a block in the middle, keeping the lines after it',
      content: `# top\n${lf}\n# after\n10.0.0.1 nas\n`,
      block: other,
      result: `# top\n${other}\n# after\n10.0.0.1 nas\n`,
    },
    {
      name: 'removes a block in the middle',
      content: `# top\n${lf}\n# after\n`,
      block: undefined,
      result: '# top\n# after\n',
    },
    {
      name: 'removes a block that is the whole file',
      content: `${lf}\n`,
      block: undefined,
      result: '',
    },
    {name: 'leaves a file without a block alone on remove', content: '# a\n\n', block: undefined, result: '# a\n\n'},
    {
      name: 'writes the block with CRLF into a CRLF file',
      content: '127.0.0.1 localhost\r\n',
      block,
      result: `127.0.0.1 localhost\r\n${crlf}\r\n`,
    },
    {
      name: 'appends with CRLF to a CRLF file without a final newline',
      content: '# a\r\n127.0.0.1 localhost',
      block,
      result: `# a\r\n127.0.0.1 localhost\r\n${crlf}`,
    },
    {
      name: 'removes a CRLF block appended to a file without a final newline',
      content: `# a\r\n127.0.0.1 localhost\r\n${crlf}`,
      block: undefined,
      result: '# a\r\n127.0.0.1 localhost',
    },
    {
      name: 'finds markers with trailing spaces or CR',
      content: `${HOSTS_BEGIN}  \r\nold\r\n${HOSTS_END}\r\n# mine\r\n`,
      block: undefined,
      result: '# mine\r\n',
    },
  ]
  it.each(cases)('$name', ({content, block: b, result}) => {
    expect(replaceBlock(content, OWNER, b)).toEqual(result)
  })

  const corrupt: {name: string; content: string; error: RegExp}[] = [
    {
      name: 'a BEGIN without END',
      content: `# a\n${HOSTS_BEGIN}\n1.1.1.1 x\n# my line\n`,
      error: /"BEGIN pid=4242" line \(line 2\) has no END line after it/,
    },
    {name: 'an END without BEGIN', content: `# a\n${HOSTS_END}\n`, error: /without a BEGIN line before it \(line 2\)/},
    {name: 'two blocks', content: `${lf}\n${lf}\n`, error: /a second .* \(line 4\)/},
    {
      name: 'a BEGIN inside a block',
      content: `${HOSTS_BEGIN}\n${lf}\n`,
      error: /"BEGIN pid=4242" line \(line 2\) inside the block of line 1/,
    },
    {
      name: "another serve's BEGIN inside a block",
      content: `${HOSTS_BEGIN}\n${beginLine('pid=7')}\n${endLine('pid=7')}\n${HOSTS_END}\n`,
      error: /"BEGIN pid=7" line \(line 2\) inside the block of line 1/,
    },
    {
      name: "an END of another serve's block",
      content: `${HOSTS_BEGIN}\n1.1.1.1 x\n${endLine('pid=7')}\n`,
      error: /"# END kubectl-expose-lb pid=7" \(line 3\) closes the "BEGIN pid=4242" block of line 1/,
    },
  ]
  it.each(corrupt)('refuses a file with $name, whatever it was asked', ({content, error}) => {
    expect(() => replaceBlock(content, OWNER, block)).toThrow(error)
    expect(() => replaceBlock(content, OWNER, undefined)).toThrow(/damaged.*remove the block's lines by hand/)
  })
})

describe('blocks of several serves', () => {
  const mine = blockOf('127.0.0.1 a.kube.internal')
  const theirs = [beginLine('pid=7'), '127.0.0.9 b.kube.internal', endLine('pid=7')].join('\n')
  /** A block written before blocks had owners. */
  const legacy = '# BEGIN kubectl-expose-lb (managed; do not edit)\n127.0.0.5 c.kube.internal\n# END kubectl-expose-lb'

  it("adds its own block after another serve's, and replaces and removes only its own", () => {
    const withTheirs = `# top\n${theirs}\n`
    const both = replaceBlock(withTheirs, OWNER, mine)
    expect(both).toEqual(`# top\n${theirs}\n${mine}\n`)
    expect(blockOwners(both)).toEqual(['pid=7', OWNER])
    const other = blockOf('127.0.0.3 z.kube.internal')
    expect(replaceBlock(both, OWNER, other)).toEqual(`# top\n${theirs}\n${other}\n`)
    expect(replaceBlock(both, OWNER, undefined)).toEqual(withTheirs)
    // Theirs stays also when it comes after ours.
    expect(replaceBlock(`${mine}\n${theirs}\n`, OWNER, undefined)).toEqual(`${theirs}\n`)
  })

  it('reads a block without an owner as one, and leaves it to removeBlocks', () => {
    expect(blockOwners(`${legacy}\n`)).toEqual([undefined])
    expect(replaceBlock(`${legacy}\n`, OWNER, mine)).toEqual(`${legacy}\n${mine}\n`)
  })

  it('removeBlocks takes out the blocks it is told to, keeping the others and every other byte', () => {
    const content = `# a\n${legacy}\n# b\n${theirs}\n${mine}\n# c`
    const result = removeBlocks(content, (owner) => owner !== 'pid=7')
    expect(result).toEqual({content: `# a\n# b\n${theirs}\n# c`, removed: [undefined, OWNER]})
    expect(removeBlocks(content, () => false)).toEqual({content, removed: []})
  })
})

// --- HostsFile on temporary files ---

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, {recursive: true, force: true})
})

/** A temp directory holding `hosts` with `content`, removed after the test. */
function makeHostsFile(content: string | Buffer = '127.0.0.1 localhost\n', mode = 0o644) {
  const dir = mkdtempSync(join(tmpdir(), 'hosts-file-'))
  dirs.push(dir)
  const path = join(dir, 'hosts')
  writeFileSync(path, content)
  chmodSync(path, mode)
  const logs: string[] = []
  return {dir, path, logs, log: (line: string) => logs.push(line)}
}

const read = (path: string) => readFileSync(path, 'latin1')
const radarr = hostsOf({'radarr.kube.internal': ['127.77.0.1'], 'radarr.media.kube.internal': ['127.77.0.1']})
const sonarr = hostsOf({'sonarr.kube.internal': ['127.77.0.2', 'fd00::2']})

describe('HostsFile', () => {
  it('adds, updates and removes the block, keeping every other byte (CRLF, no final newline, non-UTF-8)', async () => {
    const original = Buffer.concat([
      Buffer.from('# caf'),
      Buffer.from([0xe9, 0xff]),
      Buffer.from('\r\n127.0.0.1 localhost\r\n::1 localhost'),
    ])
    const {path} = makeHostsFile(original)
    const file = new HostsFile(path)
    await file.start()
    await file.update(radarr)
    expect(readFileSync(path).subarray(0, original.length)).toEqual(original)
    expect(read(path)).toMatch(/::1 localhost\r\n# BEGIN .*\r\n127\.77\.0\.1 radarr\.kube\.internal radarr\.media/)
    await file.update(sonarr)
    expect(read(path)).toContain('fd00::2 sonarr.kube.internal')
    expect(read(path)).not.toContain('radarr')
    await file.remove()
    expect(readFileSync(path)).toEqual(original)
  })

  it('replaces the file by rename (a new inode) and keeps its mode', async () => {
    for (const mode of [0o644, 0o600]) {
      const {path} = makeHostsFile('127.0.0.1 localhost\n', mode)
      const before = statSync(path)
      const file = new HostsFile(path)
      await file.start()
      await file.update(radarr)
      const after = statSync(path)
      expect(after.ino).not.toEqual(before.ino)
      expect(after.mode & 0o7777).toEqual(mode)
      expect(read(path)).toContain('radarr.kube.internal')
    }
  })

  it('keeps the owner of the file (as root: one that root does not own)', async () => {
    const {path} = makeHostsFile()
    // Only root can hand a file to another owner; anyone else checks that their own ownership survives the rename.
    const isRoot = process.getuid?.() === 0
    if (isRoot) chownSync(path, 1234, 5678)
    const owner = {uid: statSync(path).uid, gid: statSync(path).gid}
    if (isRoot) expect(owner).toEqual({uid: 1234, gid: 5678})
    const file = new HostsFile(path)
    await file.start()
    await file.update(radarr)
    expect(statSync(path)).toMatchObject(owner)
    await file.remove()
    expect(statSync(path)).toMatchObject(owner)
  })

  it('writes a backup of the original once per run, with its mode', async () => {
    const {path} = makeHostsFile('127.0.0.1 localhost\n', 0o600)
    const file = new HostsFile(path)
    await file.start()
    await file.update(radarr)
    const backup = `${path}.expose-lb.bak`
    expect(read(backup)).toEqual('127.0.0.1 localhost\n')
    expect(statSync(backup).mode & 0o7777).toEqual(0o600)
    await file.update(sonarr)
    await file.remove()
    expect(read(backup)).toEqual('127.0.0.1 localhost\n')
  })

  describe('the backup keeps the mode and owner of the original, whichever write makes it', () => {
    // Only root can hand a file to another owner; anyone else checks that their own ownership survives.
    const isRoot = process.getuid?.() === 0
    /** Gives `path` mode 0640 and, as root, an owner that is not root; returns what its backup must have. */
    const restrict = (path: string) => {
      chmodSync(path, 0o640)
      if (isRoot) chownSync(path, 1234, 5678)
      const {uid, gid} = statSync(path)
      return {mode: 0o640, uid, gid}
    }
    const backupOf = (path: string) => {
      const {mode, uid, gid} = statSync(`${path}.expose-lb.bak`)
      return {mode: mode & 0o7777, uid, gid}
    }

    it('update(): the first write of a run', async () => {
      const {path} = makeHostsFile()
      const expected = restrict(path)
      const file = new HostsFile(path)
      await file.start()
      await file.update(radarr)
      expect(backupOf(path)).toEqual(expected)
    })

    it("removeSync(): the exit handler's write, when it is the first to find a file to back up", async () => {
      // The run created the file (nothing to back up then), and it was restricted since.
      const {dir} = makeHostsFile()
      const path = join(dir, 'new-hosts')
      const file = new HostsFile(path)
      await file.start()
      await file.update(radarr)
      expect(existsSync(`${path}.expose-lb.bak`)).toBe(false)
      const expected = restrict(path)
      file.removeSync()
      expect(read(`${path}.expose-lb.bak`)).toEqual(`${renderHostsBlock(radarr, self)}\n`)
      expect(backupOf(path)).toEqual(expected)
      expect(read(path)).toEqual('')
    })
  })

  it('does not write when nothing changed (same inode and mtime)', async () => {
    const {dir, path} = makeHostsFile()
    const file = new HostsFile(path)
    await file.start()
    await file.update(radarr)
    const before = statSync(path)
    await file.update(new Map([...radarr].reverse()))
    const after = statSync(path)
    expect({ino: after.ino, mtime: after.mtimeMs}).toEqual({ino: before.ino, mtime: before.mtimeMs})
    expect(readdirSync(dir).sort()).toEqual(['hosts', 'hosts.expose-lb.bak'])
  })

  it('does not write at start or remove when there is no block', async () => {
    const {path} = makeHostsFile()
    const before = statSync(path)
    const file = new HostsFile(path)
    await file.start()
    await file.remove()
    expect(statSync(path).ino).toEqual(before.ino)
    expect(existsSync(`${path}.expose-lb.bak`)).toBe(false)
  })

  it('serialises updates: the last one wins, whatever order the writes finish in', async () => {
    const {path} = makeHostsFile()
    const file = new HostsFile(path)
    await file.start()
    await Promise.all(Array.from({length: 20}, (_, i) => file.update(versionHosts(i))))
    expect(read(path)).toEqual(`127.0.0.1 localhost\n${renderHostsBlock(versionHosts(19), self)}\n`)
  })

  it('ignores updates after remove, so a late change cannot leave a block behind', async () => {
    const {path} = makeHostsFile()
    const file = new HostsFile(path)
    await file.start()
    await file.update(radarr)
    const removed = file.remove()
    const late = file.update(sonarr)
    await Promise.all([removed, late])
    expect(read(path)).toEqual('127.0.0.1 localhost\n')
  })

  it('refuses an update before start(), so a missing start cannot go unnoticed', async () => {
    const {path} = makeHostsFile()
    await expect(new HostsFile(path).update(radarr)).rejects.toThrow('before start()')
  })

  it('removeSync removes the block (for a process exit handler)', async () => {
    const {dir, path} = makeHostsFile('# mine')
    const file = new HostsFile(path)
    await file.start()
    await file.update(radarr)
    file.removeSync()
    expect(read(path)).toEqual('# mine')
    expect(readdirSync(dir).sort()).toEqual(['hosts', 'hosts.expose-lb.bak'])
  })

  it('falls back to rewriting in place when rename fails as on a bind mount, with one warning', async () => {
    const {dir, path, logs, log} = makeHostsFile('127.0.0.1 localhost\n', 0o600)
    const before = statSync(path)
    const rename = () => {
      throw Object.assign(new Error('EBUSY: resource busy or locked, rename'), {code: 'EBUSY'})
    }
    const file = new HostsFile(path, {log, rename})
    await file.start()
    await file.update(versionHosts(3)) // long…
    await file.update(radarr) // …then short: the old tail must be cut off
    expect(read(path)).toEqual(`127.0.0.1 localhost\n${renderHostsBlock(radarr, self)}\n`)
    await file.remove()
    expect(read(path)).toEqual('127.0.0.1 localhost\n')
    const after = statSync(path)
    expect({ino: after.ino, mode: after.mode & 0o7777}).toEqual({ino: before.ino, mode: 0o600})
    expect(logs).toEqual([expect.stringMatching(/cannot replace .*hosts atomically \(rename: EBUSY.*in place/)])
    expect(readdirSync(dir).sort()).toEqual(['hosts', 'hosts.expose-lb.bak'])
  })

  it('leaves the file intact and no temp file behind when a write fails', async () => {
    const {dir, path} = makeHostsFile()
    const file = new HostsFile(path, {
      rename: () => {
        throw Object.assign(new Error('EIO: i/o error, rename'), {code: 'EIO'})
      },
    })
    await file.start()
    await expect(file.update(radarr)).rejects.toThrow(`cannot update ${path}: EIO`)
    expect(read(path)).toEqual('127.0.0.1 localhost\n')
    expect(readdirSync(dir).sort()).toEqual(['hosts', 'hosts.expose-lb.bak'])
    // The queue goes on after a failure.
    await expect(file.remove()).resolves.toBeUndefined()
  })

  it('turns a permission error into one line naming the path and the fix', async () => {
    const {path} = makeHostsFile()
    const file = new HostsFile(path, {
      rename: () => {
        throw Object.assign(new Error('EACCES: permission denied, rename'), {code: 'EACCES'})
      },
    })
    await file.start()
    await expect(file.update(radarr)).rejects.toThrow(
      `cannot write ${path}: permission denied — run serve with sudo, or pass --hosts-file with a writable path`,
    )
  })

  it('removes a block and temp files a killed run left, and says so', async () => {
    const dead = spawn(process.execPath, ['-e', ''])
    await new Promise((done) => dead.on('exit', done))
    const live = renderHostsBlock(sonarr, instanceOwner(process.ppid))
    const {dir, path, logs, log} = makeHostsFile(
      `# mine\n${renderHostsBlock(radarr, self)}\n${live}\n# also mine\n${renderHostsBlock(sonarr, instanceOwner(dead.pid ?? 0))}\n`,
    )
    writeFileSync(join(dir, `.hosts.expose-lb.${dead.pid}.1.tmp`), 'half a fi')
    writeFileSync(join(dir, `.hosts.expose-lb.${process.pid}.7.tmp`), 'a crashed run with our pid')
    writeFileSync(join(dir, `.hosts.expose-lb.${process.ppid}.1.tmp`), 'in flight') // alive: not ours to remove
    const file = new HostsFile(path, {log})
    await file.start()
    // The block of a live serve (our parent stands in for one) stays; ours from a run before and a dead one's go.
    expect(read(path)).toEqual(`# mine\n${live}\n# also mine\n`)
    expect(readdirSync(dir).sort()).toEqual([`.hosts.expose-lb.${process.ppid}.1.tmp`, 'hosts', 'hosts.expose-lb.bak'])
    expect(logs.sort()).toEqual(
      [
        `hosts file: removed .hosts.expose-lb.${dead.pid}.1.tmp, a temp file left by a run that was killed`,
        `hosts file: removed .hosts.expose-lb.${process.pid}.7.tmp, a temp file left by a run that was killed`,
        `hosts file: removing the kubectl-expose-lb block a previous run left in ${path}`,
        `hosts file: removing the kubectl-expose-lb block of pid ${dead.pid}, which is no longer running, from ${path}`,
      ].sort(),
    )
  })

  it('refuses to start on a damaged block, leaving the file alone', async () => {
    const content = `# a\n${HOSTS_BEGIN}\n127.0.0.1 x\n# the rest of my file\n`
    const {path} = makeHostsFile(content)
    await expect(new HostsFile(path).start()).rejects.toThrow(`${path}: the kubectl-expose-lb block is damaged`)
    expect(read(path)).toEqual(content)
  })

  it('writes through a symlink to its target, leaving the link in place', async () => {
    const {dir, path} = makeHostsFile()
    const link = join(dir, 'link')
    symlinkSync(path, link)
    const file = new HostsFile(link)
    await file.start()
    await file.update(radarr)
    expect(read(path)).toContain('radarr.kube.internal')
    await file.remove()
    expect(read(link)).toEqual('127.0.0.1 localhost\n')
    expect(statSync(link).isFile()).toBe(true)
    expect(readdirSync(dir).sort()).toEqual(['hosts', 'hosts.expose-lb.bak', 'link'])
  })

  describe('refuses a path that cannot be a hosts file, in one line naming it and the fix, writing nothing', () => {
    const cases: {name: string; path: (dir: string) => string; message: (dir: string) => string}[] = [
      {
        name: 'a directory',
        path: (dir) => dir,
        message: (dir) =>
          `cannot use ${dir} as the hosts file: it is a directory — pass --hosts-file the path of a file, e.g. --hosts-file /etc/hosts`,
      },
      {
        name: 'a file in a missing directory',
        path: (dir) => join(dir, 'missing', 'hosts'),
        message: (dir) =>
          `cannot write ${join(dir, 'missing', 'hosts')}: the directory ${join(dir, 'missing')} does not exist — create it, or pass --hosts-file a path in an existing directory`,
      },
      {
        name: 'a path through a file',
        path: (dir) => join(dir, 'hosts', 'hosts'),
        message: (dir) =>
          `cannot write ${join(dir, 'hosts', 'hosts')}: ${join(dir, 'hosts')} is not a directory — pass --hosts-file a path in an existing directory`,
      },
    ]
    it.each(cases)('$name', async ({path, message}) => {
      const {dir} = makeHostsFile()
      const error = await new HostsFile(path(dir)).start().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ExposeLbError)
      expect(error).toMatchObject({code: 'hostsFile', message: message(dir)})
      expect(readdirSync(dir)).toEqual(['hosts'])
    })
  })

  it('creates a missing file with mode 0644', async () => {
    const {dir} = makeHostsFile()
    const path = join(dir, 'new-hosts')
    const file = new HostsFile(path)
    await file.start()
    await file.update(radarr)
    expect(read(path)).toEqual(`${renderHostsBlock(radarr, self)}\n`)
    expect(statSync(path).mode & 0o7777).toEqual(0o644)
  })

  it.each(['remove', 'removeSync'] as const)(
    '%s() deletes a file the run created, and it made no backup of it (nothing of yours was in it)',
    async (how) => {
      const {dir} = makeHostsFile()
      const path = join(dir, 'new-hosts')
      const file = new HostsFile(path)
      await file.start()
      await file.update(radarr)
      await file.update(sonarr)
      expect(read(path)).toEqual(`${renderHostsBlock(sonarr, self)}\n`)
      if (how === 'remove') await file.remove()
      else file.removeSync()
      expect(readdirSync(dir)).toEqual(['hosts'])
    },
  )

  it('keeps a file the run created once someone else wrote to it, with only their lines', async () => {
    const {dir} = makeHostsFile()
    const path = join(dir, 'new-hosts')
    const file = new HostsFile(path)
    await file.start()
    await file.update(radarr)
    writeFileSync(path, `10.0.0.1 nas\n${read(path)}`)
    await file.update(sonarr)
    await file.remove()
    expect(read(path)).toEqual('10.0.0.1 nas\n')
  })

  it('backs up the file without the block a killed run left, never the block itself', async () => {
    const original = '# mine\n127.0.0.1 localhost\n'
    const {path} = makeHostsFile(`${original}${renderHostsBlock(radarr, self)}\n`)
    const file = new HostsFile(path)
    await file.start()
    expect(read(`${path}.expose-lb.bak`)).toEqual(original)
    await file.update(sonarr)
    await file.remove()
    expect(read(path)).toEqual(original)
    expect(read(`${path}.expose-lb.bak`)).toEqual(original)
  })
})

describe('HostsFile shared by several serves', () => {
  it("each keeps its own block: one's update and removal leave the other's alone", async () => {
    const original = '127.0.0.1 localhost\n'
    const {path} = makeHostsFile(original)
    const a = new HostsFile(path, {owner: 'pid=1'})
    const b = new HostsFile(path)
    await a.start()
    await b.start()
    await a.update(radarr)
    await b.update(sonarr)
    const lidarr = hostsOf({'lidarr.kube.internal': ['127.77.0.3']})
    await a.update(lidarr)
    expect(read(path)).toEqual(`${original}${renderHostsBlock(lidarr, 'pid=1')}\n${renderHostsBlock(sonarr, self)}\n`)
    await a.remove()
    expect(read(path)).toEqual(`${original}${renderHostsBlock(sonarr, self)}\n`)
    await b.remove()
    expect(read(path)).toEqual(original)
  })

  it('waits for a live holder of the lock, then says who holds it; takes over the lock of a dead one', async () => {
    const {dir, path} = makeHostsFile()
    const lock = join(dir, '.hosts.expose-lb.lock')
    writeFileSync(lock, `${process.ppid}\n`) // our parent is alive: a serve in the middle of its write
    const file = new HostsFile(path, {lockWaitMs: 200})
    await expect(file.start()).rejects.toThrow(
      `cannot update ${path}: another kubectl-expose-lb (pid ${process.ppid}) has held ${lock} for over 0.2 s — if that process is stuck, stop it or remove the lock file`,
    )
    const dead = spawn(process.execPath, ['-e', ''])
    await new Promise((done) => dead.on('exit', done))
    writeFileSync(lock, `${dead.pid}\n`)
    await file.start()
    await file.update(radarr)
    expect(read(path)).toContain(renderHostsBlock(radarr, self))
    expect(existsSync(lock)).toBe(false)
  })

  it('two processes writing in tight loops: once both have written, every version holds both blocks', async () => {
    const {path} = makeHostsFile('# mine\n')
    const script = resolve('test/serve/hosts-file-crash.ts')
    const writers = [0, 1].map(() => {
      const child = spawn(process.execPath, ['scripts/run-ts.mjs', script, path], {stdio: ['ignore', 'pipe', 'pipe']})
      dirs.push(resolve(`test/serve/.hosts-file-crash.${child.pid}.mjs`))
      const started = new Promise<void>((done) => child.stdout.once('data', () => done()))
      return {child, started, exited: new Promise((done) => child.on('exit', done))}
    })
    try {
      await Promise.all(writers.map((w) => w.started))
      const owners = writers.map((w) => instanceOwner(w.child.pid ?? 0)).sort()
      for (let i = 0; i < 200; i++) {
        expect(blockOwners(read(path)).sort()).toEqual(owners)
        await new Promise((done) => setTimeout(done, 2))
      }
    } finally {
      for (const w of writers) w.child.kill('SIGKILL')
      await Promise.all(writers.map((w) => w.exited))
    }
  })
})

/**
 * Runs hosts-file-crash.ts on `path`, SIGKILLs it once `until` says so; returns how many versions it wrote and the
 * owner token of its block.
 */
async function killWriter(
  path: string,
  args: string[],
  until: (line: string, written: number) => boolean,
): Promise<{written: number; owner: string}> {
  const script = resolve('test/serve/hosts-file-crash.ts')
  const child = spawn(process.execPath, ['scripts/run-ts.mjs', script, path, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // run-ts bundles beside the script and removes the bundle when done; a SIGKILL leaves it behind.
  dirs.push(resolve(`test/serve/.hosts-file-crash.${child.pid}.mjs`))
  const exited = new Promise<NodeJS.Signals | null>((done) => child.on('exit', (_, signal) => done(signal)))
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  let written = 0
  await new Promise<void>((done, fail) => {
    let buffered = ''
    child.stdout.on('data', (d: Buffer) => {
      const lines = (buffered + d.toString()).split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        if (line !== 'paused') written++
        if (until(line, written)) done()
      }
    })
    void exited.then(() => fail(new Error(`the writer exited early: ${stderr}`)))
  })
  child.kill('SIGKILL')
  expect(await exited).toEqual('SIGKILL')
  return {written, owner: instanceOwner(child.pid ?? 0)}
}

/**
 * The version of versionHosts() the block of `owner` holds, after checking every line is whole and the rest
 * unchanged.
 */
function blockVersion(content: string, original: string, owner: string): number {
  expect(replaceBlock(content, owner, undefined)).toEqual(original)
  const lines = content.slice(original.length).split('\n')
  expect([lines.shift(), lines.pop(), lines.pop()]).toEqual([beginLine(owner), '', endLine(owner)])
  for (const line of lines) expect(line).toMatch(/^[0-9a-f:.]+ svc-\d+\.v\d+\.kube\.internal$/)
  const version = Number(/\.v(\d+)\./.exec(lines[0] ?? '')?.[1])
  expect(content).toEqual(`${original}${renderHostsBlock(versionHosts(version), owner)}\n`)
  return version
}

describe('HostsFile killed in the middle of a series of updates', () => {
  const original = '# mine\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n'

  it('anywhere in a tight loop: the file is a complete version, and the next start cleans up', async () => {
    const {dir, path} = makeHostsFile(original)
    const {written, owner} = await killWriter(path, [], (_, n) => n >= 25)
    expect(blockVersion(read(path), original, owner)).toBeGreaterThanOrEqual(written - 1)
    await new HostsFile(path).start()
    expect(read(path)).toEqual(original)
    expect(readdirSync(dir).sort()).toEqual(['hosts', 'hosts.expose-lb.bak'])
  })

  it("the next start's backup is the file without the killed run's block", async () => {
    const {path} = makeHostsFile(original)
    await killWriter(path, [], (_, n) => n >= 5)
    expect(read(path)).not.toEqual(original)
    await new HostsFile(path).start()
    expect(read(`${path}.expose-lb.bak`)).toEqual(original)
  })

  it('between the temp file and the rename: the file is the previous version, the temp file goes at start', async () => {
    const {dir, path} = makeHostsFile(original)
    const {owner} = await killWriter(path, ['10'], (line) => line === 'paused')
    expect(blockVersion(read(path), original, owner)).toEqual(9)
    const leftovers = readdirSync(dir).filter((f) => f.endsWith('.tmp'))
    expect(leftovers).toHaveLength(1)
    expect(blockVersion(read(join(dir, leftovers[0] ?? '')), original, owner)).toEqual(10)
    await new HostsFile(path).start()
    expect(read(path)).toEqual(original)
    expect(readdirSync(dir).sort()).toEqual(['hosts', 'hosts.expose-lb.bak'])
  })
})
