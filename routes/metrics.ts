import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { CredentialHeadersSchema, eitherCredential } from '../schemas/auth.js'
import { errorResponses } from '../schemas/common.js'

/** GET /metrics (API.md section 3): Prometheus text format, for credentials with metrics:read. */
const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/metrics', {
    onRequest: app.authorize('metrics:read'),
    logLevel: 'warn',
    exposeHeadRoute: false,
    schema: {
      summary: 'Prometheus metrics',
      tags: ['operations'],
      security: eitherCredential('metrics:read'),
      headers: CredentialHeadersSchema,
      response: {
        200: { content: { 'text/plain': { schema: Type.String({ description: 'Prometheus text exposition format' }) } } },
        ...errorResponses(401, 403, 429, 503)
      }
    },
    config: { disableMetrics: true }
  }, async (_request, reply) => {
    const registry = app.metricsRegistry
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}

export default metricsRoutes
