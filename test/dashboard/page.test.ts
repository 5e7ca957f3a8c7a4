import {createHash} from 'node:crypto'
import {describe, expect, it} from 'vitest'
import {isWebLink, PAGE_CSP, renderPage} from '../../src/dashboard/page.js'
import {escapeHtml} from '../../src/markup.js'
import type {RoutesDocument} from '../../src/dashboard/state.js'

/** Values as hostile as the cluster could make them: each tries to break out of text, attributes or URLs. */
const HOSTILE: RoutesDocument = {
  domain: 'kube.internal</title><script>alert("domain")</script>',
  httpPort: 8080,
  services: [
    {
      service: 'evil/<script>alert("service")</script>',
      names: ['"><img src=x onerror=alert("name")>'],
      links: ['javascript:alert("link")', 'http://ok.localhost:8080/"><svg onload=alert("href")>'],
      ports: [
        {
          endpoint: '127.0.0.1:1\' onmouseover=\'alert("endpoint")',
          mode: '<b>http</b>',
          note: '</td></tr></table><iframe src="javascript:alert(\'note\')"></iframe>',
          targets: [{node: 'node\' onclick=\'alert("node")', endpoint: '<i>1.2.3.4:1</i>', health: 'down'}],
        },
      ],
    },
  ],
  unmapped: [{service: 'x/</ul><script>alert(1)</script>', name: 'x', note: '<!-- & -->'}],
  warnings: ['<style>*{display:none}</style>'],
}

const between = (text: string, open: string, close: string) => {
  const start = text.indexOf(open)
  return text.slice(start + open.length, text.indexOf(close, start))
}
const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

describe('escapeHtml', () => {
  it.each([
    ['<script>', '&lt;script&gt;'],
    [`a"b'c`, 'a&quot;b&#39;c'],
    ['&amp;', '&amp;amp;'],
    ['plain.kube.internal', 'plain.kube.internal'],
    [8080, '8080'],
  ])('escapes %s as %s', (input, output) => {
    expect(escapeHtml(input)).toBe(output)
  })
})

describe('isWebLink', () => {
  it.each([
    ['http://radarr.localhost:8080/', true],
    ['HTTPS://radarr.kube.internal/', true],
    ['javascript:alert(1)', false],
    [' javascript:alert(1)', false],
    ['data:text/html,<script>', false],
    ['//evil.example/', false],
  ])('%s → %s', (url, ok) => {
    expect(isWebLink(url)).toBe(ok)
  })
})

describe('renderPage', () => {
  const page = renderPage(HOSTILE)

  it('writes no element, attribute or URL from the values: the only script and style are its own', () => {
    expect(page.match(/<script/g)).toHaveLength(1)
    expect(page.match(/<style/g)).toHaveLength(1)
    for (const tag of ['<img', '<svg', '<iframe', '<i>', '<b>http', '<!--']) expect(page).not.toContain(tag)
    expect(page).not.toMatch(/href="javascript:/i)
    // Every real tag (text `<` is escaped), with its quoted values blanked: no event handler attribute got out.
    const tags =
      page
        .replace(/<script>[\s\S]*<\/script>/, '')
        .replace(/"[^"]*"/g, '""')
        .match(/<[^>]*>/g) ?? []
    expect(tags.filter((tag) => /\son\w+=/i.test(tag))).toEqual([])
    expect(page).toContain('evil/&lt;script&gt;alert(&quot;service&quot;)&lt;/script&gt;')
    expect(page).toContain('data-node="node&#39; onclick=&#39;alert(&quot;node&quot;)"')
    expect(page).toContain('href="http://ok.localhost:8080/&quot;&gt;&lt;svg onload=alert(&quot;href&quot;)&gt;"')
    expect(page).toContain('<title>expose-lb · kube.internal&lt;/title&gt;&lt;script&gt;')
  })

  it('is allowed its inline script and style by hash, and nothing else', () => {
    const csp = new Map(PAGE_CSP.split('; ').map((d) => [d.split(' ')[0], d.slice(d.indexOf(' ') + 1)]))
    expect(csp.get('default-src')).toBe("'none'")
    expect(csp.get('script-src')).toBe(hash(between(page, '<script>', '</script>')))
    expect(csp.get('style-src')).toBe(hash(between(page, '<style>', '</style>')))
    expect(csp.get('connect-src')).toBe("'self'")
    expect(csp.get('require-trusted-types-for')).toBe("'script'")
    expect(PAGE_CSP).not.toMatch(/unsafe-inline|unsafe-eval|\*/)
  })

  it('renders one row per port with the targets and their health, so the page works without JavaScript', () => {
    const page = renderPage({
      domain: 'kube.internal',
      httpPort: 80,
      services: [
        {
          service: 'media/radarr',
          names: ['radarr.kube.internal'],
          links: ['http://radarr.kube.internal/', 'http://radarr.localhost/'],
          ports: [
            {
              endpoint: '127.0.0.1:80',
              mode: 'http',
              targets: [
                {node: 'node-a', endpoint: '127.0.10.1:30878', health: 'up'},
                {node: 'node-b', endpoint: '127.0.10.2:30878', health: 'down'},
              ],
            },
          ],
        },
      ],
      unmapped: [],
      warnings: [],
    })
    const body = between(page, '<main id="routes">', '</main>')
    expect(body).toContain('<a href="http://radarr.kube.internal/">radarr.kube.internal</a>')
    expect(body).toContain('<a href="http://radarr.localhost/">radarr.localhost</a>')
    expect(body).toContain(
      '<li class="target" data-node="node-b" data-health="down"><b>node-b</b> <span class="mono">127.0.10.2:30878</span> <span class="health">down</span></li>',
    )
    expect(body.match(/<tr>/g)).toHaveLength(2) // the header and the one port
    expect(page).toContain('<noscript><meta http-equiv="refresh" content="5"></noscript>')
  })

  it('says so when nothing is mapped yet', () => {
    const page = renderPage({domain: 'kube.internal', httpPort: 8080, services: [], unmapped: [], warnings: []})
    expect(page).toContain('No Service is mapped yet.')
  })
})
