import type { IncomingHttpHeaders } from 'node:http'
import { safeParse } from 'fast-content-type-parse'
import { UnsupportedCharset, UnsupportedContentEncoding } from './errors.js'

const UTF8 = /^utf-?8$/i
const IDENTITY = /^\s*identity\s*$/i

/**
 * Why a request body's bytes cannot be read as they are, or null when they can.
 *
 * Content is stored byte for byte as UTF-8 (API.md), so a body must be UTF-8 and not
 * compressed. Node does not decode either: a gzip body would be stored as its compressed
 * bytes (or fail as JSON), and UTF-16 would be read as UTF-8. Both are refused with 415
 * instead, which says what to send. Called by the body parsers, so only requests with a
 * body pay for it.
 */
export function bodyEncodingError (headers: IncomingHttpHeaders): Error | null {
  const coding = headers['content-encoding']
  if (coding !== undefined && !IDENTITY.test(coding)) return new UnsupportedContentEncoding(coding)
  // Without a ';' the type has no parameters, so no charset: the common case skips the parse.
  const type = headers['content-type']
  if (type === undefined || !type.includes(';')) return null
  // (parameters parsed as RFC 9110 says: names in any case, values bare or quoted)
  const charset = safeParse(type).parameters.charset
  if (charset !== undefined && !UTF8.test(charset)) return new UnsupportedCharset(charset)
  return null
}
