// The dashboard page: one self-contained HTML document. The server renders the table, so the page works with
// JavaScript off (it then reloads itself every few seconds); with JavaScript on, a small inline script polls
// /api/routes and redraws the table when the document changed.
//
// Everything shown comes from the cluster (Service names, annotations, notes), so nothing is trusted:
// - the server escapes every value it writes into HTML (text and attribute values alike, attributes always quoted);
// - the script builds the DOM with createElement/textContent only, never HTML strings;
// - links are written only for http(s) URLs, so no `javascript:` href can appear;
// - the Content-Security-Policy allows no script or style but the page's own inline ones (by hash), no
//   connections but to its own origin, and with Trusted Types no HTML-string sinks at all
//   (https://www.w3.org/TR/CSP3/, https://w3c.github.io/trusted-types/dist/spec/).
import {createHash} from 'node:crypto'
import {escapeHtml} from '../markup.js'
import type {RoutePort, RouteService, RoutesDocument, RouteTarget} from './state.js'

const POLL_MS = 1000
const NOSCRIPT_REFRESH_SECONDS = 5

const STYLE = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5d6675; --line: #d8dde6; --head: #f2f4f8;
  --up: #137333; --up-bg: #e6f4ea; --down: #b3261e; --down-bg: #fce8e6; --unknown: #5d6675; --unknown-bg: #eceff3; }
