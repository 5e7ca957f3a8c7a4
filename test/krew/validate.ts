// A TypeScript replica of the checks krew-index CI runs on a plugin manifest, so a manifest that would bounce
// is caught here rather than in review. Sources (https://github.com/kubernetes-sigs/krew):
//   internal/index/validation/validate.go   ValidatePlugin: structure, name, version, platforms, selectors
//   cmd/validate-krew-manifest/main.go      line lengths, every selector used, no overlapping selectors
// krew stops at the first error; this collects them all. Line-length findings are warnings in krew and stay
// warnings here, beside two checks krew does not make: the review bot's 50-character shortDescription and
// unknown fields (krew decodes non-strictly, so a misspelt key is silently dropped).
import {basename} from 'node:path'
import {parse} from 'yaml'

export const KREW_API_VERSION = 'krew.googlecontainertools.github.com/v1alpha2' // constants.CurrentAPIVersion
export const KREW_PLUGIN_KIND = 'Plugin' // constants.PluginKind
const MANIFEST_EXTENSION = '.yaml' // constants.ManifestExtension

/** The os/arch pairs validate-krew-manifest tries every selector against (allPlatforms()). */
export const KREW_PLATFORMS: ReadonlyArray<{os: string; arch: string}> = [
  ...['386', 'amd64', 'arm64'].map((arch) => ({os: 'windows', arch})),
  ...['386', 'amd64', 'arm', 'arm64', 'ppc64le'].map((arch) => ({os: 'linux', arch})),
  ...['386', 'amd64', 'arm64'].map((arch) => ({os: 'darwin', arch})),
]

const SAFE_PLUGIN_NAME = /^[\w-]+$/
// https://docs.microsoft.com/en-us/windows/desktop/FileIO/naming-a-file, as listed in validate.go
const WINDOWS_RESERVED = [
  'CON',
  'PRN',
  'AUX',
  'NUL',
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((n) => [`COM${n}`, `LPT${n}`]),
]
const SHA256 = /^[a-f0-9]{64}$/
const SELECTOR_KEYS = new Set(['os', 'arch'])
const SHORT_DESCRIPTION_REVIEW_MAX = 50 // krew-index review bot (#2899, #3348)

// Field names of pkg/index/types.go (Plugin, PluginSpec, Platform, FileOperation, metav1.LabelSelector).
const KNOWN_FIELDS: Record<string, ReadonlySet<string>> = {
  '': new Set(['apiVersion', 'kind', 'metadata', 'spec']),
  spec: new Set(['version', 'shortDescription', 'description', 'caveats', 'homepage', 'platforms']),
  platform: new Set(['uri', 'sha256', 'selector', 'files', 'bin']),
  file: new Set(['from', 'to']),
  selector: new Set(['matchLabels', 'matchExpressions']),
  expression: new Set(['key', 'operator', 'values']),
}

/** What krew-index CI would say: errors fail the submission, warnings are printed (or raised in review). */
export interface KrewReport {
  errors: string[]
  warnings: string[]
}

export interface ValidateOptions {
  /** A sha256 value accepted in place of a real digest: the repo template's placeholder. */
  shaPlaceholder?: string
}

type Labels = Record<string, string>
interface Requirement {
  key: string
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'
  values: string[]
}

/** Validates manifest text as krew-index CI would if the file were called fileName. */
export function validateKrewManifest(text: string, fileName: string, options: ValidateOptions = {}): KrewReport {
  const report: KrewReport = {errors: [], warnings: []}
  let doc: unknown
  try {
    doc = parse(text)
  } catch (error) {
    report.errors.push(`not valid YAML: ${(error as Error).message.split('\n')[0]}`)
    return report
  }
  if (!isRecord(doc)) {
    report.errors.push('the manifest is not a YAML mapping')
    return report
  }
  validatePlugin(doc, fileName, options, report)
  validateLikeKrewIndexCi(doc, report)
  warnUnknownFields(doc, report)
  return report
}

