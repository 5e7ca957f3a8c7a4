// The entry of the single executable (scripts/sea.mjs): esbuild bundles this file, the CLI and every command into
// one CommonJS script, which Node's single-executable-application support runs from inside a copy of the Node binary
// (https://nodejs.org/api/single-executable-applications.html). There is no package.json and no dist/ beside it, so
// oclif gets both from here: the package description esbuild writes in at build time and the command classes
// themselves, instead of the file oclif would import for the explicit strategy (package.json "oclif.commands").
import {Config, Plugin, type Interfaces} from '@oclif/core'
import {dirname} from 'node:path'
import {main} from './cli.js'
import {COMMANDS} from './commands.js'

// package.json's name, version, type and oclif section, defined by scripts/sea.mjs (esbuild `define`).
declare const EXPOSE_LB_PACKAGE_JSON: Interfaces.PJSON

/** oclif's configuration for the commands compiled into this executable. */
async function embeddedConfig(): Promise<Config> {
  const root = dirname(process.execPath)
  const pjson = structuredClone(EXPOSE_LB_PACKAGE_JSON)
  const plugin = new Plugin({root, pjson, isRoot: true, name: pjson.name})
  // Plugin.loadCommandsFromTarget (node_modules/@oclif/core/lib/config/plugin.js) returns this cache when it is
  // set, before it would import the explicit strategy's target: the command map is already here.
  ;(plugin as unknown as {commandCache: typeof COMMANDS}).commandCache = COMMANDS
  await plugin.load()
  return Config.load({root, pjson, plugins: new Map([[plugin.name, plugin]])})
}

// Node runs a single executable as `<executable> <user args>` but keeps process.argv in node's shape, with the
// executable twice (argv[0] and argv[1]); the CLI's words start at argv[2] either way.
void main(process.argv.slice(2), embeddedConfig)
