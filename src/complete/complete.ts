// Shell completion of `kubectl expose-lb …`, pure: the words typed after the plugin name in, candidates and a
// directive out. kubectl (>= 1.26) runs a plugin's `kubectl_complete-<plugin>` executable with those words, the
// last one being the word to complete (empty when a new word starts), and relays what it prints: one candidate a
// line (`value` or `value<TAB>description`), then `:<directive>`, cobra's ShellCompDirective bitmask.
// https://github.com/kubernetes/kubernetes/pull/105867 (kubectl), spf13/cobra completions.go (the format).
// Values only the cluster or the kubeconfig knows come from a ValueSource (sources.ts does the I/O).

/** cobra's ShellCompDirective bits (spf13/cobra completions.go). */
export const DIRECTIVE = {
  /** The shell may fall back to file names when no candidate fits. */
  default: 0,
  /** No file-name fallback: the candidates are all there is. */
  noFileComp: 4,
} as const

/** A flag as completion sees it. */
export interface FlagSpec {
  /** The long name, without `--`. */
  name: string
  /** The short form, without `-`. */
  char?: string
  /** One line for shells that show descriptions (zsh, fish). */
  summary?: string
  takesValue: boolean
  /**
   * The value is only ever attached (`--verbose=2`, `-vv`): the bare flag stands alone and the next word is not
   * its value.
   */
  valueAttached?: boolean
  /** The only values the flag accepts (oclif's Flags.option). */
  options?: readonly string[]
  /** Accepted more than once, so still offered after it was given. */
  multiple?: boolean
  /** A boolean with a `--no-<name>` form. */
  allowNo?: boolean
  /** Understood on the line but never offered. */
  hidden?: boolean
}

/** A subcommand and its flags. */
export interface CommandSpec {
  id: string
  summary?: string
  flags: FlagSpec[]
}

/** A topic: the first word of commands such as `service install` (oclif ids `service:install`). */
export interface Topic {
  name: string
  description?: string
}

/**
 * The words that can come next where a command is expected: after a topic its subcommands, else the commands
 * without a topic and the topics, each once.
 */
function commandWords(
  commands: readonly CommandSpec[],
  topic: string | undefined,
  prefix: string,
  topics: readonly Topic[],
): Candidate[] {
  if (topic !== undefined)
    return commands
      .filter((c) => c.id.startsWith(`${topic}:`))
      .map((c) => ({value: c.id.slice(topic.length + 1), description: c.summary}))
      .filter((c) => c.value.startsWith(prefix))
  const words: Candidate[] = []
  for (const c of commands) {
    const [first = '', rest] = c.id.split(':', 2)
    if (words.some((w) => w.value === first)) continue
    const description = rest === undefined ? c.summary : topics.find((t) => t.name === first)?.description
    words.push({value: first, ...(description === undefined ? {} : {description})})
  }
  return words.filter((w) => w.value.startsWith(prefix))
}

/** One line of the answer. */
export interface Candidate {
  value: string
  description?: string
}

export interface Completion {
  candidates: Candidate[]
  directive: number
}

/** The cluster a value is looked up in: what --kubeconfig and --context say earlier on the line. */
export interface ClusterTarget {
  kubeconfig?: string
  context?: string
}

/** Values only the kubeconfig or the cluster knows. Implementations return [] rather than throw or hang. */
export interface ValueSource {
  contexts(target: ClusterTarget): Promise<string[]>
  namespaces(target: ClusterTarget): Promise<string[]>
}

/** Flags whose values are not a fixed list, by long name (kubectl's names, see src/commands/flags.ts). */
const VALUES_FROM: Readonly<Record<string, 'files' | 'contexts' | 'namespaces'>> = {
  kubeconfig: 'files',
  context: 'contexts',
  namespace: 'namespaces',
}

const NOTHING: Completion = {candidates: [], directive: DIRECTIVE.noFileComp}

/**
 * Completes the last of `words` (the words after `kubectl expose-lb`). Flags may come before the subcommand, as
 * kubectl passes them (`--context prod li<TAB>`); an empty word after a subcommand offers its long flags, since
 * no command takes arguments.
 */
