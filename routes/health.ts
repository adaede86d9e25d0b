import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errorResponses, StatusSchema } from '../schemas/common.js'

/** Liveness and readiness (API.md section 3): never rate-limited, quiet in the logs. */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', {
    logLevel: 'warn',
    schema: { summary: 'The process is running', response: { 200: StatusSchema } }
  }, async () => ({ status: 'ok' }))

  app.get('/ready', {
    logLevel: 'warn',
    schema: { summary: 'The store answers', response: { 200: StatusSchema, ...errorResponses(503) } }
  }, async () => {
    await app.messageStore.ping()
    return { status: 'ready' }
  })
}

export default healthRoutes
