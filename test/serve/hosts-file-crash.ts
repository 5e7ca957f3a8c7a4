// The child of hosts-file.test.ts's crash test: `node scripts/run-ts.mjs test/serve/hosts-file-crash.ts <path>
// [pauseAt]` rewrites the hosts file in a tight loop, printing each version once written, until the test kills it.
// With pauseAt, the write of that version stops between its complete temp file and the rename, says "paused",
// and waits there to be killed: the one moment a crash leaves a temp file behind.
import {renameSync} from 'node:fs'
import {HostsFile} from '../../src/serve/hosts-file.js'

/** Version `i` of serve's names: every name carries `v<i>`, and sizes vary so that a torn write would show. */
export function versionHosts(i: number): Map<string, string[]> {
  const hosts = new Map<string, string[]>()
  const count = 40 + (i % 5) * 60
  for (let n = 0; n < count; n++) {
    hosts.set(`svc-${n}.v${i}.kube.internal`, [`127.77.${n >> 8}.${n & 255}`, `fd00::${n.toString(16)}`])
  }
  return hosts
}

const [, entry, path, pauseAt] = process.argv
if (path && entry?.endsWith('hosts-file-crash.ts')) {
  let version = 0
  const rename = (from: string, to: string) => {
    if (String(version) === pauseAt) {
      process.stdout.write('paused\n') // synchronous on a pipe (Linux)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000)
    }
    renameSync(from, to)
  }
  const file = new HostsFile(path, {rename})
  await file.start()
  for (; ; version++) {
    await file.update(versionHosts(version))
    process.stdout.write(`${version}\n`)
  }
}
