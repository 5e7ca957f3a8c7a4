import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {promisify} from 'node:util'

import {describe, expect, it, onTestFinished} from 'vitest'

import {rawTcp, takeHandle} from '../../src/proxy/raw-tcp.js'
import {waitFor} from './backends.js'

const run = promisify(execFile)

describe('raw-tcp', () => {
  it("finds Node's TCP handles on this Node (20, 22 and 24 all have them: the relays run on them)", () => {
    expect(rawTcp).toBeDefined()
  })

  it('takes the handle out of an accepted socket; its server still counts the connection until the shell goes', async () => {
    let shell: net.Socket | undefined
    let taken: ReturnType<typeof takeHandle>
    const server = net.createServer({pauseOnConnect: true}, (accepted) => {
      shell = accepted
      taken = takeHandle(accepted)
    })
    onTestFinished(() => void server.close())
    await new Promise<void>((done) => server.listen(0, '127.0.10.120', done))
    const client = net.connect({host: '127.0.10.120', port: (server.address() as net.AddressInfo).port})
    onTestFinished(() => void client.destroy())
    await waitFor(() => shell !== undefined, 'the accept')
    expect(taken).toBeDefined()
    expect((shell as unknown as {_handle: unknown})._handle).toBeNull()
    // A socket that is reading already, or has no handle, is left as it is.
    expect(takeHandle(new net.Socket())).toBeUndefined()

    let closed = false
    server.close(() => (closed = true))
    await new Promise((done) => setTimeout(done, 100))
    expect(closed).toBe(false)
    taken!.close(() => shell!.destroy())
    await waitFor(() => closed, 'the server closed once the shell did')
  })

  it('is not used when the user asked Node to warn about pending deprecations (process.binding is one)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raw-tcp-'))
    onTestFinished(() => rmSync(dir, {recursive: true, force: true}))
    const script = join(dir, 'probe.ts')
    const module = resolve('src/proxy/raw-tcp.ts')
    writeFileSync(
      script,
      `import {rawTcp} from ${JSON.stringify(module)}\nconsole.log(rawTcp ? 'handles' : 'sockets')\n`,
    )
    const runTs = resolve('scripts/run-ts.mjs')
    const plain = await run(process.execPath, [runTs, script])
    expect(plain.stdout.trim()).toBe('handles')
    const flagged = await run(process.execPath, ['--pending-deprecation', runTs, script])
    expect(flagged.stdout.trim()).toBe('sockets')
    expect(flagged.stderr).not.toContain('DEP0111')
    const viaEnv = await run(process.execPath, [runTs, script], {
      env: {...process.env, NODE_OPTIONS: '--pending-deprecation'},
    })
    expect(viaEnv.stdout.trim()).toBe('sockets')
    expect(viaEnv.stderr).not.toContain('DEP0111')
  })
})
