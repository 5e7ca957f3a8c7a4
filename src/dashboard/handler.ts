// serve's dashboard site: `/` is the page, `/api/routes` the same data as JSON. The HTTP router hands it the
// requests for its own host names (expose-lb.localhost, expose-lb.<zone>, the zone apex).
import type http from 'node:http'

import {NONE_CSP, PAGE_CSP, renderPage} from './page.js'
import type {RoutesDocument} from './state.js'

export interface Dashboard {
  handle(req: http.IncomingMessage, res: http.ServerResponse): void
}

/** Headers on every answer: always fresh, never sniffed, framed, or sent on as a referrer. */
const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY', // for browsers without CSP frame-ancestors
  'referrer-policy': 'no-referrer',
} as const

/** The dashboard over `get`, which returns the current state on every request. */
export function createDashboard(get: () => RoutesDocument): Dashboard {
  return {
    handle(req, res) {
      const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, {
          ...COMMON_HEADERS,
          'content-type': type,
          'content-length': Buffer.byteLength(body),
          ...headers,
        })
        // HEAD gets the headers GET would get, without the body (RFC 9110 §9.3.2).
        res.end(req.method === 'HEAD' ? undefined : body)
      }
      const text = (status: number, body: string, headers: Record<string, string> = {}) =>
        send(status, 'text/plain; charset=utf-8', body, {'content-security-policy': NONE_CSP, ...headers})

      if (req.method !== 'GET' && req.method !== 'HEAD') {
        text(405, `method ${req.method ?? ''} not allowed: the dashboard is read-only\n`, {allow: 'GET, HEAD'})
        return
      }
      let path: string
      try {
        path = new URL(req.url ?? '/', 'http://dashboard.invalid').pathname
      } catch {
        text(400, 'bad request target\n')
        return
      }
      if (path !== '/' && path !== '/api/routes') {
        text(404, 'not found: the dashboard has / and /api/routes\n')
        return
      }
      let doc: RoutesDocument
      try {
        doc = get()
      } catch (error) {
        text(500, `cannot build the dashboard: ${(error as Error).message}\n`)
        return
      }
      if (path === '/') send(200, 'text/html; charset=utf-8', renderPage(doc), {'content-security-policy': PAGE_CSP})
      else
        send(200, 'application/json; charset=utf-8', `${JSON.stringify(doc, null, 2)}\n`, {
          'content-security-policy': NONE_CSP,
        })
    },
  }
}
