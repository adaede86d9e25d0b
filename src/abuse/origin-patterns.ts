import { isIP } from 'node:net'
import { parse } from 'tldts'

/**
 * The origins allowed to read answers cross-origin (CORS_ORIGINS and the runtime policy's
 * `corsOrigins`, API.md sections 5 and 8): exact origins and one-label subdomain wildcards.
 *
 * Decisions:
 * - An exact entry is written as a browser sends it in `Origin`: `new URL(entry).origin === entry`,
 *   http or https. A host in capitals, in Unicode or with the scheme's default port is refused
 *   (not normalised), with the form to write instead: the entries are shown back as they were
 *   given (config.corsOrigins, GET /api/v1/security/policy), so what is shown is what matches.
 * - A wildcard entry is `scheme://*.rest[:port]`: one `*`, the whole leftmost label. It matches
 *   exactly one DNS label, over that scheme and that port only (the scheme's default port when
 *   the entry has none): `https://*.example.com` allows `https://a.example.com`, not
 *   `https://example.com`, `https://a.b.example.com`, `http://a.example.com` nor look-alikes.
 * - `rest` must be a registrable domain or below one, by the Public Suffix List (tldts, private
 *   suffixes included): `*.com`, `*.co.uk`, `*.github.io` are refused; so are IP addresses and
 *   single-label hosts (`*.localhost`). The wildcard may cover http too: the operator says so.
 * - Refused outright: `*`, `null`, a path (even `/`), a query, a fragment, user info, whitespace,
 *   an empty entry, more than MAX_ORIGIN_ENTRIES entries, an entry over MAX_ORIGIN_ENTRY_CHARS.
 * - Duplicates are harmless: kept in `entries` as given, matched once.
 * - Credentials are not this module's business: the CORS plugin never allows them.
 */

export const MAX_ORIGIN_ENTRIES = 100
/** `https://` + a 253-character host + `:65535` */
export const MAX_ORIGIN_ENTRY_CHARS = 'https://'.length + 253 + ':65535'.length

/** One DNS label as a browser sends it: lowercase letters, digits, inner hyphens, 1 to 63 characters. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const EXAMPLES = 'an exact origin (https://app.example.com) or one subdomain wildcard (https://*.example.com)'
/** stands for the `*` while the rest of a wildcard entry is parsed as a URL */
const PROBE = 'wildcard-probe'

/** An entry that cannot be accepted: the message (one line) names the entry and says why (for a 400 or a ConfigError). */
export class OriginPatternError extends Error {
  constructor (readonly entry: string, readonly index: number, reason: string) {
    super(`${show(entry)} ${reason}`)
    this.name = 'OriginPatternError'
  }
}

/** The compiled list, for the per-request check. */
export interface OriginMatcher {
  /** the entries as given */
  readonly entries: readonly string[]
  /** no entry: no origin is ever allowed (and the CORS plugin does nothing) */
  readonly empty: boolean
  /** whether the `Origin` header's value may read the answer; false for undefined and "null" */
  allows: (origin: string | undefined) => boolean
}

/** Validates and compiles `entries`; throws OriginPatternError on the first bad entry. */
export function compileOriginPatterns (entries: readonly string[]): OriginMatcher {
  if (entries.length > MAX_ORIGIN_ENTRIES) {
    const index = MAX_ORIGIN_ENTRIES
    throw new OriginPatternError(String(entries[index]), index, `is origin number ${index + 1} of ${entries.length}: at most ${MAX_ORIGIN_ENTRIES} origins may be listed`)
  }
  const exact = new Set<string>()
  // A wildcard `https://*.example.com:8443` is kept as `https://` + `.example.com:8443`: an
  // origin matches when the same key is what is left once its first label is cut out.
  const wildcards = new Set<string>()
  entries.forEach((entry, index) => {
    const parsed = parseEntry(entry, index)
    if (parsed.wildcard) wildcards.add(parsed.key)
    else exact.add(parsed.key)
  })
  return new Matcher(Object.freeze([...entries]), exact, wildcards)
}

class Matcher implements OriginMatcher {
  readonly empty: boolean

  constructor (readonly entries: readonly string[], private readonly exact: ReadonlySet<string>, private readonly wildcards: ReadonlySet<string>) {
    this.empty = entries.length === 0
    Object.freeze(this)
  }

  allows (origin: string | undefined): boolean {
    if (origin === undefined) return false
    if (this.exact.has(origin)) return true
    if (this.wildcards.size === 0) return false
    const hostStart = origin.indexOf('://') + 3
    if (hostStart === 2) return false
    const labelEnd = origin.indexOf('.', hostStart)
    if (labelEnd === -1) return false
    return this.wildcards.has(origin.slice(0, hostStart) + origin.slice(labelEnd)) && LABEL.test(origin.slice(hostStart, labelEnd))
  }
}

interface ParsedEntry { wildcard: boolean, key: string }

