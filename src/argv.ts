/**
 * kubectl hands a plugin every word after its name, so `kubectl expose-lb --context prod list` arrives as
 * `--context prod list`. oclif reads the first word as the command id, so move the command to the front.
 */
export function hoistCommand(argv: string[], commandIds: readonly string[], valueFlags: ReadonlySet<string>): string[] {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!
    if (word === '--') return argv
    if (word.startsWith('-')) {
      // `--context prod` and `-n prod` take the next word; `--context=prod` and `-nprod` do not.
      if (!word.includes('=') && valueFlags.has(word)) i++
      continue
    }
    // A topic (`service` of oclif's id `service:install`) moves with its subcommand, or alone (oclif lists them).
    const topic = commandIds.some((id) => id.startsWith(`${word}:`))
    const words =
      topic && commandIds.includes(`${word}:${argv[i + 1]}`) ? 2 : topic || commandIds.includes(word) ? 1 : 0
    if (words === 0 || i === 0) return argv
    return [...argv.slice(i, i + words), ...argv.slice(0, i), ...argv.slice(i + words)]
  }
  return argv
}

/**
 * kubectl-style verbosity: `-v`, `-vv`, `-v=3`, `-v3` and a bare `--verbose` become `--verbose=N`, since oclif
 * flags cannot take an optional value. Words after `--` are left alone.
 */
export function normalizeVerbosity(argv: string[]): string[] {
  const end = argv.indexOf('--')
  return argv.map((word, i) => {
    if (end !== -1 && i > end) return word
    if (word === '--verbose') return '--verbose=1'
    const counted = /^-(v+)$/.exec(word)
    if (counted) return `--verbose=${counted[1]!.length}`
    const valued = /^-v=?(\d+)$/.exec(word)
    return valued ? `--verbose=${valued[1]}` : word
  })
}

/** The verbosity normalizeVerbosity left in argv (0 when none). */
export function verbosityOf(argv: string[]): number {
  const found = argv.find((w) => w.startsWith('--verbose='))
  return found ? Number(found.slice('--verbose='.length)) || 0 : 0
}

/**
 * `serve --hosts-file [path]`: oclif flags cannot take an optional value, so a bare `--hosts-file` becomes
 * `--hosts-file=<fallback>` and `--hosts-file PATH` becomes `--hosts-file=PATH`.
 */
export function normalizeOptionalValue(argv: string[], flag: string, fallback: string): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!
    if (word === '--') return [...out, ...argv.slice(i)]
    if (word !== flag) {
      out.push(word)
      continue
    }
    const next = argv[i + 1]
    if (next !== undefined && !next.startsWith('-')) {
      out.push(`${flag}=${next}`)
      i++
    } else {
      out.push(`${flag}=${fallback}`)
    }
  }
  return out
}
