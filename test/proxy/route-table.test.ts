// The HTTP router's host table: patched for the routes that changed, equal to a table built afresh.
import {describe, expect, it} from 'vitest'
import {RouteTable} from '../../src/proxy/route-table.js'
import type {HttpRoute} from '../../src/servemap/types.js'

const route = (service: string, ...hosts: string[]): HttpRoute => ({
  service,
  hosts,
  targets: [{node: 'n1', address: '10.0.0.1', port: 30080}],
})

/** name → service of each entry, sorted by name. */
function table(t: RouteTable): Array<[string, string]> {
  return [...t.keys()].sort().map((name) => [name, t.get(name)!.route.service])
}

describe('RouteTable', () => {
  it("swaps one Service's route and keeps every other entry object", () => {
    const web = route('default/web', 'web.lb.internal', 'WEB.localhost')
    const api = route('default/api', 'api.lb.internal')
    const t = new RouteTable()
    t.set([web, api])
    const apiEntry = t.get('api.lb.internal')
    t.get('web.lb.internal')!.counter = 7
    const web2 = route('default/web', 'web.lb.internal', 'www.lb.internal')
    t.set([web2, api])
    expect(table(t)).toEqual([
      ['api.lb.internal', 'default/api'],
      ['web.lb.internal', 'default/web'],
      ['www.lb.internal', 'default/web'],
    ])
    expect(t.get('api.lb.internal')).toBe(apiEntry)
    expect(t.get('web.lb.internal')!.route).toBe(web2)
    // The Service's round-robin position carries over to its new route.
    expect(t.get('www.lb.internal')!.counter).toBe(7)
  })

  it('gives a name two routes share to the first in the list, also after the first goes', () => {
    const a = route('default/a', 'shared.example.com', 'a.lb.internal')
    const b = route('default/b', 'shared.example.com', 'b.lb.internal')
    const t = new RouteTable()
    t.set([a, b])
    expect(t.get('shared.example.com')!.route).toBe(a)
    t.set([b])
    expect(table(t)).toEqual([
      ['b.lb.internal', 'default/b'],
      ['shared.example.com', 'default/b'],
    ])
    const c = route('default/c', 'shared.example.com')
    t.set([c, b])
    expect(t.get('shared.example.com')!.route).toBe(c)
  })

  it('knows whether it holds a wildcard', () => {
    const wild = route('default/apps', '*.apps.example.com')
    const t = new RouteTable()
    t.set([route('default/web', 'web.lb.internal')])
    expect(t.hasWildcards).toBe(false)
    t.set([route('default/web', 'web.lb.internal'), wild])
    expect(t.hasWildcards).toBe(true)
    t.set([route('default/web', 'web.lb.internal')])
    expect(t.hasWildcards).toBe(false)
  })
})
