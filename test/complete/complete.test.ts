// The pure completer: words typed after `kubectl expose-lb` → candidates and cobra's directive.
import {Command, Flags} from '@oclif/core'
import {describe, expect, it} from 'vitest'
import {COMMANDS} from '../../src/commands.js'
import {
  complete,
  DIRECTIVE,
  formatCompletion,
  toCommandSpecs,
  type ClusterTarget,
  type CommandSpec,
  type Completion,
  type FlagSpec,
  type ValueSource,
} from '../../src/complete/complete.js'

function valueFlag(name: string, extra: Partial<FlagSpec> = {}): FlagSpec {
  return {name, takesValue: true, ...extra}
}
function boolFlag(name: string, extra: Partial<FlagSpec> = {}): FlagSpec {
  return {name, takesValue: false, ...extra}
}

const CLUSTER_FLAGS = [
  valueFlag('kubeconfig'),
  valueFlag('context'),
  valueFlag('namespace', {char: 'n'}),
  boolFlag('all-namespaces', {char: 'A'}),
  valueFlag('verbose', {char: 'v', valueAttached: true}),
  boolFlag('help', {char: 'h'}),
]
const LIST: CommandSpec = {
  id: 'list',
  summary: 'Show Services',
  flags: [
    ...CLUSTER_FLAGS,
    valueFlag('output', {char: 'o', options: ['table', 'json']}),
    boolFlag('headers', {allowNo: true}),
  ],
}
const SERVE: CommandSpec = {
  id: 'serve',
  summary: 'Serve names',
  flags: [
    ...CLUSTER_FLAGS,
    valueFlag('dns-port'),
    boolFlag('demo', {summary: 'Simulated homelab'}),
    boolFlag('secret', {hidden: true}),
  ],
}
const COMMAND_SPECS = [LIST, SERVE]

/** A source with fixed values that records which cluster it was asked about. */
function fakeSource(): ValueSource & {asked: Array<[string, ClusterTarget]>} {
  const asked: Array<[string, ClusterTarget]> = []
  return {
    asked,
    contexts: async (target) => (asked.push(['contexts', target]), ['prod', 'dev', 'homelab']),
    namespaces: async (target) => (asked.push(['namespaces', target]), ['default', 'media', 'monitoring']),
  }
}

function values(...list: string[]): Completion {
  return {candidates: list.map((value) => ({value})), directive: DIRECTIVE.noFileComp}
}
const NOTHING = values()

