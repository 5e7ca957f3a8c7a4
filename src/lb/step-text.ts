/**
 * Wording and small pieces the step builders of several load-balancer modules share. Pure.
 */
import {EXCLUDE_LABEL, isExcludedNode} from '../plan/nodes.js'
import type {DetectorName} from '../plan/types.js'
import {formatRanges, type RangeSuggestion} from './range.js'
import type {Action, StepContext, StepPart} from './types.js'

/** Names of the objects the steps create, so they are easy to find and remove later. */
export const POOL_NAME = 'expose-lb-pool'
export const ADVERTISEMENT_NAME = 'expose-lb-l2'
/** Stands in for an address range when none can be suggested: no API accepts it, so it cannot be applied unedited. */
export const PLACEHOLDER_START = '<first-free-ip>'
export const PLACEHOLDER_END = '<last-free-ip>'

/** The comment put above the addresses in a manifest. */
export function rangeComment(range: RangeSuggestion): string {
  return range.ok
    ? ` check these addresses are free and outside your DHCP range (suggested from ${range.subnet})`
    : ` EDIT: put free addresses of the node network here (${range.reason})`
}

/** The suggested range in `a-b,c-d` syntax, or the placeholder. */
export function rangeText(range: RangeSuggestion, separator = ','): string {
  return range.ok ? formatRanges(range.ranges, separator) : `${PLACEHOLDER_START}-${PLACEHOLDER_END}`
}

export function detected(ctx: StepContext, name: DetectorName): boolean {
  return ctx.detection.detected.some((lb) => lb.name === name)
}

/** A custom-object count from detection signals, undefined when it could not be read. */
export function countOf(ctx: StepContext, key: string): number | undefined {
  return ctx.snapshot.signals.customObjectCounts[key]
}

export function applyCommand(ctx: StepContext): string {
  return `${ctx.options.self} -o yaml | ${ctx.options.kubectl} apply -f -`
}

/** When every node carries the exclude label, no node would announce or receive load-balancer traffic. */
export function excludeLabelAction(ctx: StepContext, who: string): Action | undefined {
  const labelled = ctx.nodes.filter(isExcludedNode)
  if (labelled.length === 0 || labelled.length < ctx.nodes.length) return undefined
  return {
    text: `Every node has the label \`${EXCLUDE_LABEL}\`, so ${who} would use none of them: remove it`,
    commands: [`${ctx.options.kubectl} label node ${labelled.map((n) => n.name).join(' ')} ${EXCLUDE_LABEL}-`],
  }
}

/** "finish configuring X": the reason from detection is the one action. */
export function finishStep(ctx: StepContext, display: string): StepPart {
  return {title: `finish configuring ${display}`, actions: [{text: capitalize(ctx.reason), commands: []}]}
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}
