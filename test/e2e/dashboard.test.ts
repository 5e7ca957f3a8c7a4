// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core, against the real `serve`
// (through kubectl) and the simulated cluster. Checks the links, that one leads to the backend, a live health
// change without a reload, the page without JavaScript, and that hostile values stay text. Saves a screenshot.
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {chromium, type BrowserContext, type Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {createDashboard} from '../../src/dashboard/handler.js'
import type {RoutesDocument} from '../../src/dashboard/state.js'
import {startDemo, type Demo} from '../../src/sim/demo.js'
import {ROOT} from './helpers.js'
import {get, startServe, type ServeProcess} from './serve-helpers.js'

const NODES = '127.0.28.' // this file's loopback nodes, apart from other test files
const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOT = join(ROOT, 'test/artifacts/dashboard.png')
const WAIT_MS = 15_000 // generous: two failed health checks 2 s apart, on a loaded 2-core machine

let demo: Demo
let serve: ServeProcess
let context: BrowserContext
let profile: string
let dashboard: string
/** Console errors of every page (a CSP violation is one): there should be none. */
const consoleErrors: string[] = []

beforeAll(async () => {
  profile = mkdtempSync(join(tmpdir(), 'expose-lb-chromium-'))
  await Promise.all([
    (async () => {
      demo = await startDemo({nodePrefix: NODES})
      serve = await startServe(['--kubeconfig', demo.kubeconfig, '--ip-range', '127.85.0.0/16'])
    })(),
    chromium
      .launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: {width: 1280, height: 720},
        // Without the background-networking flags Chromium dials out at start, which a closed network refuses.
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      })
      .then((c) => (context = c)),
  ])
  context.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${message.location().url}: ${message.text()}`)
  })
  dashboard = `http://expose-lb.localhost:${serve.httpPort}/`
}, 30_000)

afterAll(async () => {
  await context?.close()
  await serve?.stop()
  await demo?.close()
  if (profile) rmSync(profile, {recursive: true, force: true})
})

/** A new page that counts its own navigations (a reload would be one). */
async function open(url: string): Promise<{page: Page; navigations: () => number}> {
  const page = await context.newPage()
  let count = 0
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) count++
  })
  await page.goto(url)
  return {page, navigations: () => count}
}

const target = (page: Page, service: string, node: string) =>
  page.locator(`tbody[data-service="${service}"] li.target[data-node="${node}"]`).first()