@media (prefers-color-scheme: dark) { :root { --fg: #e4e7ec; --muted: #9aa3b2; --line: #3a4150; --head: #232834;
  --up: #81c995; --up-bg: #1e3a28; --down: #f28b82; --down-bg: #4a2020; --unknown: #9aa3b2; --unknown-bg: #2c313c; } }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 1.5rem 2rem; }
header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
.meta, .muted { color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
#status::before { content: "\\25CF  "; }
#status[data-state="live"]::before { color: var(--up); }
#status[data-state="error"]::before { color: var(--down); }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { text-align: left; vertical-align: top; padding: .45rem .6rem; border-bottom: 1px solid var(--line); }
th { background: var(--head); font-weight: 600; }
th[scope="rowgroup"] { white-space: nowrap; }
tbody + tbody { border-top: 2px solid var(--line); }
ul { list-style: none; margin: 0; padding: 0; }
a { color: #1a5fd0; text-decoration: none; }
a:hover { text-decoration: underline; }
@media (prefers-color-scheme: dark) { a { color: #8ab4f8; } }
.target { display: inline-block; margin: 0 .35rem .25rem 0; padding: .1rem .5rem; border-radius: 1rem;
  background: var(--unknown-bg); white-space: nowrap; }
.target .health { font-weight: 600; color: var(--unknown); }
.target[data-health="up"] { background: var(--up-bg); }
.target[data-health="up"] .health { color: var(--up); }
.target[data-health="down"] { background: var(--down-bg); }
.target[data-health="down"] .health { color: var(--down); }
.warning { color: var(--down); }
`

// Plain browser JavaScript, kept as written: the CSP allows it by the hash of exactly this text.
const SCRIPT = `
'use strict';
(() => {
  const POLL_MS = ${POLL_MS};
  const main = document.getElementById('routes');
  const status = document.getElementById('status');
  let last = '';

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) if (value !== undefined) node.setAttribute(name, String(value));
    for (const child of children) if (child !== undefined && child !== null) node.append(child);
    return node;
  }
  const isWebLink = (url) => typeof url === 'string' && /^https?:\\/\\//i.test(url);
  const linkText = (url) => url.replace(/^https?:\\/\\//i, '').replace(/\\/$/, '');

  function target(t) {
    return el('li', {class: 'target', 'data-node': t.node, 'data-health': t.health},
      el('b', {}, t.node), ' ', el('span', {class: 'mono'}, t.endpoint), ' ', el('span', {class: 'health'}, t.health));
  }

  function names(s) {
    const links = (s.links || []).filter(isWebLink);
    if (links.length) return el('ul', {class: 'links'}, ...links.map((url) => el('li', {}, el('a', {href: url}, linkText(url)))));
    return el('ul', {class: 'names'}, ...(s.names || []).map((name) => el('li', {class: 'mono'}, name)));
  }

  function service(s) {
    const body = el('tbody', {'data-service': s.service});
    const ports = s.ports.length ? s.ports : [{mode: '-', targets: []}];
    ports.forEach((p, i) => {
      const row = el('tr', {});
      if (i === 0) {
        row.append(el('th', {scope: 'rowgroup', rowspan: ports.length}, s.service));
        row.append(el('td', {rowspan: ports.length}, names(s)));
      }
      row.append(el('td', {class: 'mono'}, p.endpoint || '-'), el('td', {}, p.mode));
      const cell = el('td', {});
      if (p.targets.length) cell.append(el('ul', {class: 'targets'}, ...p.targets.map(target)));
      if (p.note) cell.append(el('span', {class: 'muted'}, p.note));
      row.append(cell);
      body.append(row);
    });
    return body;
  }

  function render(doc) {
    const parts = [];
    if (doc.services.length) {
      const head = el('thead', {}, el('tr', {}, ...['Service', 'Links', 'Address', 'Mode', 'Targets'].map((h) => el('th', {scope: 'col'}, h))));
      parts.push(el('table', {id: 'services'}, head, ...doc.services.map(service)));
    } else {
      parts.push(el('p', {class: 'muted', id: 'services'}, 'No Service is mapped yet.'));
    }
    if (doc.unmapped.length) {
      parts.push(el('h2', {}, 'Not reachable from this workstation'));
      parts.push(el('ul', {id: 'unmapped'}, ...doc.unmapped.map((u) =>
        el('li', {'data-service': u.service}, el('span', {class: 'mono'}, u.service), ' ', el('span', {class: 'muted'}, u.note)))));
    }
    if (doc.warnings.length) {
      parts.push(el('h2', {}, 'Warnings'));
      parts.push(el('ul', {id: 'warnings'}, ...doc.warnings.map((w) => el('li', {class: 'warning'}, w))));
    }
    main.replaceChildren(...parts);
  }

  function setStatus(state, text) {
    status.setAttribute('data-state', state);
    status.textContent = text;
  }

  async function poll() {
    if (!document.hidden) {
      try {
        const response = await fetch('/api/routes', {cache: 'no-store', headers: {accept: 'application/json'}});
        if (!response.ok) throw new Error('HTTP ' + response.status);
        const text = await response.text();
        if (text !== last) {
          render(JSON.parse(text));
          last = text;
        }
        setStatus('live', 'live, updated ' + new Date().toLocaleTimeString());
      } catch (error) {
        setStatus('error', 'cannot reach serve (' + (error && error.message) + '), retrying');
      }
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
`

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
}

/**
 * The page's Content-Security-Policy: its own inline script and style (by hash) and fetches to its own origin,
 * nothing else; no framing, no forms, no <base>, and Trusted Types with no policy, so no HTML-string DOM sink works.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ')

/** For everything that is not the page (JSON, errors): nothing may load or run. */
export const NONE_CSP = "default-src 'none'; frame-ancestors 'none'"

/** Only http(s) URLs become links: a `javascript:` or `data:` URL from anywhere is never written as an href. */
export function isWebLink(url: string): boolean {
  return /^https?:\/\//i.test(url)
}

function linkText(url: string): string {
  return url.replace(/^https?:\/\//i, '').replace(/\/$/, '')
}

type Attrs = Record<string, string | number | undefined>

/** One element; text children must already be escaped (they come from `el` or `escapeHtml`). */
function el(tag: string, attrs: Attrs, ...children: string[]): string {
  const list = Object.entries(attrs)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeHtml(value)}"`)
    .join('')
  return `<${tag}${list}>${children.join('')}</${tag}>`
}

function renderTarget(t: RouteTarget): string {
  return el(
    'li',
    {class: 'target', 'data-node': t.node, 'data-health': t.health},
    el('b', {}, escapeHtml(t.node)),
    ' ',
    el('span', {class: 'mono'}, escapeHtml(t.endpoint)),
    ' ',
    el('span', {class: 'health'}, escapeHtml(t.health)),
  )
}

function renderNames(s: RouteService): string {
  const links = s.links.filter(isWebLink)
  if (links.length) {
    return el(
      'ul',
      {class: 'links'},
      ...links.map((url) => el('li', {}, el('a', {href: url}, escapeHtml(linkText(url))))),
    )
  }
  return el('ul', {class: 'names'}, ...s.names.map((name) => el('li', {class: 'mono'}, escapeHtml(name))))
}

function renderService(s: RouteService): string {
  const ports: RoutePort[] = s.ports.length ? s.ports : [{mode: '-', targets: []}]
  const rows = ports.map((p, i) => {
    const cells: string[] = []
    if (i === 0) {
      cells.push(el('th', {scope: 'rowgroup', rowspan: ports.length}, escapeHtml(s.service)))
      cells.push(el('td', {rowspan: ports.length}, renderNames(s)))
    }
    const note = p.note ? el('span', {class: 'muted'}, escapeHtml(p.note)) : ''
    const targets = p.targets.length ? el('ul', {class: 'targets'}, ...p.targets.map(renderTarget)) : ''
    cells.push(
      el('td', {class: 'mono'}, escapeHtml(p.endpoint ?? '-')),
      el('td', {}, escapeHtml(p.mode)),
      el('td', {}, targets, note),
    )
    return el('tr', {}, ...cells)
  })
  return el('tbody', {'data-service': s.service}, ...rows)
}

/** The tables, as the script's `render` draws them too. */
function renderRoutes(doc: RoutesDocument): string {
  const parts: string[] = []
  if (doc.services.length) {
    const head = el(
      'thead',
      {},
      el(
        'tr',
        {},
        ...['Service', 'Links', 'Address', 'Mode', 'Targets'].map((h) => el('th', {scope: 'col'}, escapeHtml(h))),
      ),
    )
    parts.push(el('table', {id: 'services'}, head, ...doc.services.map(renderService)))
  } else {
    parts.push(el('p', {class: 'muted', id: 'services'}, 'No Service is mapped yet.'))
  }
  if (doc.unmapped.length) {
    parts.push(el('h2', {}, 'Not reachable from this workstation'))
    const items = doc.unmapped.map((u) =>
      el(
        'li',
        {'data-service': u.service},
        el('span', {class: 'mono'}, escapeHtml(u.service)),
        ' ',
        el('span', {class: 'muted'}, escapeHtml(u.note)),
      ),
    )
    parts.push(el('ul', {id: 'unmapped'}, ...items))
  }
  if (doc.warnings.length) {
    parts.push(el('h2', {}, 'Warnings'))
    parts.push(el('ul', {id: 'warnings'}, ...doc.warnings.map((w) => el('li', {class: 'warning'}, escapeHtml(w)))))
  }
  return parts.join('\n')
}

/** The whole page for `doc`; serve it with `PAGE_CSP`. */
export function renderPage(doc: RoutesDocument): string {
  const port = doc.httpPort === 80 ? '' : `:${doc.httpPort}`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>expose-lb · ${escapeHtml(doc.domain)}</title>
<noscript><meta http-equiv="refresh" content="${NOSCRIPT_REFRESH_SECONDS}"></noscript>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>expose-lb</h1>
<span class="meta">zone <code>${escapeHtml(doc.domain)}</code> · router <code>${escapeHtml(port || ':80')}</code> · <a href="/api/routes">/api/routes</a></span>
<span class="meta" id="status" data-state="static">snapshot; reloads every ${NOSCRIPT_REFRESH_SECONDS} s without JavaScript</span>
</header>
<main id="routes">
${renderRoutes(doc)}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`
}
