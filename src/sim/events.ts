// Events in both API groups. The simulator stores core/v1 Events; events.k8s.io/v1 serves the same objects in that
// group's shape, as the real server does (both are views of one storage, kubernetes pkg/registry/core/event and
// pkg/apis/events/v1/conversion.go). Field selectors differ per group: involvedObject.* in core, regarding.* in
// events.k8s.io (the field labels each conversion.go lets through; anything else is "field label not supported").
import {obj} from '../kube/json.js'
import type {KindInfo, KubeObject} from './kinds.js'

const text = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v))

/** The group that holds Events for `info`: events.k8s.io reads core's storage. */
export function storageOf(info: KindInfo): {group: string; resource: string} {
  return isEventsV1(info) ? {group: '', resource: 'events'} : {group: info.group, resource: info.resource}
}

export function isEventsV1(info: KindInfo): boolean {
  return info.group === 'events.k8s.io' && info.resource === 'events'
}

/** A stored core/v1 Event as events.k8s.io/v1 shows it (k8s.io/api events/v1 types.go field names). */
export function toEventsV1(core: KubeObject): KubeObject {
  const source = obj(core.source)
  const reportingController = text(core.reportingComponent) || text(source.component)
  const out: KubeObject = {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: core.metadata,
    eventTime: core.eventTime ?? null,
    ...(reportingController ? {reportingController} : {}),
    ...(core.reportingInstance ? {reportingInstance: core.reportingInstance} : {}),
    ...(core.action ? {action: core.action} : {}),
    reason: core.reason,
    regarding: core.involvedObject,
    ...(core.related ? {related: core.related} : {}),
    note: core.message,
    type: core.type,
    ...(core.source ? {deprecatedSource: core.source} : {}),
    ...(core.firstTimestamp ? {deprecatedFirstTimestamp: core.firstTimestamp} : {}),
    ...(core.lastTimestamp ? {deprecatedLastTimestamp: core.lastTimestamp} : {}),
    ...(core.count ? {deprecatedCount: core.count} : {}),
    ...(core.series ? {series: core.series} : {}),
  }
  return out
}

const REF_FIELDS = ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath'] as const

/** Field labels core/v1 Events accept (pkg/apis/core/v1/conversion.go, AddFieldLabelConversionsForEvent). */
export const CORE_EVENT_FIELDS: Record<string, (o: KubeObject) => string> = {
  ...Object.fromEntries(
    REF_FIELDS.map((f) => [`involvedObject.${f}`, (o: KubeObject) => text(obj(o.involvedObject)[f])]),
  ),
  reason: (o) => text(o.reason),
  reportingComponent: (o) => text(o.reportingComponent),
  source: (o) => text(obj(o.source).component),
  type: (o) => text(o.type),
}

/** Field labels events.k8s.io/v1 Events accept (pkg/apis/events/v1/conversion.go), read from the v1 shape. */
export const EVENTS_V1_FIELDS: Record<string, (o: KubeObject) => string> = {
  ...Object.fromEntries(REF_FIELDS.map((f) => [`regarding.${f}`, (o: KubeObject) => text(obj(o.regarding)[f])])),
  reason: (o) => text(o.reason),
  reportingController: (o) => text(o.reportingController),
  type: (o) => text(o.type),
}
