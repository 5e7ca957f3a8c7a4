// Runs a few lines of TypeScript as a program of their own (scripts/run-ts.mjs), for tests about what a process does
// (stays alive or exits, what it prints under some Node option). The file lives in a temp dir removed after the test.
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {promisify} from 'node:util'

import {onTestFinished} from 'vitest'

const run = promisify(execFile)

/** A `import {...} from '<repo>/<path>'` line for a snippet (the path from the repository root, e.g. src/x.ts). */
export function importLine(names: string, path: string): string {
  return `import {${names}} from ${JSON.stringify(resolve(path))}\n`
}

/** Writes `source` to a file and returns a function that runs it (Node options first; env as given, or this one's). */
export function snippet(
  source: string,
): (nodeOptions?: string[], env?: NodeJS.ProcessEnv) => Promise<{stdout: string; stderr: string}> {
  const dir = mkdtempSync(join(tmpdir(), 'snippet-'))
  onTestFinished(() => rmSync(dir, {recursive: true, force: true}))
  const script = join(dir, 'snippet.ts')
  writeFileSync(script, source)
  return (nodeOptions = [], env = process.env) =>
    run(process.execPath, [...nodeOptions, resolve('scripts/run-ts.mjs'), script], {env})
}
