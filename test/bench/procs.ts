// The child processes and temp dirs the serve bench starts, kept in one place so that every one is stopped and
// removed when the bench ends, fails, or is interrupted (Ctrl-C).
import {spawn, type ChildProcess} from 'node:child_process'
import {chmodSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, dirname, join} from 'node:path'

/** How much of a child's output is kept for error messages. */
const OUTPUT_TAIL_CHARS = 64 * 1024
/** How long a child gets after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 6000

/** A running child process started through `startProcess`. */
export interface Proc {
  name: string
  child: ChildProcess
  /** Resolves with the exit code, or the signal name, once the child has exited. */
  exited: Promise<number | string | null>
  hasExited(): boolean
  /** The last 64 KiB of stdout and stderr together, for error messages. */
  output(): string
  /** Bytes written to stdout so far. */
  stdoutBytes(): number
  /** Resolves with the first match of `pattern` in the child's output (stdout or stderr) from now on. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>
  /** SIGTERM, then SIGKILL after a grace period; resolves once the child is gone. */
  stop(): Promise<void>
}

const running = new Set<Proc>()
const dirs = new Set<string>()

interface Waiter {
  pattern: RegExp
  resolve(m: RegExpExecArray): void
}

/** Starts `command args` with stdout and stderr captured (and always drained, so a chatty child never blocks). */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: {env?: NodeJS.ProcessEnv; cwd?: string} = {},
): Proc {
  const child = spawn(command, args, {stdio: ['ignore', 'pipe', 'pipe'], env: options.env, cwd: options.cwd})
  let tail = ''
  // Recent output for pattern matching; lines of interest are short, so 8 KiB of carry-over is plenty.
  let window = ''
  const waiters = new Set<Waiter>()
  let done = false
  const onData = (chunk: Buffer) => {
    const text = chunk.toString()
    tail = (tail + text).slice(-OUTPUT_TAIL_CHARS)
    window = (window + text).slice(-8192)
    for (const w of waiters) {
      const m = w.pattern.exec(window)
      if (m) {
        waiters.delete(w)
        w.resolve(m)
      }
    }
  }
  let stdoutBytes = 0
  child.stdout!.on('data', (chunk: Buffer) => {
    stdoutBytes += chunk.length
    onData(chunk)
  })
  child.stderr!.on('data', onData)
  const exited = new Promise<number | string | null>((resolve) => {
    child.on('error', (error) => {
      tail += `\n[${name}: ${error.message}]`
      done = true
      resolve(null)
    })
    child.on('exit', (code, signal) => {
      done = true
      resolve(code ?? signal)
    })
  })
  const proc: Proc = {
    name,
    child,
    exited,
    hasExited: () => done,
    output: () => tail,
    stdoutBytes: () => stdoutBytes,
    waitForOutput(pattern, timeoutMs) {
      const already = pattern.exec(window)
      if (already) return Promise.resolve(already)
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          pattern,
          resolve: (m) => {
            clearTimeout(timer)
            resolve(m)
          },
        }
        const timer = setTimeout(() => {
          waiters.delete(waiter)
          reject(new Error(`${name}: no output matching ${pattern} within ${timeoutMs} ms:\n${tail.slice(-2000)}`))
        }, timeoutMs)
        waiters.add(waiter)
        void exited.then((code) => {
          if (!waiters.delete(waiter)) return
          clearTimeout(timer)
          reject(new Error(`${name} exited (${code}) before printing ${pattern}:\n${tail.slice(-2000)}`))
        })
      })
    },
    async stop() {
      if (!done) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
        await exited
        clearTimeout(timer)
      }
      running.delete(proc)
    },
  }
  running.add(proc)
  void exited.then(() => running.delete(proc))
  return proc
}

/**
 * The environment for running bin/kubectl-expose_lb as kubectl does (an executable: its sh line starts the `node` on
 * PATH with serve's young generation): this process's Node first on PATH, so the bench measures the Node it runs on.
 */
export function launcherEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {...process.env, ...extra, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`}
}

/** A new temp dir, readable by all: nginx and dnsmasq drop privileges to `nobody` before reading files in it. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o755)
  dirs.add(dir)
  return dir
}

/** Stops every child still running and removes every temp dir. */
export async function cleanup(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()))
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
  dirs.clear()
}

/** The synchronous last resort for process 'exit': SIGTERM to what is left (nginx's master then stops its workers). */
export function cleanupSync(): void {
  for (const p of running) if (!p.hasExited()) p.child.kill('SIGTERM')
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
  dirs.clear()
}
