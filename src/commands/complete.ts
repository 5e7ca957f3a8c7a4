import {Command} from '@oclif/core'
import {normalizeVerbosity} from '../argv.js'
import {complete, DIRECTIVE, formatCompletion, toCommandSpecs, type CommandSpec} from '../complete/complete.js'
import {clusterSource} from '../complete/sources.js'

/**
 * `kubectl expose-lb __complete [--] WORDS…`: shell completion in cobra's `__complete` format, run by
 * bin/kubectl_complete-expose_lb, which kubectl (>= 1.26) calls on TAB. Prints nothing but candidates and the
 * directive, never an error: kubectl relays stderr to the terminal and drops the answer of a failed run.
 */
export default class Complete extends Command {
  static override hidden = true
  // The words are read raw; non-strict also keeps oclif from joining them into the command id.
  static override strict = false
  static override summary = 'Print completion candidates for the words after kubectl expose-lb'

  async run(): Promise<void> {
    // The shim puts `--` first so oclif leaves a typed -h/--help/--version alone.
    const words = this.argv[0] === '--' ? this.argv.slice(1) : this.argv
    let text = formatCompletion({candidates: [], directive: DIRECTIVE.noFileComp})
    try {
      const helpFlags = ['--help', ...(this.config.pjson.oclif.additionalHelpFlags ?? [])]
      const commands = attachedValues(
        toCommandSpecs(
          this.config.commands.map((c) => [c.id, c] as const),
          helpFlags,
        ),
      )
      const topics = this.config.topics.map((t) => ({name: t.name, description: t.description}))
      text = formatCompletion(await complete(words.length > 0 ? words : [''], commands, clusterSource(), topics))
    } catch {
      // Nothing to offer; a message would land in the middle of the user's command line.
    }
    await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()))
    // A namespace lookup that timed out, or a credential plugin it started, may still hold the event loop;
    // completion has answered, so end now rather than when they give up.
    process.exit(0)
  }
}

/**
 * Marks the flags the CLI rewrites when they stand alone (`-v` becomes `--verbose=1`, see normalizeVerbosity in
 * src/cli/argv.ts): their value is attached or absent, so the next word is never theirs.
 */
function attachedValues(commands: CommandSpec[]): CommandSpec[] {
  const rewritten = (name: string) => normalizeVerbosity([`--${name}`])[0] !== `--${name}`
  return commands.map((command) => ({
    ...command,
    flags: command.flags.map((f) => (f.takesValue && rewritten(f.name) ? {...f, valueAttached: true} : f)),
  }))
}
