// Kubernetes `Status` objects: how the API server reports every failure.
// https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/

/** A Status error body with an explicit reason (e.g. `Expired` for a 410 inside a watch). */
export function statusBody(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? {details} : {}),
    code,
  }
}

// The reason the real server pairs with each HTTP status (k8s.io/apimachinery/pkg/apis/meta/v1 StatusReason).
const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Gone',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
}

/** A Status error body with the reason the real server uses for `code`. */
export function failure(code: number, message: string, details?: Record<string, unknown>) {
  return statusBody(code, REASONS[code] ?? 'Unknown', message, details)
}
