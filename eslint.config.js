// ESLint flat config: typescript-eslint's recommended rules, plus the import boundaries docs/architecture.md describes.
import tseslint from 'typescript-eslint'

/** Modules with side effects the pure core must not import. */
const IMPURE = ['node:*', '@kubernetes/client-node', 'dns2', 'http-proxy-3', '@oclif/core', 'yaml']

/** Nothing but the CLI entries (cli.ts, and sea.ts for the single executable) import the command layer. */
const COMMANDS = {group: ['**/commands/*', '**/commands.js'], message: 'only the CLI imports commands'}

export default tseslint.config(
  // test/bench/.*.mjs: the bundle of a running bench (scripts/run-ts.mjs removes it afterwards).
  {ignores: ['dist/', 'release/', 'node_modules/', 'coverage/', 'scripts/.*', 'test/bench/.*.mjs']},
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
  {
    // Nothing imports the command layer.
    files: ['src/**/*.ts'],
    ignores: ['src/commands/**', 'src/commands.ts', 'src/cli.ts', 'src/sea.ts'],
    rules: {
      'no-restricted-imports': ['error', {patterns: [COMMANDS]}],
    },
  },
  {
    // The planning core and detection are pure: no I/O, no clock, no client libraries (docs/architecture.md).
    files: [
      'src/plan/**/*.ts',
      'src/detect/**/*.ts',
      'src/lb/**/*.ts',
      'src/output/**/*.ts',
      'src/dns/answer.ts',
      'src/proxy/pick.ts',
      'src/proxy/client-hello.ts',
      'src/proxy/http-head.ts',
      'src/proxy/host-check.ts',
      'src/proxy/port-table.ts',
      'src/proxy/request-target.ts',
      'src/kube/portforward-channel.ts',
      'src/complete/complete.ts',
      'src/recommend/*.ts',
      'src/dnssetup/plan.ts',
      'src/dnssetup/state.ts',
      'src/dnssetup/hosts.ts',
      'src/service/plan.ts',
      'src/service/definitions.ts',
      'src/dashboard/state.ts',
      'src/serve/hosts-block.ts',
      'src/serve/lo-alias-plan.ts',
      'src/doctor/report.ts',
      'src/dashboard/not-found.ts',
      'src/servemap/**/*.ts',
      'src/net/**/*.ts',
      'src/argv.ts',
      'src/terminal.ts',
      'src/markup.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {patterns: [COMMANDS, {group: IMPURE, message: 'this module is pure (docs/architecture.md)'}]},
      ],
      'no-restricted-globals': [
        'error',
        {name: 'Date', message: 'pass the time in'},
        {name: 'process', message: 'pure code has no process'},
      ],
      'no-restricted-properties': ['error', {object: 'Math', property: 'random', message: 'pass randomness in'}],
    },
  },
)
