// The router's answer to a Host it has no route for: the names it does serve, as links a browser can follow, or as
// JSON for scripts. It sits beside the dashboard page so that every HTML expose-lb writes goes through one
// escapeHtml (src/markup.ts): the names come from the cluster and the unknown one from the client, so none is trusted.
// Pure: the router writes the answer.
import {escapeHtml} from '../markup.js'

/** A 404 body and its content type. */
export interface NotFoundAnswer {
  contentType: string
  body: string
}

/**
 * The 404 for an unknown Host `name`: the known `names` as links on the port the client used (HTML), or as JSON
 * when `accept` asks for application/json and not for HTML. Without `names` (a client the router does not show
 * them to), the page says where they are listed instead.
 */
export function renderNotFound(
  name: string,
  names: readonly string[] | undefined,
  request: {host?: string; accept?: string},
): NotFoundAnswer {
  const error = `no service is named "${name}"`
  const accept = request.accept ?? ''
  if (/\bapplication\/json\b/i.test(accept) && !/\btext\/html\b/i.test(accept)) {
    const answer = names === undefined ? {error} : {error, names}
    return {contentType: 'application/json; charset=utf-8', body: `${JSON.stringify(answer)}\n`}
  }
  const port = /:(\d+)$/.exec(request.host ?? '')?.[1]
  const suffix = port === undefined ? '' : `:${port}`
  const items = (names ?? [])
    .map((known) => `<li><a href="http://${escapeHtml(known)}${suffix}/">${escapeHtml(known)}</a></li>`)
    .join('\n')
  const list =
    names === undefined
      ? [`<p>The names served here are listed at http://localhost${suffix}/ on the machine that runs serve.</p>`]
      : [
          '<p>Names served here:</p>',
          names.length === 0 ? '<p>No services are exposed yet.</p>' : `<ul>\n${items}\n</ul>`,
        ]
  const page = [
    '<!doctype html>',
    '<html><head><meta charset="utf-8"><title>expose-lb: unknown name</title></head><body>',
    `<h1>${escapeHtml(error)}</h1>`,
    ...list,
    '</body></html>',
    '',
  ].join('\n')
  return {contentType: 'text/html; charset=utf-8', body: page}
}
