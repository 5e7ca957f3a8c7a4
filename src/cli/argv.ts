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
    if (!commandIds.includes(word)) return argv
    if (i === 0) return argv
    return [word, ...argv.slice(0, i), ...argv.slice(i + 1)]
  }
  return argv
}
