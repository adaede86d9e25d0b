import cors from '@fastify/cors'
import fp from 'fastify-plugin'

/**
 * CORS for the exact origins in CORS_ORIGINS and nobody else: an origin not on the list
 * gets no Access-Control-* header at all (a static list would still leak the method and
 * header lists on preflights). No credentials: callers authenticate with headers, so `*`
 * and credentials can never meet. Preflights from other origins, and OPTIONS without CORS
 * headers, fall through to plugins/method-not-allowed.ts (204 with Allow, no CORS header).
 */
export default fp(async function corsPolicy (app) {
  // With no origin allowed (the default) there is nothing to answer and no response varies
  // by origin: the plugin's per-request work is skipped altogether.
  if (app.config.corsOrigins.length === 0) return
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