/** ValidatePlugin(name-from-file-name, plugin). */
function validatePlugin(doc: Record<string, unknown>, fileName: string, options: ValidateOptions, report: KrewReport) {
  const {errors} = report
  const file = basename(fileName)
  if (!file.endsWith(MANIFEST_EXTENSION)) errors.push(`expected manifest extension ".yaml" in ${file}`)
  const name = file.slice(0, file.length - MANIFEST_EXTENSION.length)

  if (doc.apiVersion !== KREW_API_VERSION) errors.push(`apiVersion=${show(doc.apiVersion)} is not supported`)
  if (doc.kind !== KREW_PLUGIN_KIND) errors.push(`kind=${show(doc.kind)}, but only "Plugin" is supported`)
  if (!isSafePluginName(name))
    errors.push(`the plugin name ${show(name)} is not allowed, must match ${SAFE_PLUGIN_NAME}`)
  const metadata = isRecord(doc.metadata) ? doc.metadata : {}
  if (metadata.name !== name) errors.push(`plugin should be named ${show(name)}, not ${show(metadata.name)}`)

  const spec = isRecord(doc.spec) ? doc.spec : {}
  if (typeof spec.shortDescription !== 'string' || spec.shortDescription === '') {
    errors.push('should have a short description')
  } else if (/[\r\n]/.test(spec.shortDescription)) {
    errors.push('should not have line breaks in short description')
  }
  const platforms = Array.isArray(spec.platforms) ? spec.platforms : []
  if (platforms.length === 0) errors.push('should have a platform specified')
  if (typeof spec.version !== 'string' || spec.version === '') errors.push('should have a version specified')
  else {
    const problem = versionProblem(spec.version)
    if (problem) errors.push(`failed to parse plugin version: ${problem}`)
  }
  platforms.forEach((platform, i) => {
    for (const problem of platformProblems(platform, options)) errors.push(`spec.platforms[${i}]: ${problem}`)
  })
}

/** The rest of cmd/validate-krew-manifest before its real install: line lengths, selector coverage, overlap. */
function validateLikeKrewIndexCi(doc: Record<string, unknown>, report: KrewReport) {
  const spec = isRecord(doc.spec) ? doc.spec : {}
  const limits: Array<[string, number]> = [
    ['description', 80],
    ['shortDescription', 70],
    ['caveats', 80],
  ]
  for (const [field, maxLength] of limits) {
    const value = spec[field]
    if (typeof value === 'string' && !linesFit(value, maxLength)) {
      report.warnings.push(`line length in \`${field}\` exceeds ${maxLength} characters`)
    }
  }
  if (typeof spec.shortDescription === 'string' && spec.shortDescription.length > SHORT_DESCRIPTION_REVIEW_MAX) {
    report.warnings.push(`shortDescription is over ${SHORT_DESCRIPTION_REVIEW_MAX} characters (krew-index review)`)
  }

  const platforms = Array.isArray(spec.platforms) ? spec.platforms : []
  const selectors = platforms.map((platform) => (isRecord(platform) ? toRequirements(platform.selector) : undefined))
  selectors.forEach((requirements, i) => {
    if (requirements && !KREW_PLATFORMS.some((labels) => matches(requirements, labels))) {
      report.errors.push(`spec.platforms[${i}]'s selector doesn't match any supported platforms`)
    }
  })
  for (const labels of KREW_PLATFORMS) {
    const matching = selectors.flatMap((requirements, i) => (requirements && matches(requirements, labels) ? [i] : []))
    if (matching.length > 1) {
      report.errors.push(
        `multiple spec.platforms (at indexes ${matching.join(', ')}) select os=${labels.os}/arch=${labels.arch}`,
      )
    }
  }
}

/** validatePlatform: uri, sha256, bin, files, selector. */
function platformProblems(platform: unknown, options: ValidateOptions): string[] {
  if (!isRecord(platform)) return ['is not a mapping']
  const problems: string[] = []
  if (!nonEmptyString(platform.uri)) problems.push('`uri` has to be set')
  if (!nonEmptyString(platform.sha256)) problems.push('`sha256` sum has to be set')
  else if (!SHA256.test(platform.sha256) && platform.sha256 !== options.shaPlaceholder) {
    problems.push(`\`sha256\` value ${platform.sha256} is not valid, must match pattern ${SHA256.source}`)
  }
  if (!nonEmptyString(platform.bin)) problems.push('`bin` has to be set')
  if (platform.files !== undefined && platform.files !== null) {
    if (!Array.isArray(platform.files) || platform.files.length === 0) {
      problems.push('`files` has to be unspecified or non-empty')
    } else {
      for (const op of platform.files) {
        if (!isRecord(op) || !nonEmptyString(op.from)) problems.push('`files`: `from` field has to be set')
        else if (!nonEmptyString(op.to)) problems.push('`files`: `to` field has to be set')
      }
    }
  }
  problems.push(...selectorProblems(platform.selector))
  return problems
}

/** validateSelector plus metav1.LabelSelectorAsSelector's own checks (bad operators fail the conversion). */
function selectorProblems(selector: unknown): string[] {
  if (selector === undefined || selector === null) return ['nil selector is not supported']
  if (!isRecord(selector)) return ['selector is not a mapping']
  const {matchLabels, matchExpressions} = selector
  const hasLabels = matchLabels !== undefined && matchLabels !== null
  const hasExpressions = Array.isArray(matchExpressions) && matchExpressions.length > 0
  if (!hasLabels && !hasExpressions) return ['empty selector is not supported']

  const problems: string[] = []
  const keys = [
    ...(isRecord(matchLabels) ? Object.keys(matchLabels) : []),
    ...(Array.isArray(matchExpressions) ? matchExpressions.map((e) => (isRecord(e) ? e.key : undefined)) : []),
  ]
  for (const key of keys) {
    if (typeof key !== 'string' || !SELECTOR_KEYS.has(key)) problems.push(`selector key ${show(key)} not supported`)
  }
  if (hasLabels && (!isRecord(matchLabels) || Object.keys(matchLabels).length === 0)) {
    problems.push('`matchLabels` specified but empty')
  }
  if (matchExpressions !== undefined && matchExpressions !== null && !hasExpressions) {
    problems.push('`matchExpressions` specified but empty')
  }
  if (problems.length === 0 && !toRequirements(selector)) problems.push('selector cannot be converted')
  return problems
}

