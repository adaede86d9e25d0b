import fp from 'fastify-plugin'
import { InvalidUtf8Body } from '../src/errors.js'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * JSON bodies are decoded as strict UTF-8. Fastify's own parser decodes leniently: invalid
 * bytes became U+FFFD, so a message's content was silently changed instead of refused
 * (API.md: content is UTF-8, stored byte for byte). Invalid UTF-8 is now a 400; the parsing
 * itself stays Fastify's, with its prototype-poisoning checks (rejected, as configured).
 */
export default fp(async function jsonBody (app) {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string
    try {
      text = strictUtf8.decode(body as Buffer)
    } catch {
      done(new InvalidUtf8Body(), undefined)
      return
    }
    parseJson(request, text, done)
  })
}, { name: 'json-body', dependencies: ['config'] })
