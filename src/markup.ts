// Escaping for HTML and XML alike: the dashboard and the router's pages (HTML), the launchd plist and the Windows
// task definition (XML). The five characters are the ones both languages give meaning to (HTML Living Standard
// §13.1.2.6, XML 1.0 §2.4); `&#39;` for the apostrophe is valid in both, where `&apos;` is not in HTML 4.

const ESCAPES: Record<string, string> = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}

/** Escapes text for element content and for quoted attribute values alike. */
export function escapeHtml(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c)
}
