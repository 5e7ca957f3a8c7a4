/**
 * The next step for the recommended load balancer: what to run and what to apply. Pure: snapshot + detection in,
 * plain data out; `src/commands/recommend.ts` renders it as text or as YAML for `kubectl apply -f -`.
 */
import {stepBuilder} from '../lb/index.js'
import {formatRanges, suggestRange, type RangeSuggestion} from '../lb/range.js'
import {capitalize, PLACEHOLDER_END, PLACEHOLDER_START} from '../lb/step-text.js'
import type {Action, Manifest, Pending, StepContext, StepOptions, StepPart} from '../lb/types.js'
import type {ClusterSnapshot, Detection} from '../plan/types.js'

export type {Action, Manifest, StepOptions} from '../lb/types.js'
export {METALLB_MANIFEST_URL, METALLB_NAMESPACE, METALLB_VERSION} from '../lb/metallb.js'
export {ADVERTISEMENT_NAME, PLACEHOLDER_END, PLACEHOLDER_START, POOL_NAME} from '../lb/step-text.js'

/** The last line of every step that asks the user to act. */
export const UNTIL_THEN_LINE = 'until then, kubectl expose-lb serve maps the names on this workstation.'

export interface NextStep {
  /** The recommendation name from detection: `none`, `metallb`, `k3s-servicelb`, … */
  recommendation: string
  /** What the step does, e.g. "install MetalLB (L2) and give it an address pool". */
  title: string
  /** Why, from detection. */
  reason: string
  actions: Action[]
  /** Facts worth knowing before acting. */
  notes: string[]
  manifests: Manifest[]
  /** What the user must check or edit: the suggested range, or why there is none. */
  warnings: string[]
  /** The step asks the user to act, so `serve` is the bridge meanwhile. */
  untilThen: boolean
}

const DEFAULT_OPTIONS: StepOptions = {kubectl: 'kubectl', self: 'kubectl expose-lb recommend'}

/** The next step for `detection.recommendation` on this cluster; `pending` holds the Services' diagnoses. */
export function nextStep(
  snapshot: Pick<ClusterSnapshot, 'nodes' | 'services' | 'signals'>,
  detection: Detection,
  options: StepOptions = DEFAULT_OPTIONS,
  pending: ReadonlyMap<string, Pending> = new Map(),
): NextStep {
  const {name, reason} = detection.recommendation
  const ctx: StepContext = {
    snapshot,
    detection,
    pending,
    options,
    nodes: snapshot.nodes.filter((node) => !node.deleting),
    range: suggestRange(snapshot),
    reason,
  }
  const build = name === 'none' ? nothing : name === 'fix-pending' ? fixPending : (stepBuilder(name) ?? generic)
  const part = build(ctx)
  return {
    recommendation: name,
    title: part.title,
    reason: ctx.reason,
    actions: part.actions,
    notes: part.notes ?? [],
    manifests: part.manifests ?? [],
    warnings: part.usesRange ? rangeWarnings(ctx.range) : [],
    untilThen: name !== 'none',
  }
}

/**
 * The step as lines of plain text: title, reason, numbered actions with their commands indented, notes, and the
 * closing line. `manifests` (already rendered) goes under the action that applies them; warnings are left to the
 * caller, which prints them on stderr.
 */
export function describeStep(step: NextStep, manifests?: string): string[] {
  const lines = [`NEXT STEP (${step.recommendation}): ${step.title}`, `Why: ${step.reason}`]
  step.actions.forEach((action, i) => {
    const colon = action.commands.length > 0 && !action.text.endsWith(':') ? ':' : ''
    lines.push('', `${i + 1}. ${action.text}${colon}`, ...action.commands.map((command) => `     ${command}`))
    if (action.applies && manifests !== undefined) {
      lines.push('   These manifests:', ...manifests.trimEnd().split('\n').map(indent))
    }
  })
  if (step.notes.length > 0) lines.push('', ...step.notes.map((note) => `Note: ${note}`))
  if (step.untilThen) lines.push('', UNTIL_THEN_LINE)
  return lines
}

function indent(line: string): string {
  return line === '' ? line : `     ${line}`
}

function nothing(): StepPart {
  return {title: 'nothing to install', actions: []}
}

/** The load balancer serves, but leaves Services pending for reasons only each Service's diagnosis tells. */
function fixPending(ctx: StepContext): StepPart {
  return {
    title: 'fix what keeps LoadBalancer Services pending',
    actions: [
      {text: capitalize(ctx.reason), commands: []},
      {
        text: 'See the reason, the evidence and the fix for each pending Service',
        commands: [
          `${ctx.options.kubectl} expose-lb list -o wide`,
          `${ctx.options.kubectl} expose-lb explain <service> -n <namespace>`,
        ],
      },
    ],
  }
}

function rangeWarnings(range: RangeSuggestion): string[] {
  if (!range.ok) {
    return [
      `cannot suggest an address range: ${range.reason}; replace ${PLACEHOLDER_START}-${PLACEHOLDER_END} with free ` +
        'addresses of the node network before applying',
    ]
  }
  return [
    `check these addresses are free and outside your DHCP range: ${formatRanges(range.ranges, ', ')} ` +
      `(a guess in ${range.subnet}, assuming the nodes' network is a /24)`,
    ...range.notes,
  ]
}

/** A recommendation this module has no steps for yet: pass the reason on. */
function generic(ctx: StepContext): StepPart {
  return {title: ctx.detection.recommendation.name, actions: [{text: capitalize(ctx.reason), commands: []}]}
}
