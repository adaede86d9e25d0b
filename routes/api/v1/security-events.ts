import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CredentialHeadersSchema, eitherCredential } from '../../../schemas/auth.js'
import { errorResponses } from '../../../schemas/common.js'
import { SecurityEventPageSchema, SecurityEventsQuerySchema } from '../../../schemas/security-events.js'

/** The security event feed (API.md section 8), for a SIEM to pull with `after`. */
const securityEventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/security/events', {
    onRequest: app.authorize('security:admin'),
    schema: {
      summary: 'The last SECURITY_EVENTS_MAX security events, oldest first, a page at a time',
      description: 'Auth failures, lockouts, replayed proofs, key, signing-key and policy changes, blocks. Never a secret. ' +
        'Poll with `after` = the last id seen; `next` is set while more events follow the page.',
      tags: ['security'],
      security: eitherCredential('security:admin'),
      headers: CredentialHeadersSchema,
      querystring: SecurityEventsQuerySchema,
      response: { 200: SecurityEventPageSchema, ...errorResponses(400, 401, 403, 429, 503, 507) }
    }
  }, async (request) => {
    const { after, limit } = request.query
    // a malformed `after` is InvalidEventCursor (400), checked before the store is asked
    return await app.eventLog.list(after ?? null, limit ?? 100)
  })
}

export default securityEventRoutes
