// Per-service addresses on macOS: which --ip-range serve runs with, and the ifconfig commands that give lo0 the
// addresses it assigns. Pure; lo-aliases.ts runs the commands and keeps the record of what it added.
//
// Linux and Windows answer on all of 127.0.0.0/8 without set-up. macOS answers only on the addresses lo0 carries
// (127.0.0.1 out of the box), so each per-service address needs an alias, which only root may add (ifconfig(8):
// `alias` adds an address to an interface, `-alias` removes it).

/** The loopback interface of macOS. */
export const LOOPBACK_INTERFACE = 'lo0'

/** The block per-service addresses come from when --ip-range is not given. */
export const DEFAULT_IP_RANGE = '127.77.0.0/16'

/** ifconfig's command that adds address to lo0, as a host address (its own /32: no route for the block). */
export function aliasCommand(address: string): string[] {
  return ['ifconfig', LOOPBACK_INTERFACE, 'alias', address, 'netmask', '255.255.255.255']
}

/** ifconfig's command that removes the alias aliasCommand added. */
export function unaliasCommand(address: string): string[] {
  return ['ifconfig', LOOPBACK_INTERFACE, '-alias', address]
}

/** lo0's own address: never an alias to add, and never to be taken away (a wide --ip-range may contain it). */
export const LOOPBACK_ADDRESS = '127.0.0.1'

/**
 * The aliases to add and to remove to go from `current` to `wanted`, each sorted (stable logs and tests).
 * LOOPBACK_ADDRESS is left out of both.
 */
export function aliasChanges(current: Iterable<string>, wanted: Iterable<string>): {add: string[]; remove: string[]} {
  const have = new Set([...current].filter((a) => a !== LOOPBACK_ADDRESS))
  const want = new Set([...wanted].filter((a) => a !== LOOPBACK_ADDRESS))
  return {
    add: [...want].filter((a) => !have.has(a)).sort(),
    remove: [...have].filter((a) => !want.has(a)).sort(),
  }
}

/** What serve runs with: the --ip-range text, whether it keeps lo0 aliases, and a line to log when useful. */
export interface IpRangeChoice {
  ipRange: string
  /** Add and remove lo0 aliases for the assigned addresses (macOS with privilege). */
  loopbackAliases: boolean
  note?: string
}

/** How a macOS user gets per-service addresses, for the note and the error. */
const HOW_ON_MACOS =
  'run serve with sudo (it adds a lo0 alias per address and removes them when it stops; `kubectl expose-lb dns-setup --os darwin` explains)'

/**
 * Decides --ip-range from the flag (undefined: not given), the platform and whether serve may run ifconfig. On
 * macOS without privilege, per-service addresses are off unless asked for, and asking for them is an error: the
 * listeners could not bind.
 */
export function chooseIpRange(o: {
  flag: string | undefined
  platform: NodeJS.Platform
  privileged: boolean
}): IpRangeChoice | {error: string} {
  if (o.platform !== 'darwin') return {ipRange: o.flag ?? DEFAULT_IP_RANGE, loopbackAliases: false}
  const ipRange = o.flag ?? (o.privileged ? DEFAULT_IP_RANGE : 'none')
  if (ipRange === 'none') {
    if (o.flag !== undefined) return {ipRange, loopbackAliases: false}
    return {
      ipRange,
      loopbackAliases: false,
      note: `per-service addresses are off: on macOS only 127.0.0.1 answers on ${LOOPBACK_INTERFACE} until an alias is added, which needs root; TCP and UDP Services get no address and HTTP ones are reached through the router. To get them, ${HOW_ON_MACOS}`,
    }
  }
  if (!o.privileged) {
    return {
      error: `--ip-range ${ipRange} needs a ${LOOPBACK_INTERFACE} alias per address on macOS, which needs root: ${HOW_ON_MACOS}; or use --ip-range none`,
    }
  }
  return {ipRange, loopbackAliases: true}
}