export async function complete(
  words: readonly string[],
  commands: readonly CommandSpec[],
  source: ValueSource,
  topics: readonly Topic[] = [],
): Promise<Completion> {
  const current = words.at(-1) ?? ''
  const line = readLine(words.slice(0, -1), commands)
  if (line.stray || line.endOfFlags) return NOTHING
  const inScope = line.command ? line.command.flags : allFlags(commands)

  if (line.pending) return completeValue(line.pending, current, '', line, source)
  if (current.startsWith('--') && current.includes('=')) {
    const at = current.indexOf('=')
    const flag = findLong(current.slice(2, at), inScope)
    if (!flag?.takesValue) return NOTHING
    return completeValue(flag, current.slice(at + 1), current.slice(0, at + 1), line, source)
  }
  if (current.startsWith('-')) {
    return {
      candidates: flagCandidates(offered(line, commands), current, line.used, true),
      directive: DIRECTIVE.noFileComp,
    }
  }
  if (!line.command)
    return {candidates: commandWords(commands, line.topic, current, topics), directive: DIRECTIVE.noFileComp}
  if (current === '') {
    return {candidates: flagCandidates(line.command.flags, current, line.used, false), directive: DIRECTIVE.noFileComp}
  }
  return NOTHING
}

/** cobra's `__complete` output: candidates, then `:<directive>`. */
export function formatCompletion({candidates, directive}: Completion): string {
  const lines = candidates
    // A value with a line break or tab cannot be written in this format (and is no Kubernetes name).
    .filter((c) => !/[\t\n\r]/.test(c.value))
    .map((c) => (c.description ? `${c.value}\t${c.description}` : c.value))
  return `${[...lines, `:${directive}`].join('\n')}\n`
}

/** The parts of an oclif flag (a class's static flag or its cached form in config.commands) completion reads. */
export interface OclifFlagLike {
  type: 'boolean' | 'option'
  char?: string
  summary?: string
  description?: string
  hidden?: boolean
  options?: readonly string[]
  multiple?: boolean
  allowNo?: boolean
}

/** The parts of an oclif command (class or cached) completion reads. */
export interface OclifCommandLike {
  hidden?: boolean
  summary?: string
  description?: string
  flags?: Readonly<Record<string, OclifFlagLike | undefined>>
}

/**
 * Command specs from oclif's commands, so new commands and flags complete without being listed here. Hidden
 * commands are left out; hidden flags are kept for reading the line but not offered. `helpFlags` are oclif's
 * help flags (`--help` plus package.json's oclif.additionalHelpFlags), which every command accepts.
 */
export function toCommandSpecs(
  commands: Iterable<readonly [string, OclifCommandLike]>,
  helpFlags: readonly string[] = ['--help'],
): CommandSpec[] {
  const help = helpFlag(helpFlags)
  const specs: CommandSpec[] = []
  for (const [id, command] of commands) {
    if (command.hidden) continue
    const flags = Object.entries(command.flags ?? {}).flatMap(([name, flag]) => (flag ? [toFlagSpec(name, flag)] : []))
    if (help && !flags.some((f) => f.name === help.name)) flags.push(help)
    specs.push({id, summary: oneLine(command.summary ?? command.description), flags})
  }
  return specs
}

function toFlagSpec(name: string, flag: OclifFlagLike): FlagSpec {
  return {
    name,
    char: flag.char,
    summary: oneLine(flag.summary ?? flag.description),
    takesValue: flag.type === 'option',
    options: flag.options,
    // Only `true` is kept, so specs compare equal whether oclif left a field out or set it false.
    multiple: flag.multiple || undefined,
    allowNo: flag.allowNo || undefined,
    hidden: flag.hidden || undefined,
  }
}

function helpFlag(helpFlags: readonly string[]): FlagSpec | undefined {
  const long = helpFlags.find((f) => f.startsWith('--'))
  if (!long) return undefined
  const char = helpFlags.find((f) => /^-[^-]$/.test(f))?.slice(1)
  return {name: long.slice(2), char, summary: 'Show help', takesValue: false}
}

/** What the words before the one being completed say. */
interface Line {
  command?: CommandSpec
  /** Values of the flags given so far, by long name; the last one wins, as in oclif. */
  values: Map<string, string>
  /** Long names of the flags given so far. */
  used: Set<string>
  /** The flag whose value is the word being completed (`--context <TAB>`). */
  pending?: FlagSpec
  /** After `--` every word is an argument, and no command takes one. */
  endOfFlags: boolean
  /** A word before any subcommand that names none: the CLI would fail, so nothing fits. */
  stray: boolean
  /** A topic typed, its subcommand not yet (`service <TAB>`). */
  topic?: string
}