/** metav1.LabelSelectorAsSelector: undefined when the selector is malformed (unknown operator, bad values). */
function toRequirements(selector: unknown): Requirement[] | undefined {
  if (!isRecord(selector)) return undefined
  const requirements: Requirement[] = []
  const {matchLabels, matchExpressions} = selector
  if (matchLabels !== undefined && matchLabels !== null) {
    if (!isRecord(matchLabels)) return undefined
    for (const [key, value] of Object.entries(matchLabels)) {
      if (typeof value !== 'string') return undefined
      requirements.push({key, operator: 'In', values: [value]})
    }
  }
  for (const expression of Array.isArray(matchExpressions) ? matchExpressions : []) {
    if (!isRecord(expression) || typeof expression.key !== 'string') return undefined
    const {operator} = expression
    const values = expression.values ?? []
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) return undefined
    if (operator === 'In' || operator === 'NotIn') {
      if (values.length === 0) return undefined
    } else if (operator === 'Exists' || operator === 'DoesNotExist') {
      if (values.length > 0) return undefined
    } else return undefined
    requirements.push({key: expression.key, operator, values})
  }
  return requirements
}

function matches(requirements: Requirement[], labels: Labels): boolean {
  return requirements.every(({key, operator, values}) => {
    const value = labels[key]
    switch (operator) {
      case 'In':
        return value !== undefined && values.includes(value)
      case 'NotIn':
        return value === undefined || !values.includes(value)
      case 'Exists':
        return value !== undefined
      case 'DoesNotExist':
        return value === undefined
    }
  })
}

/**
 * krew's semver.Parse: a leading "v", then k8s.io/apimachinery ParseSemantic (exactly three numeric components
 * without leading zeros, optional -pre-release and +build; numeric pre-release parts without leading zeros).
 */
export function versionProblem(version: string): string | undefined {
  if (!version.startsWith('v')) return `version string ${show(version)} not starting with 'v'`
  const match =
    /^v(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/.exec(
      version.trim(),
    )
  if (!match) return `illegal version string ${show(version)}`
  const numbers = match.slice(1, 4) as string[]
  const preRelease = match[4]?.split('.').filter((part) => /^\d+$/.test(part)) ?? []
  if ([...numbers, ...preRelease].some((part) => part.length > 1 && part.startsWith('0'))) {
    return `illegal zero-prefixed version component in ${show(version)}`
  }
  return undefined
}

/** IsSafePluginName. */
export function isSafePluginName(name: string): boolean {
  return SAFE_PLUGIN_NAME.test(name) && !WINDOWS_RESERVED.includes(name.toUpperCase())
}

/** validateLineLength: a line may only exceed maxLength if it is a single word. */
function linesFit(text: string, maxLength: number): boolean {
  return text.split('\n').every((line) => line.length <= maxLength || !line.trim().includes(' '))
}

function warnUnknownFields(doc: Record<string, unknown>, report: KrewReport) {
  const check = (value: unknown, kind: string, path: string) => {
    if (!isRecord(value)) return
    const known = KNOWN_FIELDS[kind]
    for (const key of Object.keys(value)) {
      if (known && !known.has(key))
        report.warnings.push(`unknown field ${path ? `${path}.` : ''}${key} (krew ignores it)`)
    }
  }
  check(doc, '', '')
  const spec = doc.spec
  check(spec, 'spec', 'spec')
  const platforms = isRecord(spec) && Array.isArray(spec.platforms) ? spec.platforms : []
  platforms.forEach((platform, i) => {
    const path = `spec.platforms[${i}]`
    check(platform, 'platform', path)
    if (!isRecord(platform)) return
    check(platform.selector, 'selector', `${path}.selector`)
    const files = Array.isArray(platform.files) ? platform.files : []
    files.forEach((op, j) => check(op, 'file', `${path}.files[${j}]`))
    const expressions = isRecord(platform.selector) ? platform.selector.matchExpressions : undefined
    if (Array.isArray(expressions)) {
      expressions.forEach((e, j) => check(e, 'expression', `${path}.selector.matchExpressions[${j}]`))
    }
  })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value)
}
