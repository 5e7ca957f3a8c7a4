// The layers of src/, top to bottom, checked by `npm run lint` (dependency-cruiser): a module may import its own
// layer and the layers below it, never one above, and no import may close a circle. The README's "Layout" section
// shows the same list. Purity (no I/O, no clock) is eslint.config.js's job; this file is about direction.
/** @type {Array<{name: string, path: string, comment: string}>} */
const LAYERS = [
  {name: 'entry', path: '^src/(cli|commands|sea)\\.ts$', comment: 'the CLI: argv, oclif, exit codes'},
  {name: 'commands', path: '^src/commands/', comment: 'thin commands: parse flags, call one function, render'},
  {
    name: 'orchestration',
    path: '^src/(serve|doctor|list)/|^src/(dnssetup|service)/apply\\.ts$',
    comment: "serve's loop and start-up, doctor's probes, list's reads, the runners of dns-setup and service",
  },
  {name: 'simulator', path: '^src/sim/', comment: 'the simulated API server and loopback nodes (tests, --demo)'},
  {name: 'adapters', path: '^src/(proxy|dns|kube|complete)/', comment: 'sockets, the API client, completion sources'},
  {name: 'pages', path: '^src/dashboard/', comment: 'the dashboard and the HTML pages the router serves'},
  {
    name: 'contracts',
    path: '^src/(servemap|recommend|output)/|^src/dnssetup/(plan|state|hosts)\\.ts$|^src/service/(plan|definitions)\\.ts$',
    comment: 'pure: the serve map, recommendations, report shapes, dns-setup steps and state file, service steps',
  },
  {
    name: 'core',
    path: '^src/(plan|detect|lb)/',
    comment: 'pure: cluster snapshot → plan, detection, one module per load-balancer implementation',
  },
  {
    name: 'base',
    path: '^src/(net/|errors\\.ts$|log\\.ts$|argv\\.ts$|terminal\\.ts$|markup\\.ts$|fitted\\.ts$)',
    comment: 'errors, logging, terminal-safe text, HTML/XML escaping, socket facts, fitted lists',
  },
]

const upward = LAYERS.slice(1).map((layer, i) => ({
  name: `${layer.name}-imports-upward`,
  comment: `${layer.name} (${layer.comment}) may not import ${LAYERS.slice(0, i + 1)
    .map((l) => l.name)
    .join(', ')}`,
  severity: 'error',
  from: {path: layer.path},
  to: {path: LAYERS.slice(0, i + 1).map((l) => l.path)},
}))

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import circle: split the shared part into a module both can import',
      severity: 'error',
      from: {path: '^src/'},
      to: {circular: true},
    },
    {
      name: 'no-unlayered',
      comment: 'every module of src/ belongs to a layer: add its folder to LAYERS in .dependency-cruiser.cjs',
      severity: 'error',
      from: {path: '^src/', pathNot: LAYERS.map((l) => l.path)},
      to: {},
    },
    ...upward,
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
  },
}
