// The values `missive` takes on its command line, checked before anything is sent: a mistake
// here costs no request and no view.
import { usage } from './errors.js'

export const DEFAULT_URL = 'http://127.0.0.1:3000'
/** the server's MESSAGE_MAX_BYTES by default (src/config.ts); --max-bytes for another server */
export const DEFAULT_MAX_BYTES = 65536
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }
const ID = /^[A-Za-z0-9_-]{22}$/
const SECRET_CHARS = 43

/** `30s`, `10m`, `1h`, `7d` or plain seconds. The server's minimum is 60 s; its maximum only it knows. */
export function parseTtl (text: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text.trim())
  if (match === null) throw usage(`--ttl ${JSON.stringify(text)}: give seconds or a number with s, m, h or d (30m, 1h, 7d)`)
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] ?? ''] ?? 1)
  if (seconds < 60) throw usage(`--ttl ${text}: at least 60 seconds`)
  if (!Number.isSafeInteger(seconds)) throw usage(`--ttl ${text}: too long`)
  return seconds
}

/** An integer in [min, max], for the option `name`. */
export function parseInteger (name: string, text: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) throw usage(`--${name} ${JSON.stringify(text)}: an integer from ${min} to ${max}`)
  return Number(text)
}

/** The server's base address: http(s), no query or fragment, no trailing slash. */
export function parseBase (text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw usage(`the server address ${JSON.stringify(text)} is not a URL (http://host:port)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`the server address must be http:// or https://, not ${url.protocol}`)
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') throw usage('the server address must have no query, fragment or credentials')
  return (url.origin + url.pathname).replace(/\/+$/, '')
}

export interface Link {
  /** where the server is: everything before /msg/<id> */
  base: string
  id: string
  /** the fragment: the key the envelope opens with; null when the link has none */
  secret: string | null
}

/**
 * `<base>/msg/<id>#<secret>` as printed by `missive send` and the page. A bare id is accepted
 * too, with `fallbackBase` (--url or MISSIVE_URL), for `delete`.
 */
export function parseLink (text: string, fallbackBase: string): Link {
  const trimmed = text.trim()
  if (ID.test(trimmed)) return { base: fallbackBase, id: trimmed, secret: null }
  let url: URL
  try {
    url = new URL(trimmed)
  } catch {
    throw usage('the link is not a URL: give the whole link, <server>/msg/<id>#<key>')
  }
  const match = /^(.*)\/msg\/([^/]+)\/?$/.exec(url.pathname)
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || match === null) throw usage('not a Missive link: expected <server>/msg/<id>#<key>')
  const id = match[2] ?? ''
  if (!ID.test(id)) throw usage('the id in the link is incomplete: 22 characters expected after /msg/')
  const fragment = url.hash.replace(/^#/, '')
  if (fragment !== '' && !new RegExp(`^[A-Za-z0-9_-]{${SECRET_CHARS}}$`).test(fragment)) {
    throw usage(`the key in the link (after #) is incomplete: ${SECRET_CHARS} characters expected, got ${fragment.length}`)
  }
  return { base: url.origin + (match[1] ?? ''), id, secret: fragment === '' ? null : fragment }
}
