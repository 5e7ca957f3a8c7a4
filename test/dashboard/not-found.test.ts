import {describe, expect, it} from 'vitest'

import {renderNotFound} from '../../src/dashboard/not-found.js'

describe('renderNotFound', () => {
  it('links the known names on the port the client used', () => {
    const page = renderNotFound('nope.home.test', ['web.home.test'], {host: 'nope.home.test:8080'})
    expect(page.contentType).toEqual('text/html; charset=utf-8')
    expect(page.body).toContain('<a href="http://web.home.test:8080/">web.home.test</a>')
  })

  it('answers JSON when asked for JSON and not HTML', () => {
    const answer = renderNotFound('nope.home.test', ['web.home.test'], {accept: 'application/json'})
    expect(answer).toEqual({
      contentType: 'application/json; charset=utf-8',
      body: '{"error":"no service is named \\"nope.home.test\\"","names":["web.home.test"]}\n',
    })
  })

  it('leaves the names out when the router does not show them to this client, in HTML and in JSON', () => {
    const page = renderNotFound('rebind.evil.example', undefined, {host: 'rebind.evil.example:8080'})
    expect(page.body).not.toMatch(/<ul>|<li>|Names served here/)
    expect(page.body).toContain(
      '<p>The names served here are listed at http://localhost:8080/ on the machine that runs serve.</p>',
    )
    expect(renderNotFound('rebind.evil.example', undefined, {accept: 'application/json'})).toEqual({
      contentType: 'application/json; charset=utf-8',
      body: '{"error":"no service is named \\"rebind.evil.example\\""}\n',
    })
  })

  it('escapes a hostile Host and hostile names', () => {
    const page = renderNotFound('<script>alert(1)</script>', ['"><img src=x onerror=alert(2)>'], {})
    expect(page.body).not.toMatch(/<script>|<img/)
    expect(page.body).toContain('<p>Names served here:</p>')
  })
})
