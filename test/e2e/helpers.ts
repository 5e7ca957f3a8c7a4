// Helpers for whole-process tests: run the real executable through kubectl's plugin discovery.
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll} from 'vitest'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const BIN_DIR = join(ROOT, 'bin')

/** Temp files of the test file importing this module; removed when it ends. */
const scratch = mkdtempSync(join(tmpdir(), 'expose-lb-e2e-'))
afterAll(() => rmSync(scratch, {recursive: true, force: true}))
let counter = 0

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/**
 * Runs `kubectl <args>` with the repo's bin/ first on PATH and no ambient KUBECONFIG or HOME config. Each run has
 * a runtime folder of its own (XDG_RUNTIME_DIR), so serves of tests running at once do not see each other's
 * instance records (src/serve/instance.ts); a test about two serves passes one folder to both.
 */
export function kubectl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const home = mkdtempSync(join(scratch, 'home-'))
  const base: NodeJS.ProcessEnv = {
    PATH: [BIN_DIR, dirname(process.execPath), process.env.PATH].join(delimiter),
    HOME: home,
    XDG_RUNTIME_DIR: scratchDir(),
    NO_COLOR: '1',
  }
  return new Promise((resolve) => {
    execFile('kubectl', args, {env: {...base, ...env}, timeout: 20_000}, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({code, stdout, stderr})
    })
  })
}

/** Writes a kubeconfig into a temp file removed after the test. */
export function writeKubeconfig(text: string): string {
  const file = join(scratch, `kubeconfig-${++counter}`)
  writeFileSync(file, text)
  return file
}

/** A new empty folder in this test file's scratch space (removed when the file ends). */
export function scratchDir(): string {
  return mkdtempSync(join(scratch, 'dir-'))
}