describe('dashboard in Chromium', () => {
  it('lists every mapped Service as links, and a .localhost link reaches the backend', async () => {
    const {page} = await open(dashboard)
    await expect.poll(() => page.locator('#status').getAttribute('data-state')).toBe('live')
    const radarr = page.locator('tbody[data-service="media/radarr"]')
    const links = await Promise.all((await radarr.locator('a').all()).map((a) => a.getAttribute('href')))
    expect(links).toEqual([
      `http://radarr.kube.internal:${serve.httpPort}/`,
      `http://radarr.media.kube.internal:${serve.httpPort}/`,
      `http://radarr.localhost:${serve.httpPort}/`,
      `http://radarr.media.localhost:${serve.httpPort}/`,
    ])
    await expect.poll(() => radarr.locator('a').first().textContent()).toBe(`radarr.kube.internal:${serve.httpPort}`)
    expect(await page.locator('tbody[data-service="default/homer"] a').count()).toBeGreaterThan(0)
    expect(await page.locator('#unmapped').textContent()).toContain('default/kubernetes no selector')
    // The ClusterIP grafana is mapped through the API server, and its port says so.
    expect(await page.locator('tbody[data-service="monitoring/grafana"]').textContent()).toContain(
      'via API server: traffic and its cost go through the control plane',
    )
    expect(await target(page, 'media/radarr', 'node-b').getAttribute('data-health')).toBe('up')

    await radarr.locator(`a[href="http://radarr.localhost:${serve.httpPort}/"]`).click()
    await page.waitForURL(`http://radarr.localhost:${serve.httpPort}/`)
    expect(await page.locator('body').textContent()).toContain('"service":"media/radarr"')
    await page.close()
  })

  it('shows a node going down without a reload, and saves a screenshot', async () => {
    const {page, navigations} = await open(dashboard)
    await expect.poll(() => page.locator('#status').getAttribute('data-state')).toBe('live')
    expect(await target(page, 'media/radarr', 'node-b').getAttribute('data-health')).toBe('up')

    await demo.nodes.stopNode('node-b')
    await expect
      .poll(() => target(page, 'media/radarr', 'node-b').getAttribute('data-health'), {timeout: WAIT_MS})
      .toBe('down')
    expect(await target(page, 'media/radarr', 'node-b').locator('.health').textContent()).toBe('down')
    expect(await target(page, 'media/radarr', 'node-a').getAttribute('data-health')).toBe('up')
    expect(navigations()).toBe(1) // the first load only

    mkdirSync(join(ROOT, 'test/artifacts'), {recursive: true})
    await page.screenshot({path: SCREENSHOT, fullPage: true})
    await page.close()
  })

  it('works without JavaScript: the server renders the same table', async () => {
    const page = await context.newPage()
    const cdp = await context.newCDPSession(page)
    await cdp.send('Emulation.setScriptExecutionDisabled', {value: true})
    await page.goto(dashboard)
    expect(await page.locator('#status').getAttribute('data-state')).toBe('static')
    expect(
      await page
        .locator(`tbody[data-service="media/radarr"] a[href="http://radarr.localhost:${serve.httpPort}/"]`)
        .count(),
    ).toBe(1)
    expect(await target(page, 'media/radarr', 'node-a').getAttribute('data-health')).toBe('up')
    await page.close()
  })

  it('keeps hostile values as text: no script runs but its own, no element is injected', async () => {
    const hostile: RoutesDocument = {
      domain: 'kube.internal<script>window.pwned=1</script>',
      httpPort: 80,
      services: [
        {
          service: 'x/<img src=x onerror="window.pwned=2">',
          names: [],
          links: ['javascript:window.pwned=3', 'http://a.localhost/"><svg onload="window.pwned=4">'],
          ports: [
            {
              mode: '<iframe srcdoc="<script>parent.pwned=5</script>">',
              note: "' onmouseover='window.pwned=6",
              targets: [{node: '"><script>window.pwned=7</script>', endpoint: '1.2.3.4:1', health: 'down'}],
            },
          ],
        },
      ],
      unmapped: [{service: 'y/</ul><img src=x onerror="window.pwned=8">', name: 'y', note: '<b>bold</b>'}],
      warnings: ['<style>body{display:none}</style>'],
    }
    const site = createDashboard(() => hostile)
    const server = http.createServer((req, res) => site.handle(req, res))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const dialogs: string[] = []
      const page = await context.newPage()
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message())
        void dialog.dismiss()
      })
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
      // The script ran (its hash is allowed) and drew the table from /api/routes.
      await expect.poll(() => page.locator('#status').getAttribute('data-state')).toBe('live')
      await page.locator('li.target').hover()
      expect(await page.evaluate('typeof window.pwned')).toBe('undefined')
      expect(await page.locator('main img, main svg, main iframe, main b:not(li.target > b), main style').count()).toBe(
        0,
      )
      expect(await page.locator('main a').count()).toBe(1) // the http link; the javascript: one is dropped
      const text = await page.locator('main').textContent()
      for (const value of [hostile.services[0]!.service, '"><script>window.pwned=7</script>', '<b>bold</b>']) {
        expect(text).toContain(value)
      }
      expect(dialogs).toEqual([])
      await page.close()
    } finally {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it('answers on expose-lb.<zone> and the apex too, which DNS points at the router', async () => {
    for (const host of ['expose-lb.kube.internal', 'kube.internal']) {
      expect(await serve.resolver.resolve4(host)).toEqual(['127.0.0.1'])
      const res = await get(`http://127.0.0.1:${serve.httpPort}/api/routes`, {host: `${host}:${serve.httpPort}`})
      expect(res.status).toBe(200)
      expect((JSON.parse(res.body) as RoutesDocument).services.map((s) => s.service)).toContain('media/radarr')
    }
  })

  it('logged no console error in any page (no CSP violation)', () => {
    expect(consoleErrors.filter((e) => !e.includes('/favicon.ico:'))).toEqual([])
  })
})
