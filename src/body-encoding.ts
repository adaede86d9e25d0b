import type { IncomingHttpHeaders } from 'node:http'
import { UnsupportedCharset, UnsupportedContentEncoding } from './errors.js'

// A charset parameter, bare or quoted (RFC 9110 §8.3.1), anywhere among the parameters.
const CHARSET_PARAMETER = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i
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
  const charset = CHARSET_PARAMETER.exec(headers['content-type'] ?? '')
  if (charset !== null) {
    const name = charset[1] ?? charset[2] ?? ''
    if (!UTF8.test(name)) return new UnsupportedCharset(name)
  }
  return null
}