describe('complete', () => {
  it.each<[string, string[], Completion]>([
    [
      'offers the subcommands, with their summaries, for an empty word',
      [''],
      {
        candidates: [
          {value: 'list', description: 'Show Services'},
          {value: 'serve', description: 'Serve names'},
        ],
        directive: DIRECTIVE.noFileComp,
      },
    ],
    [
      'filters the subcommands by the typed prefix',
      ['l'],
      {candidates: [{value: 'list', description: 'Show Services'}], directive: DIRECTIVE.noFileComp},
    ],
    [
      'offers subcommands after flags given before them, as kubectl passes them',
      ['--context', 'prod', '-n', 'media', 's'],
      {candidates: [{value: 'serve', description: 'Serve names'}], directive: DIRECTIVE.noFileComp},
    ],
    ['offers nothing after a word that names no subcommand', ['lsit', ''], NOTHING],
    ['offers nothing for an unknown subcommand prefix', ['x'], NOTHING],
    [
      'offers, before the subcommand, the flags every subcommand accepts',
      ['--'],
      values('--kubeconfig', '--context', '--namespace', '--all-namespaces', '--verbose', '--help'),
    ],
    [
      'offers the long flags of the subcommand for an empty word after it',
      ['list', ''],
      values(
        '--kubeconfig',
        '--context',
        '--namespace',
        '--all-namespaces',
        '--verbose',
        '--help',
        '--output',
        '--headers',
        '--no-headers',
      ),
    ],
    [
      'offers long and short forms for a dash',
      ['serve', '-'],
      {
        candidates: [
          {value: '--kubeconfig'},
          {value: '--context'},
          {value: '--namespace'},
          {value: '-n'},
          {value: '--all-namespaces'},
          {value: '-A'},
          {value: '--verbose'},
          {value: '-v'},
          {value: '--help'},
          {value: '-h'},
          {value: '--dns-port'},
          {value: '--demo', description: 'Simulated homelab'},
        ],
        directive: DIRECTIVE.noFileComp,
      },
    ],
    ['filters flags by the typed prefix', ['list', '--a'], values('--all-namespaces')],
    ['completes a short flag to itself', ['list', '-o'], values('-o')],
    ['offers a --no- form for a boolean that has one', ['list', '--no'], values('--no-headers')],
    ['leaves out flags already given', ['list', '--context', 'dev', '-A', '--c'], values()],
    ['leaves out a flag given by its short form', ['list', '-n', 'media', '--n'], values('--no-headers')],
    ['offers the options of an option flag', ['list', '-o', ''], values('table', 'json')],
    ['filters options by the typed prefix', ['list', '--output', 'j'], values('json')],
    ['completes --flag=prefix with the flag in front', ['list', '--output=t'], values('--output=table')],
    ['offers options of a flag given before the subcommand', ['-o', ''], values('table', 'json')],
    ['offers contexts for --context', ['list', '--context', ''], values('prod', 'dev', 'homelab')],
    ['filters contexts by the typed prefix', ['--context', 'h'], values('homelab')],
    ['offers namespaces for -n', ['serve', '-n', 'm'], values('media', 'monitoring')],
    [
      'offers namespaces for a value flag bundled after booleans',
      ['list', '-An', ''],
      values('default', 'media', 'monitoring'),
    ],
    [
      'asks for file names for --kubeconfig',
      ['list', '--kubeconfig', ''],
      {candidates: [], directive: DIRECTIVE.default},
    ],
    ['asks for file names for --kubeconfig=', ['--kubeconfig=~/'], {candidates: [], directive: DIRECTIVE.default}],
    ['offers nothing, and no files, for a free-form value', ['serve', '--dns-port', ''], NOTHING],
    ['skips a flag it does not know', ['list', '--bogus', '-o', ''], values('table', 'json')],
    [
      'does not take the next word as the value of -v, whose value is attached',
      ['-v', 'li'],
      {candidates: [{value: 'list', description: 'Show Services'}], directive: DIRECTIVE.noFileComp},
    ],
    ['reads an attached short value without taking the next word', ['list', '-nmedia', '-o', 'j'], values('json')],
    ['offers nothing after --, where every word is an argument', ['list', '--', ''], NOTHING],
    ['does not offer hidden flags', ['serve', '--se'], NOTHING],
  ])('%s', async (_name, words, expected) => {
    expect(await complete(words, COMMAND_SPECS, fakeSource())).toEqual(expected)
  })

  it('asks the source about the cluster that --kubeconfig and --context name earlier on the line', async () => {
    const source = fakeSource()
    await complete(['--kubeconfig', '/tmp/k', 'list', '--context=dev', '-n', ''], COMMAND_SPECS, source)
    await complete(['list', '--kubeconfig=/tmp/other', '--context', ''], COMMAND_SPECS, source)
    await complete(['serve', '--context', ''], COMMAND_SPECS, source)
    expect(source.asked).toEqual([
      ['namespaces', {kubeconfig: '/tmp/k', context: 'dev'}],
      ['contexts', {kubeconfig: '/tmp/other'}],
      ['contexts', {}],
    ])
  })

  it('offers nothing, without an error, when the source fails', async () => {
    const failing: ValueSource = {
      contexts: () => Promise.reject(new Error('boom')),
      namespaces: () => Promise.reject(new Error('boom')),
    }
    expect(await complete(['list', '-n', ''], COMMAND_SPECS, failing)).toEqual(NOTHING)
  })

  it('offers each value once', async () => {
    const twice: ValueSource = {contexts: async () => ['a', 'a', 'b'], namespaces: async () => []}
    expect(await complete(['--context', ''], COMMAND_SPECS, twice)).toEqual(values('a', 'b'))
  })
})

