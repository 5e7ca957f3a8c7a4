// The oclif command map (explicit discovery strategy, see package.json "oclif.commands"). Command modules keep
// heavy imports lazy, so loading this file stays cheap for `--help`.
import Complete from './commands/complete.js'
import DnsSetup from './commands/dns-setup.js'
import Doctor from './commands/doctor.js'
import Explain from './commands/explain.js'
import List from './commands/list.js'
import Recommend from './commands/recommend.js'
import Serve from './commands/serve.js'
import ServiceInstall from './commands/service/install.js'
import ServiceStatus from './commands/service/status.js'
import ServiceUninstall from './commands/service/uninstall.js'

// Alphabetical, the order help and completion list them in.
export const COMMANDS = {
  'dns-setup': DnsSetup,
  doctor: Doctor,
  explain: Explain,
  list: List,
  recommend: Recommend,
  serve: Serve,
  // A topic: `service install` (package.json oclif.topicSeparator is a space; ids keep oclif's colon).
  'service:install': ServiceInstall,
  'service:status': ServiceStatus,
  'service:uninstall': ServiceUninstall,
  __complete: Complete,
}
