import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createDashboard} from '../../src/dashboard/handler.js'
import {PAGE_CSP} from '../../src/dashboard/page.js'
import type {RoutesDocument} from '../../src/dashboard/state.js'

const DOC: RoutesDocument = {
  domain: 'kube.internal',
  httpPort: 8080,
  services: [
    {
      service: 'media/radarr',
      names: ['radarr.kube.internal'],
      links: ['http://radarr.kube.internal:8080/'],
      ports: [
        {endpoint: '127.0.0.1:8080', mode: 'http', targets: [{node: 'node-a', endpoint: '1.2.3.4:1', health: 'up'}]},
      ],
    },
  ],
  unmapped: [],
  warnings: [],
}

let current: () => RoutesDocument = () => DOC
let base: string

beforeAll(async () => {
  const dashboard = createDashboard(() => current())
  const server = http.createServer((req, res) => dashboard.handle(req, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

async function request(path: string, method = 'GET') {
  const res = await fetch(`${base}${path}`, {method})
  return {status: res.status, headers: res.headers, body: await res.text()}
}

describe('createDashboard', () => {
  it('serves the page at / with its CSP, never cached', async () => {
    const res = await request('/')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toBe(PAGE_CSP)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.body).toContain('<a href="http://radarr.kube.internal:8080/">radarr.kube.internal:8080</a>')
  })

  it('serves the same document as JSON at /api/routes, a query string ignored', async () => {
    for (const path of ['/api/routes', '/api/routes?t=1']) {
      const res = await request(path)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(JSON.parse(res.body)).toEqual(DOC)
    }
  })

  it('reads the state on every request', async () => {
    current = () => ({...DOC, services: []})
    try {
      expect(JSON.parse((await request('/api/routes')).body).services).toEqual([])
    } finally {
      current = () => DOC
    }
  })

  it('answers HEAD with the headers of GET and no body', async () => {
    const get = await request('/api/routes')
    const head = await request('/api/routes', 'HEAD')
    expect(head.status).toBe(200)
    expect(head.body).toBe('')
    expect(head.headers.get('content-length')).toBe(get.headers.get('content-length'))
  })

  it.each([
    ['GET', '/api', 404],
    ['GET', '/index.html', 404],
    ['GET', '/api/routes/', 404],
    ['POST', '/', 405],
    ['PUT', '/api/routes', 405],
    ['DELETE', '/api/routes', 405],
  ])('answers %s %s with %d, never cached', async (method, path, status) => {
    const res = await request(path, method)
    expect(res.status).toBe(status)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'")
    if (status === 405) expect(res.headers.get('allow')).toBe('GET, HEAD')
  })

  it('answers 500 with the reason when the state cannot be built', async () => {
    current = () => {
      throw new Error('no map yet')
    }
    try {
      const res = await request('/api/routes')
      expect(res).toMatchObject({status: 500, body: 'cannot build the dashboard: no map yet\n'})
    } finally {
      current = () => DOC
    }
  })
})
