import fp from 'fastify-plugin'
import { bodyEncodingError } from '../src/body-encoding.js'
import { ForbiddenJsonKey, InvalidUtf8Body } from '../src/errors.js'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * JSON bodies are decoded as strict UTF-8. Fastify's own parser decodes leniently: invalid
 * bytes became U+FFFD, so a message's content was silently changed instead of refused
 * (API.md: content is UTF-8, stored byte for byte). Invalid UTF-8 is now a 400, another
 * charset or a Content-Encoding a 415; the parsing itself stays Fastify's, with its
 * prototype-poisoning checks (rejected, as configured).
 *
 * Registered after the proof plugin: a body with a Content-Digest is checked here, against
 * the bytes, before it is parsed (API.md section 7).
 */
export default fp(async function jsonBody (app) {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const unreadable = bodyEncodingError(request.headers)
    if (unreadable !== null) {
      done(unreadable, undefined)
      return
    }
    // RFC 9530: a Content-Digest is checked against the bytes before they are parsed (a signed
    // request covers the header, this ties it to the body). No header, no work.
    if (request.headers['content-digest'] !== undefined) {
      const mismatch = app.proof.bodyDigestError(request, body as Buffer)
      if (mismatch !== null) {
        done(mismatch, undefined)
        return
      }
    }
    let text: string
    try {
      text = strictUtf8.decode(body as Buffer)
    } catch {
      done(new InvalidUtf8Body(), undefined)
      return
    }
    parseJson(request, text, (err, parsed) => {
      // Fastify says "not valid JSON" for a poisoned body too; when it is valid JSON, say why.
      if (err !== null && isValidJson(text)) done(new ForbiddenJsonKey(), undefined)
      else done(err, parsed)
    })
  })

  // Fastify's own text/plain parser, plus the same Content-Digest check: a signed text body
  // on any route (one that ignores it included) is checked like a JSON one. Routes with
  // their own text/plain parser (POST /) replace this one in their context.
  app.removeContentTypeParser('text/plain')
  app.addContentTypeParser('text/plain', { parseAs: 'buffer' }, (request, body, done) => {
    if (request.headers['content-digest'] !== undefined) {
      const mismatch = app.proof.bodyDigestError(request, body as Buffer)
      if (mismatch !== null) {
        done(mismatch, undefined)
        return
      }
    }
    done(null, (body as Buffer).toString('utf8'))
  })
}, { name: 'json-body', dependencies: ['config', 'proof'] })

function isValidJson (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}
