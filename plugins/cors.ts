import cors from '@fastify/cors'
import fp from 'fastify-plugin'

/**
 * CORS for the exact origins in CORS_ORIGINS and nobody else: an origin not on the list
 * gets no Access-Control-* header at all (a static list would still leak the method and
 * header lists on preflights). No credentials: callers authenticate with headers, so `*`
 * and credentials can never meet.
 */
export default fp(async function corsPolicy (app) {
  const allowed = new Set(app.config.corsOrigins)
  await app.register(cors, {
    origin: (origin, callback) => { callback(null, origin !== undefined && allowed.has(origin)) },
    credentials: false,
    methods: ['GET', 'POST', 'DELETE'],
    allowedHeaders: ['Content-Type', 'Authorization', 'X-API-Key', 'X-Delete-Token'],
    exposedHeaders: ['Location', 'Retry-After', 'X-Request-Id', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
    maxAge: 600,
    strictPreflight: true
  })
}, { name: 'cors', dependencies: ['config'] })
