// The dns-setup state file: what --apply did, as --undo needs it, and the check that lets --undo run only actions
// dns-setup itself plans. Pure: apply.ts reads and writes the file around it. The file is the user's to read and
// could be anyone's to edit, while its undo actions run through sudo: so the file only names steps (by id) and the
// plan's options, and --undo runs the actions planDnsSetup() gives for those, after checking that what the file
// says they were is exactly that.
import {normalizeDomain} from '../plan/names.js'
import {isRoutableHost} from './hosts.js'
import {
  filesCreated,
  findStep,
  planDnsSetup,
  RESOLVERS_BY_OS,
  TARGET_OSES,
  type ResolverKind,
  type SetupAction,
  type SetupPlan,
  type SetupStep,
  type StepId,
  type TargetOs,
} from './plan.js'

/** One completed step as recorded. */
export interface RecordedStep {
  /** Its id in plan.ts; absent in files written before steps had ids, where `undo.command` tells the step. */
  id?: StepId
  /** For a reader of the file; --undo shows and runs the plan's own, after checking `undo` is the plan's. */
  description: string
  undo: SetupAction
}

/**
 * What --apply did. `id` and `files` came later without a new version: older readers ignore them, and files
 * without them are still undone, each entry identified by its undo command.
 */
export interface SetupState {
  version: 1
  os: TargetOs
  resolver: ResolverKind
  domain: string
  dnsAddress: string
  dnsPort: number
  /** Completed steps in order; `--undo` runs their undo actions in reverse. */
  done: RecordedStep[]
  /** The files the steps created (paths as the plan names them), which --undo removes. */
  files?: string[]
  /**
   * The Ingress and route hosts the plan routes besides the domain (SetupOptions.hosts); they decide the per-host
   * steps. Absent in files written before hosts were routed: only the domain.
   */
  hosts?: string[]
}

/** A state file that passed the check: the state with every id and the files filled in, and the plan's steps. */
export interface CheckedState {
  state: SetupState
  /** The plan the state's options give. */
  plan: SetupPlan
  /** The plan's steps the file names, in its order: what --undo runs the undo actions of. */
  steps: SetupStep[]
}

/**
 * The outcome of checking a state file's content: `damaged` when it is not the shape of a state file, `foreign`
 * when it is but names something dns-setup does not plan (edited, or not dns-setup's); each says where.
 */
export type StateCheck = {ok: CheckedState} | {damaged: string} | {foreign: string}

/** The state recorded before the first step of `plan` runs. */
export function initialState(plan: SetupPlan): SetupState {
  const {os, resolver, domain, dnsAddress, dnsPort, hosts} = plan
  return {version: 1, os, resolver, domain, dnsAddress, dnsPort, ...(hosts?.length ? {hosts} : {}), done: [], files: []}
}

/** `state` with exactly `steps` (the plan's, in order) recorded as done. */
export function withSteps(state: SetupState, plan: SetupPlan, steps: SetupStep[]): SetupState {
  const done = steps.map((step): RecordedStep => {
    const id = plan.stepIds[plan.steps.indexOf(step)]
    return {...(id ? {id} : {}), description: step.description, undo: step.undo}
  })
  return {...state, done, files: steps.flatMap(filesCreated)}
}

/** Checks parsed JSON from a state file against the plan its options give. */
export function checkState(value: unknown): StateCheck {
  const shape = shapeProblem(value)
  if (shape) return {damaged: shape}
  const state = value as SetupState
  const options = optionsProblem(state)
  if (options) return {foreign: options}
  const plan = planDnsSetup(state)
  const steps: SetupStep[] = []
  let next = 0
  for (const [i, entry] of state.done.entries()) {
    const found = entry.id === undefined ? matchUndo(plan, entry, next) : findStep(plan, entry.id)
    if (!found) {
      return {
        foreign:
          entry.id === undefined
            ? `done[${i}] undoes with ${JSON.stringify(entry.undo.command)}, which no remaining ${plan.resolver} step does`
            : `done[${i}] names the step ${JSON.stringify(entry.id)}, which ${plan.resolver}'s steps do not have`,
      }
    }
    const name = `done[${i}] (${plan.stepIds[found.index]})`
    if (found.index < next) {
      return {foreign: `${name} comes after ${plan.stepIds[next - 1]}: recorded twice, or out of order`}
    }
    const planned = found.step.undo
    if (!sameValue(entry.undo.command, planned.command)) {
      return {
        foreign: `${name} undoes with ${JSON.stringify(entry.undo.command)}, where dns-setup plans ${JSON.stringify(planned.command)}`,
      }
    }
    if (entry.undo.sudo !== planned.sudo) {
      return {
        foreign: `${name} undoes ${entry.undo.sudo ? 'with' : 'without'} sudo, where dns-setup plans it ${planned.sudo ? 'with' : 'without'} sudo`,
      }
    }
    steps.push(found.step)
    next = found.index + 1
  }
  const files = steps.flatMap(filesCreated)
  if (state.files !== undefined && !sameValue(state.files, files)) {
    return {
      foreign: `files ${JSON.stringify(state.files)} are not the files its steps created (${JSON.stringify(files)})`,
    }
  }
  return {ok: {state: withSteps(state, plan, steps), plan, steps}}
}