describe('complete: a topic and its subcommands', () => {
  const install: CommandSpec = {id: 'service:install', summary: 'Install', flags: [valueFlag('dns-port')]}
  const status: CommandSpec = {id: 'service:status', summary: 'Status', flags: []}
  const specs = [LIST, SERVE, install, status]
  const topics = [{name: 'service', description: 'Run serve at login'}]
  const run = (words: string[]) => complete(words, specs, fakeSource(), topics)

  it.each<[string, string[], Completion]>([
    [
      'offers the topic once, with its description, among the commands',
      ['se'],
      {
        candidates: [
          {value: 'serve', description: 'Serve names'},
          {value: 'service', description: 'Run serve at login'},
        ],
        directive: DIRECTIVE.noFileComp,
      },
    ],
    [
      'offers the subcommands after the topic',
      ['service', ''],
      {
        candidates: [
          {value: 'install', description: 'Install'},
          {value: 'status', description: 'Status'},
        ],
        directive: DIRECTIVE.noFileComp,
      },
    ],
    [
      'filters them, after flags typed before the topic',
      ['--context', 'prod', 'service', 'i'],
      {candidates: [{value: 'install', description: 'Install'}], directive: DIRECTIVE.noFileComp},
    ],
    ['offers the flags of the subcommand', ['service', 'install', '--d'], values('--dns-port')],
    ['offers nothing after an unknown subcommand', ['service', 'frobnicate', ''], NOTHING],
  ])('%s', async (_name, words, expected) => {
    expect(await run(words)).toEqual(expected)
  })
})

describe('formatCompletion', () => {
  it("writes cobra's __complete format: a candidate a line, tab before a description, then the directive", () => {
    const text = formatCompletion({
      candidates: [{value: 'list', description: 'Show Services'}, {value: 'serve'}, {value: 'bad\nname'}],
      directive: DIRECTIVE.noFileComp,
    })
    expect(text).toBe('list\tShow Services\nserve\n:4\n')
    expect(formatCompletion({candidates: [], directive: DIRECTIVE.default})).toBe(':0\n')
  })
})

describe('toCommandSpecs', () => {
  const specs = toCommandSpecs(Object.entries(COMMANDS), ['--help', '-h'])

  it('takes the subcommands and their flags from the oclif command classes, leaving out hidden commands', () => {
    const visible = Object.entries(COMMANDS).filter(([, c]) => !c.hidden)
    expect(specs.map((s) => s.id)).toEqual(visible.map(([id]) => id))
    const list = specs.find((s) => s.id === 'list')
    expect(list?.flags.find((f) => f.name === 'output')).toEqual({
      name: 'output',
      char: 'o',
      summary: 'Output format',
      takesValue: true,
      options: ['table', 'wide', 'json', 'yaml'],
    })
    expect(list?.flags.find((f) => f.name === 'help')).toEqual({
      name: 'help',
      char: 'h',
      summary: 'Show help',
      takesValue: false,
    })
  })

  it('completes the real commands: -o of list, --address-type of serve', async () => {
    const source = fakeSource()
    expect(await complete(['list', '-o', ''], specs, source)).toEqual(values('table', 'wide', 'json', 'yaml'))
    expect(await complete(['serve', '--address-type', ''], specs, source)).toEqual(values('InternalIP', 'ExternalIP'))
  })

  it('keeps hidden flags for reading the line, leaves hidden commands out, and adds only the help flags given', () => {
    class Hidden extends Command {
      static override hidden = true
      async run() {}
    }
    class Shown extends Command {
      static override summary = 'Shown\nsecond line'
      static override flags = {
        quiet: Flags.boolean({hidden: true, description: 'Quiet'}),
        colour: Flags.boolean({allowNo: true}),
      }
      async run() {}
    }
    expect(
      toCommandSpecs([
        ['hidden', Hidden],
        ['shown', Shown],
      ]),
    ).toEqual([
      {
        id: 'shown',
        summary: 'Shown',
        flags: [
          {name: 'quiet', summary: 'Quiet', takesValue: false, hidden: true},
          {name: 'colour', takesValue: false, allowNo: true},
          {name: 'help', summary: 'Show help', takesValue: false},
        ],
      },
    ])
  })
})
