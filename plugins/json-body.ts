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
}, { name: 'json-body', dependencies: ['config'] })

function isValidJson (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}