/** An entry without an id: the first plan step from `from` on with the same undo command (and description, if any). */
function matchUndo(plan: SetupPlan, entry: RecordedStep, from: number): {index: number; step: SetupStep} | undefined {
  const candidates = plan.steps
    .map((step, index) => ({index, step}))
    .filter(({index, step}) => index >= from && sameValue(entry.undo.command, step.undo.command))
  return candidates.find(({step}) => step.description === entry.description) ?? candidates[0]
}

/** The options must be ones the command accepts: they decide the plan, and so what --undo may run. */
function optionsProblem(state: SetupState): string | undefined {
  if (!TARGET_OSES.includes(state.os)) {
    return `os ${JSON.stringify(state.os)} is not ${TARGET_OSES.join(', ').replace(/, (?=[^,]*$)/, ' or ')}`
  }
  const resolvers = RESOLVERS_BY_OS[state.os]
  if (!resolvers.includes(state.resolver)) {
    return `resolver ${JSON.stringify(state.resolver)} is not one of ${state.os}'s (${resolvers.join(', ')})`
  }
  // The domain is in undo actions (the resolver file's path, the NRPT rule's PowerShell line): only a DNS name.
  if (normalizeDomain(state.domain) !== state.domain) return `domain ${JSON.stringify(state.domain)} is not a DNS name`
  if (!Number.isInteger(state.dnsPort) || state.dnsPort < 1 || state.dnsPort > 65535) {
    return `dnsPort ${JSON.stringify(state.dnsPort)} is not a port (1-65535)`
  }
  // Hosts name files and NRPT rules in undo actions: only what planHostRouting would route for this domain.
  if (state.hosts !== undefined) {
    const odd = state.hosts.find((h) => !isRoutableHost(h, state.domain))
    if (odd !== undefined) return `hosts entry ${JSON.stringify(odd)} is not a host dns-setup routes`
    if (new Set(state.hosts).size !== state.hosts.length) return 'hosts lists a host twice'
  }
  // dnsAddress is in no undo action: its type is checked with the shape.
  return undefined
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string')

/** A command as plan.ts writes one: an argv, a file written or removed, or a PowerShell line. */
function isCommand(value: unknown): boolean {
  if (isStringList(value)) return true
  if (!isObject(value)) return false
  if (typeof value.writeFile === 'string') return typeof value.content === 'string'
  return typeof value.removeFile === 'string' || typeof value.powershell === 'string'
}

/** Where parsed JSON is not the shape of a SetupState, or undefined when it is. */
function shapeProblem(value: unknown): string | undefined {
  if (!isObject(value) || value.version !== 1) return 'not a dns-setup state (version 1)'
  for (const key of ['os', 'resolver', 'domain', 'dnsAddress'] as const) {
    if (typeof value[key] !== 'string') return `${key} is not a string`
  }
  if (typeof value.dnsPort !== 'number') return 'dnsPort is not a number'
  if (!Array.isArray(value.done)) return 'done is not a list'
  for (const [i, entry] of value.done.entries()) {
    const at = `done[${i}]`
    if (!isObject(entry)) return `${at} is not a step`
    if (entry.id !== undefined && typeof entry.id !== 'string') return `${at}.id is not a string`
    if (typeof entry.description !== 'string') return `${at} has no description`
    const undo = entry.undo
    if (!isObject(undo)) return `${at} has no undo action`
    if (typeof undo.description !== 'string') return `${at}.undo has no description`
    if (!isCommand(undo.command)) return `${at}.undo.command is not a command`
    if (typeof undo.sudo !== 'boolean') return `${at}.undo.sudo is not true or false`
    if (undo.why !== undefined && typeof undo.why !== 'string') return `${at}.undo.why is not a string`
  }
  if (value.files !== undefined && !isStringList(value.files)) return 'files is not a list of paths'
  if (value.hosts !== undefined && !isStringList(value.hosts)) return 'hosts is not a list of names'
  return undefined
}

/** Deep equality of JSON values (key order aside). */
function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]))
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a)
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && sameValue(a[k], b[k]))
  }
  return a === b
}
