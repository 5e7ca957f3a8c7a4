import {Command, Flags} from '@oclif/core'
import {Document, isNode} from 'yaml'
import {detectLoadBalancers} from '../detect/detect.js'
import {withPendingCounts} from '../detect/recommend.js'
import {describeStep, nextStep, type Manifest, type NextStep} from '../recommend/steps.js'
import {clusterFlags} from './flags.js'
import {escapeControlsKeepingLines} from '../terminal.js'

const {kubeconfig, context, verbose} = clusterFlags

export default class Recommend extends Command {
  static override summary = 'Print the next step to give the cluster a load balancer: commands and manifests'
  static override description = `Detects the load balancer the cluster runs (as \`list\` does) and prints what to do \
next for the recommended one: the commands to run, and for MetalLB and Cilium LB-IPAM the address pool and L2 \
announcement manifests, with an address range suggested from the nodes' subnet. Check that range is free before \
applying it. With -o yaml only the manifests are printed (the commands as comments), ready for \`kubectl apply -f -\`.
Data goes to stdout; warnings go to stderr.`
  static override examples = [
    '<%= config.bin %> recommend',
    '<%= config.bin %> recommend -o yaml | kubectl apply -f -',
    '<%= config.bin %> --context homelab recommend',
  ]
  static override flags = {
    kubeconfig,
    context,
    verbose,
    output: Flags.option({
      char: 'o',
      description: 'Output format: steps as text, or only the manifests as YAML for kubectl apply -f -',
      options: ['text', 'yaml'] as const,
      default: 'text' as const,
    })(),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Recommend)
    const {openCluster, readSnapshot, diagnosePending} = await import('../kube/session.js')
    const api = openCluster({kubeconfig: flags.kubeconfig, context: flags.context})
    const snapshot = await readSnapshot(api)
    const found = detectLoadBalancers(snapshot)
    const pending = await diagnosePending(api, snapshot, found)
    const detection = withPendingCounts(found, {...snapshot, pending})

    // Commands in the step must reach the same cluster as this run, not whatever the current context is.
    const selectors = [
      ...(flags.kubeconfig === undefined ? [] : ['--kubeconfig', flags.kubeconfig]),
      ...(flags.context === undefined ? [] : ['--context', flags.context]),
    ].map(shellQuote)
    const kubectl = ['kubectl', ...selectors].join(' ')
    const step = nextStep(snapshot, detection, {kubectl, self: `${kubectl} expose-lb recommend`}, pending)

    if (flags.output === 'yaml') this.log(renderYaml(step, api.context))
    else
      this.log(
        escapeControlsKeepingLines(
          describeStep(step, step.manifests.length > 0 ? renderManifests(step.manifests) : undefined).join('\n'),
        ),
      )
    for (const w of [...detection.warnings, ...step.warnings]) process.stderr.write(`warning: ${w}\n`)
  }
}

/**
 * Only YAML, for `kubectl apply -f -`: the step's text and warnings as a leading comment, then the manifests. A step
 * without manifests is a comment-only stream, which parses as empty.
 */
export function renderYaml(step: NextStep, context: string): string {
  const text = [
    `kubectl expose-lb recommend, for context ${context}`,
    ...describeStep(step),
    ...(step.warnings.length > 0 ? ['', ...step.warnings.map((w) => `warning: ${w}`)] : []),
    ...(step.manifests.length === 0 ? ['', 'nothing to apply: this step has no manifests'] : []),
  ]
  const header = text.map((line) => (line === '' ? '#' : `# ${line}`)).join('\n')
  if (step.manifests.length === 0) return header
  return `${header}\n${renderManifests(step.manifests)}`.trimEnd()
}

/** Manifests as multi-document YAML, with their field comments. */
export function renderManifests(manifests: Manifest[]): string {
  return manifests
    .map((manifest) => {
      const doc = new Document(manifest.object)
      for (const {path, text} of manifest.fieldComments) {
        const node = doc.getIn(path, true)
        if (isNode(node)) node.commentBefore = text
      }
      return `---\n${doc.toString({lineWidth: 0})}`
    })
    .join('')
}

/** Quotes a word for POSIX shells when it holds anything but safe characters. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}
