// The web pages for browsers: writing a message (GET / as HTML) and reading one
// (GET /msg/:id as HTML, which counts no view). They are real files in routes/web/
// (layout.html, compose.html, closed.html, read.html, missive.css, client.js, envelope.js), read once
// at start-up. The HTML holds no inline script or style, so the strict CSP holds; the
// behaviour is in web/client.js (/assets/missive.js), the look in web/missive.css.
//
// Where the files are: beside this module, in web/. From the sources (the tests) that is
// routes/web/; from dist/ (npm start, the Docker image, which ships dist/ only) it is
// dist/routes/web/, where tsc re-emits the .js (allowJs) and `npm run build` copies the
// .html and .css (scripts/copy-web-files.mjs): one lookup that works in both places,
// with no path back into the source tree that an image without sources would lack.
import { readFileSync } from 'node:fs'

/** Reads a file of the pages, as written. @param name a file in routes/web/ */
export function webFile (name: string): string {
  return readFileSync(new URL(`./web/${name}`, import.meta.url), 'utf8')
}

/** Text to put in HTML (element content or a quoted attribute value). */
export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** HTML made here from escaped parts, to insert as it is. */
class Html {
  constructor (readonly html: string) {}
}

/**
 * Fills the `{{name}}` placeholders of a page: strings are escaped, Html is inserted as
 * is. A placeholder left unfilled (or a value for none) is a fault of this module, found
 * at start-up rather than shown to a person.
 */
export function fill (template: string, values: Record<string, string | Html>): string {
  const used = new Set<string>()
  const page = template.replace(/\{\{([a-z-]+)\}\}/g, (_match, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`web page: no value for {{${name}}}`)
    used.add(name)
    return value instanceof Html ? value.html : escapeHtml(value)
  })
  const unused = Object.keys(values).filter((name) => !used.has(name))
  if (unused.length > 0) throw new Error(`web page: no placeholder for ${unused.join(', ')}`)
  return page
}

// The lifetimes the page offers: these presets up to MESSAGE_MAX_TTL_SECONDS, the default
// lifetime (selected), and the maximum itself when it cuts the presets short, so the page
// never offers a lifetime the server refuses.
const TTL_PRESETS = [600, 3600, 86400, 604800]
const UNITS: Array<[number, string]> = [[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']]

function duration (seconds: number): string {
  const [size, unit] = UNITS.find(([size]) => seconds % size === 0) ?? [1, 'second']
  const count = seconds / size
  return `${count} ${unit}${count === 1 ? '' : 's'}`
}

function ttlOptions (defaultTtl: number, maxTtl: number): Html {
  const offered = new Set(TTL_PRESETS.filter((ttl) => ttl <= maxTtl))
  offered.add(defaultTtl)
  if (maxTtl < Math.max(...TTL_PRESETS)) offered.add(maxTtl)
  return new Html([...offered].sort((a, b) => a - b)
    .map((ttl) => `<option value="${ttl}"${ttl === defaultTtl ? ' selected' : ''}>${escapeHtml(duration(ttl))}</option>`).join('\n'))
}

/** "65 536": the limit as people read it (the page shows it before its script runs). */
const grouped = (n: number): string => String(n).replace(/\B(?=(\d{3})+$)/g, '\u202f')

// Each page is its body in the one layout (head, style sheet, script, heading).
const layout = webFile('layout.html')
const inLayout = (title: string, body: string): string => fill(layout, { title, body: new Html(body) })

const templates = {
  compose: webFile('compose.html'),
  closed: inLayout('Share a secret message', webFile('closed.html')),
  read: inLayout('A message for you', webFile('read.html'))
}

/** MESSAGE_MAX_BYTES's default (schemas/env.ts), for callers that do not pass theirs. */
const DEFAULT_MAX_BYTES = 65536

/**
 * The page for writing a message, for the lifetimes the runtime policy accepts (made again
 * only when the policy changes: routes/public.ts) and the content limit (MESSAGE_MAX_BYTES,
 * which the page's script reads from the form's data-max-bytes). With anonymous creation
 * closed it has no form: it says that creating needs the API, instead of failing on submit.
 */
export function composePage (defaultTtl: number, maxTtl: number, anonymousCreate = true, maxBytes = DEFAULT_MAX_BYTES): string {
  if (!anonymousCreate) return templates.closed
  return inLayout('Share a secret message', fill(templates.compose, {
    'ttl-options': ttlOptions(defaultTtl, maxTtl),
    'max-bytes': String(maxBytes),
    'max-bytes-text': grouped(maxBytes)
  }))
}

export const readPage: string = templates.read
