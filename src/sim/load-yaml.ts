// Reading cluster objects from the YAML people keep in repos, issues and `kubectl get -o yaml` dumps.
import {parseAllDocuments} from 'yaml'
import type {KubeObject} from './kinds.js'

/**
 * Every object in a multi-document YAML text, with `kind: List` (and typed `*List`) unwrapped and empty
 * documents skipped. Objects of kinds the server does not serve are returned too; the server ignores them.
 */
export function loadObjectsFromYaml(text: string): KubeObject[] {
  const objects: KubeObject[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`cannot parse YAML: ${doc.errors[0]!.message}`)
    collect(doc.toJS(), objects)
  }
  return objects
}

function collect(value: unknown, into: KubeObject[], defaults?: {apiVersion: string; kind: string}): void {
  if (!isRecord(value)) return
  const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : defaults?.apiVersion
  const kind = typeof value.kind === 'string' ? value.kind : defaults?.kind
  if (kind?.endsWith('List') && Array.isArray(value.items)) {
    // Items of a typed list (ServiceList from the raw API) carry no kind of their own.
    const itemDefaults =
      kind === 'List' ? undefined : {apiVersion: apiVersion ?? 'v1', kind: kind.slice(0, -'List'.length)}
    for (const item of value.items) collect(item, into, itemDefaults)
    return
  }
  const metadata = value.metadata
  if (!apiVersion || !kind || !isRecord(metadata) || typeof metadata.name !== 'string') return
  into.push({...value, apiVersion, kind, metadata: metadata as KubeObject['metadata']})
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