function parseEntry (entry: string, index: number): ParsedEntry {
  if (typeof entry !== 'string') throw new OriginPatternError(String(entry), index, `is not a string: each entry is ${EXAMPLES}`)
  const refuse = (reason: string): never => { throw new OriginPatternError(entry, index, reason) }
  if (entry === '') refuse(`is empty: each entry is ${EXAMPLES}`)
  if (entry.length > MAX_ORIGIN_ENTRY_CHARS) refuse(`is ${entry.length} characters long: an origin has at most ${MAX_ORIGIN_ENTRY_CHARS}`)
  if (/\s/.test(entry)) refuse('contains whitespace')
  if (entry === '*') refuse(`is a bare wildcard: it would let every site read the answers; list ${EXAMPLES}`)
  if (entry.toLowerCase() === 'null') refuse('is the "null" origin, shared by sandboxed frames, file: pages and redirects: it can never be allowed')

  const schemeEnd = entry.indexOf('://')
  if (schemeEnd === -1) refuse(`is not an origin: each entry is ${EXAMPLES}`)
  const scheme = entry.slice(0, schemeEnd)
  if (scheme.includes('*')) refuse('puts the wildcard in the scheme: only the whole leftmost label of the host may be "*" (https://*.example.com)')
  if (scheme !== 'http' && scheme !== 'https') {
    if (/^https?$/i.test(scheme)) refuse(`is not written as browsers send origins: write "${scheme.toLowerCase()}${entry.slice(schemeEnd)}" in lowercase`)
    refuse('must use http or https')
  }

  const authority = entry.slice(schemeEnd + 3)
  const pathAt = authority.search(/[/?#\\]/)
  if (pathAt !== -1) {
    const what = authority[pathAt] === '?' ? 'a query' : authority[pathAt] === '#' ? 'a fragment' : `a path ("${authority.slice(pathAt)}")`
    refuse(`has ${what}: an origin is only scheme://host[:port], with no trailing slash`)
  }
  if (authority.includes('@')) refuse('has user info: an origin is only scheme://host[:port]')
  if (!authority.includes('*')) return { wildcard: false, key: exactOrigin(entry, refuse) }

  // A wildcard: exactly one "*", the whole leftmost label.
  if (authority.indexOf('*') !== authority.lastIndexOf('*')) refuse('has more than one wildcard: only the whole leftmost label may be "*" (https://*.example.com)')
  if (!authority.startsWith('*.')) refuse('puts the wildcard somewhere other than the whole leftmost label: only https://*.example.com is allowed')
  const hostAndPort = authority.slice(2)
  const portAt = hostAndPort.startsWith('[') ? hostAndPort.indexOf(':', hostAndPort.indexOf(']')) : hostAndPort.lastIndexOf(':')
  const rest = portAt === -1 ? hostAndPort : hostAndPort.slice(0, portAt)
  if (rest.startsWith('[') || isIP(rest) !== 0 || /^[0-9.]+$/.test(rest)) refuse('puts the wildcard over an IP address: list the exact origin instead')
  if (!rest.includes('.')) {
    // `*.com` is a public suffix of the list; `*.localhost`, `*.internal` only of its default rule
    const { isIcann, isPrivate } = parse(rest, { allowPrivateDomains: true })
    if (isIcann === true || isPrivate === true) refuse(publicSuffixReason(rest))
    refuse(`puts the wildcard over the single-label host "${rest}": only a registrable domain (example.com) or a name under one may follow "*."`)
  }

  let url: URL
  try {
    url = new URL(`${scheme}://${PROBE}.${hostAndPort}`)
  } catch {
    return refuse(`is not a valid origin pattern: each entry is ${EXAMPLES}`)
  }
  const canonicalRest = url.hostname.slice(PROBE.length + 1)
  const port = url.port === '' ? '' : `:${url.port}`
  if (url.origin !== `${scheme}://${PROBE}.${hostAndPort}`) {
    refuse(`is not written as browsers send origins (lowercase host, punycode, no default port): write "${scheme}://*.${canonicalRest}${port}"`)
  }
  if (rest.length > 253 - 2 || !rest.split('.').every((label) => LABEL.test(label))) {
    refuse(`has a host that is not a DNS name: each label of "${rest}" is letters, digits and inner hyphens`)
  }
  const { publicSuffix, domain } = parse(rest, { allowPrivateDomains: true })
  if (publicSuffix === rest) refuse(publicSuffixReason(rest))
  if (domain === null) refuse(`puts the wildcard on "${rest}", which is not a registrable domain under a public suffix`)
  return { wildcard: true, key: `${scheme}://.${rest}${port}` }
}

/** An exact entry as browsers send it in Origin, or a refusal saying what to write. */
function exactOrigin (entry: string, refuse: (reason: string) => never): string {
  let url: URL
  try {
    url = new URL(entry)
  } catch {
    return refuse(`is not an origin: each entry is ${EXAMPLES}`)
  }
  if (url.origin !== entry) {
    refuse(`is not written as browsers send origins (lowercase host, punycode, no default port): write "${url.origin}"`)
  }
  return entry
}

function publicSuffixReason (suffix: string): string {
  return `puts the wildcard on a public suffix (${suffix}): it would match every site under it`
}

function show (entry: string): string {
  return JSON.stringify(entry.length > 80 ? `${entry.slice(0, 80)}…` : entry)
}
