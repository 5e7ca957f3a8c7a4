// The CLI entry point that bin/kubectl-expose_lb imports.
import {Errors, flush, run, type Interfaces} from '@oclif/core'
import {hoistCommand, normalizeOptionalValue, normalizeVerbosity, verbosityOf} from './argv.js'
import {COMMANDS} from './commands.js'
import {valueFlags} from './commands/flags.js'
import {EXIT, ExposeLbError} from './errors.js'
import {paint, useColor} from './log.js'
import {escapeControlsKeepingLines} from './terminal.js'
import {DEFAULT_HOSTS_FILE} from './serve/hosts-file.js'
import {restartWithStartFlags} from './serve/heap-growth.js'

/**
 * Runs the CLI with kubectl's argv and sets the exit status; never throws. `config` is where oclif finds the
 * package and its commands: by default the package.json above this file; the single executable passes its own.
 */
export async function main(
  argv: string[],
  config: () => Promise<Interfaces.LoadOptions> = async () => import.meta.url,
): Promise<void> {
  const normalized = normalizeOptionalValue(normalizeVerbosity(argv), '--hosts-file', DEFAULT_HOSTS_FILE)
  const args = hoistCommand(normalized, Object.keys(COMMANDS), valueFlags(COMMANDS))
  // serve's young generation is set when Node starts (serve/heap-growth.ts): before anything is loaded or printed.
  if (args[0] === 'serve') restartWithStartFlags()
  const verbose = verbosityOf(args) > 0
  // The bundle is minified; with -v, stacks should point at src/ through the shipped source maps.
  if (verbose) process.setSourceMapsEnabled(true)
  try {
    await run(args, await config())
    await flush()
  } catch (error) {
    process.exitCode = report(error, verbose)
  }
}

/** Prints one clear line (plus the detail an error carries, and the stack with -v) and returns the exit status. */
function report(error: unknown, verbose: boolean): number {
  if (error instanceof Errors.ExitError) return error.oclif.exit ?? 0
  let code: number = EXIT.internal
  let message = error instanceof Error ? error.message : String(error)
  let detail: string | undefined
  if (error instanceof ExposeLbError) {
    code = EXIT[error.code]
    detail = error.detail
  } else if (error instanceof Errors.CLIError) {
    // Flag parsing and unknown commands: oclif's lines joined into one (minus its own help hint), then ours.
    code = EXIT.usage
    const lines = message
      .split('\n')
      .map((line) => line.trim().replace(/:$/, ''))
      .filter((line) => line && !/^see more help/i.test(line))
    message = `${lines.join(': ')} (see 'kubectl expose-lb --help')`
  }
  // An API server's message is the cluster's text: escaped like everything else the terminal shows.
  const line = `error: ${escapeControlsKeepingLines(message)}`
  process.stderr.write(`${paint('error', line, useColor(process.stderr))}\n`)
  if (detail) process.stderr.write(`${escapeControlsKeepingLines(detail)}\n`)
  if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`)
  return code
}
