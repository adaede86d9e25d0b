import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import pino from 'pino'
import { errorResponses, StatusSchema } from '../schemas/common.js'

/** Liveness and readiness (API.md section 3): never rate-limited, quiet in the logs. */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Probes come every few seconds: log them only at warn, or quieter if LOG_LEVEL says so.
  const configured = app.config.LOG_LEVEL
  const logLevel = (pino.levels.values[configured] ?? Infinity) > (pino.levels.values.warn ?? 40) || configured === 'silent' ? configured : 'warn'

  app.get('/health', {
    logLevel,
    schema: { summary: 'The process is running', response: { 200: StatusSchema, ...errorResponses() } }
  }, async () => ({ status: 'ok' }))

  app.get('/ready', {
    logLevel,
    schema: { summary: 'The store answers', response: { 200: StatusSchema, ...errorResponses(503) } }
  }, async () => {
    await app.messageStore.ping()
    return { status: 'ready' }
  })
}

export default healthRoutes