function readLine(words: readonly string[], commands: readonly CommandSpec[]): Line {
  const line: Line = {values: new Map(), used: new Set(), endOfFlags: false, stray: false}
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!
    if (line.endOfFlags) continue
    if (word === '--') {
      line.endOfFlags = true
      continue
    }
    // Before the subcommand any command's flag may appear (the CLI moves the subcommand to the front).
    const inScope = line.command ? line.command.flags : allFlags(commands)
    if (word.startsWith('--')) {
      const at = word.indexOf('=')
      const flag = findLong(at < 0 ? word.slice(2) : word.slice(2, at), inScope)
      if (!flag) continue
      line.used.add(flag.name)
      if (!flag.takesValue) continue
      if (at >= 0) line.values.set(flag.name, word.slice(at + 1))
      else if (flag.valueAttached) continue
      else if (i + 1 < words.length) line.values.set(flag.name, words[++i]!)
      else line.pending = flag
    } else if (word.startsWith('-') && word !== '-') {
      // `-n media`, `-nmedia`, `-n=media`, and booleans bundled as `-Av`.
      for (let c = 1; c < word.length; c++) {
        const flag = inScope.find((f) => f.char === word[c])
        if (!flag) break
        line.used.add(flag.name)
        if (!flag.takesValue) continue
        const rest = word.slice(c + 1).replace(/^=/, '')
        if (rest) line.values.set(flag.name, rest)
        else if (flag.valueAttached) continue
        else if (i + 1 < words.length) line.values.set(flag.name, words[++i]!)
        else line.pending = flag
        break
      }
    } else if (!line.command) {
      const id = line.topic === undefined ? word : `${line.topic}:${word}`
      line.command = commands.find((c) => c.id === id)
      if (!line.command && line.topic === undefined && commands.some((c) => c.id.startsWith(`${word}:`))) {
        line.topic = word
        continue
      }
      line.stray = !line.command
      if (line.stray) return line
    }
  }
  return line
}

async function completeValue(
  flag: FlagSpec,
  prefix: string,
  insert: string,
  line: Line,
  source: ValueSource,
): Promise<Completion> {
  const from = VALUES_FROM[flag.name]
  if (from === 'files') return {candidates: [], directive: DIRECTIVE.default}
  let values: readonly string[] = flag.options ?? []
  const target: ClusterTarget = {kubeconfig: line.values.get('kubeconfig'), context: line.values.get('context')}
  try {
    if (from === 'contexts') values = await source.contexts(target)
    else if (from === 'namespaces') values = await source.namespaces(target)
  } catch {
    values = [] // a source should not throw; completion shows nothing rather than an error
  }
  const candidates = [...new Set(values)].filter((v) => v.startsWith(prefix)).map((v) => ({value: insert + v}))
  return {candidates, directive: DIRECTIVE.noFileComp}
}

/**
 * Flag forms starting with `prefix`: long forms, plus short ones when `withShort`. Flags already given are left
 * out unless they may repeat, as cobra does.
 */
function flagCandidates(
  flags: readonly FlagSpec[],
  prefix: string,
  used: ReadonlySet<string>,
  withShort: boolean,
): Candidate[] {
  const candidates: Candidate[] = []
  for (const flag of flags) {
    if (flag.hidden || (used.has(flag.name) && !flag.multiple)) continue
    const forms = [`--${flag.name}`]
    if (flag.allowNo) forms.push(`--no-${flag.name}`)
    if (withShort && flag.char) forms.push(`-${flag.char}`)
    for (const form of forms) if (form.startsWith(prefix)) candidates.push({value: form, description: flag.summary})
  }
  return candidates
}

/** The flags to offer: the subcommand's, or before it those every subcommand accepts. */
function offered(line: Line, commands: readonly CommandSpec[]): readonly FlagSpec[] {
  if (line.command) return line.command.flags
  const [first, ...rest] = commands
  return (first?.flags ?? []).filter((f) => rest.every((c) => c.flags.some((g) => g.name === f.name)))
}

/** Every command's flags, the first definition of a name winning: for reading flags before the subcommand. */
function allFlags(commands: readonly CommandSpec[]): FlagSpec[] {
  const byName = new Map<string, FlagSpec>()
  for (const command of commands)
    for (const flag of command.flags) if (!byName.has(flag.name)) byName.set(flag.name, flag)
  return [...byName.values()]
}

/** A long flag by name, `--no-<name>` included. */
function findLong(name: string, flags: readonly FlagSpec[]): FlagSpec | undefined {
  const direct = flags.find((f) => f.name === name)
  if (direct || !name.startsWith('no-')) return direct
  return flags.find((f) => f.allowNo && f.name === name.slice(3))
}

/** The first line, tabs flattened: a description must fit after the tab on one output line. */
function oneLine(text: string | undefined): string | undefined {
  const line = text?.split('\n')[0]?.replace(/\t/g, ' ').trim()
  return line || undefined
}
