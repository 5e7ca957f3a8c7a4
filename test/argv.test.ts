import {describe, expect, it} from 'vitest'
import {hoistCommand, normalizeOptionalValue, normalizeVerbosity, verbosityOf} from '../src/argv.js'
import {COMMANDS} from '../src/commands.js'
import {valueFlags} from '../src/commands/flags.js'

const hoist = (argv: string) =>
  hoistCommand(argv.split(' ').filter(Boolean), ['list', 'serve'], valueFlags(COMMANDS)).join(' ')

describe('hoistCommand', () => {
  it.each([
    ['list -A', 'list -A'],
    ['--context prod list', 'list --context prod'],
    ['--context=prod -n media list -o wide', 'list --context=prod -n media -o wide'],
    ['--context list serve', 'serve --context list'], // "list" is the value of --context here
    ['-n serve list', 'list -n serve'],
    ['--kubeconfig /tmp/k --no-headers list', 'list --kubeconfig /tmp/k --no-headers'],
    ['--help', '--help'],
    ['', ''],
    ['--context prod frobnicate', '--context prod frobnicate'], // unknown command: left for oclif to report
    ['-- list', '-- list'],
    ['--dns-port 53 --ip-range none serve --demo', 'serve --dns-port 53 --ip-range none --demo'],
    ['--verbose=2 list', 'list --verbose=2'],
  ])('%s → %s', (input, output) => {
    expect(hoist(input)).toBe(output)
  })
})

describe('hoistCommand with a topic', () => {
  const ids = ['serve', 'service:install', 'service:status']
  it.each([
    ['--context prod service install --dry-run', 'service install --context prod --dry-run'],
    ['--kubeconfig /tmp/k service status', 'service status --kubeconfig /tmp/k'],
    ['service install --context prod', 'service install --context prod'],
    ['--context prod service', 'service --context prod'], // the topic alone: oclif prints its help
    ['--context prod service frobnicate', 'service --context prod frobnicate'],
  ])('%s → %s', (input, output) => {
    expect(hoistCommand(input.split(' '), ids, valueFlags(COMMANDS)).join(' ')).toBe(output)
  })
})

describe('normalizeVerbosity', () => {
  it.each([
    ['-v', '--verbose=1'],
    ['-vv', '--verbose=2'],
    ['-vvv', '--verbose=3'],
    ['-v=4', '--verbose=4'],
    ['-v4', '--verbose=4'],
    ['--verbose', '--verbose=1'],
    ['--verbose=2', '--verbose=2'],
    ['-n', '-n'],
    ['-- -v', '-- -v'],
  ])('%s → %s', (input, output) => {
    expect(normalizeVerbosity(input.split(' ')).join(' ')).toBe(output)
  })

  it('reads the verbosity back', () => {
    expect(verbosityOf(['list', '--verbose=2'])).toBe(2)
    expect(verbosityOf(['list'])).toBe(0)
  })
})

describe('normalizeOptionalValue', () => {
  it.each([
    ['serve --hosts-file', 'serve --hosts-file=/etc/hosts'],
    ['serve --hosts-file -v', 'serve --hosts-file=/etc/hosts -v'],
    ['serve --hosts-file /tmp/hosts --demo', 'serve --hosts-file=/tmp/hosts --demo'],
    ['serve --hosts-file=/tmp/h', 'serve --hosts-file=/tmp/h'],
    ['serve -- --hosts-file', 'serve -- --hosts-file'],
  ])('%s → %s', (input, output) => {
    expect(normalizeOptionalValue(input.split(' '), '--hosts-file', '/etc/hosts').join(' ')).toBe(output)
  })
})
