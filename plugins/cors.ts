import cors from '@fastify/cors'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** sets the CORS headers of a non-preflight response where the plugin's hook did not run */
    corsHeadersOutsideHooks: (request: FastifyRequest, reply: FastifyReply) => void
  }
}

/**
 * CORS for the exact origins in CORS_ORIGINS and nobody else: an origin not on the list
 * gets no Access-Control-* header at all (a static list would still leak the method and
 * header lists on preflights). No credentials: callers authenticate with headers, so `*`
 * and credentials can never meet.
 *
 * The plugin only adds headers: every OPTIONS request, preflight or not, is then answered
 * by plugins/method-not-allowed.ts, so a preflight to a known path gets 204 with `Allow`
 * (and the CORS headers when its origin is listed), and one to an unknown path gets the
 * 404 error body like any request there. (Left to itself, @fastify/cors answers 204 to a
 * preflight on any path, and a text/plain 400 to an OPTIONS from a listed origin without
 * Access-Control-Request-Method.)
 */
export default fp(async function corsPolicy (app) {
  const allowed = new Set(app.config.corsOrigins)
  // WWW-Authenticate and Accept-Signature: a browser client of DPoP or signatures must read why it was refused.
  const exposedHeaders = ['Location', 'Retry-After', 'X-Request-Id', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'WWW-Authenticate', 'Accept-Signature']
  // With no origin allowed (the default) there is nothing to answer and no response varies
  // by origin: the plugin's per-request work is skipped altogether.
  if (allowed.size === 0) {
    app.decorate('corsHeadersOutsideHooks', () => {})
    return
  }
  // The headers the plugin gives a response that is not a preflight, for the one answer
  // no hook sees (a URL Fastify cannot decode, plugins/method-not-allowed.ts). A test
  // checks they are the plugin's own, header for header.
  app.decorate('corsHeadersOutsideHooks', (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('vary', 'Origin')
    const origin = request.headers.origin
    if (origin === undefined || !allowed.has(origin)) return
    reply.header('access-control-allow-origin', origin).header('access-control-expose-headers', exposedHeaders.join(', '))
  })
  // The plugin's catch-all OPTIONS route would answer every path itself: it hands every
  // OPTIONS request to the not-found handler instead.
  app.addHook('onRoute', (route) => {
    if (route.method === 'OPTIONS' && route.url === '*') route.handler = function delegate (_request, reply) { reply.callNotFound() }
  })
  await app.register(cors, {
    origin: (origin, callback) => { callback(null, origin !== undefined && allowed.has(origin)) },
    credentials: false,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    // DPoP, Signature, Signature-Input, Content-Digest: the proof-of-possession headers (API.md section 7)
    allowedHeaders: ['Content-Type', 'Authorization', 'X-API-Key', 'X-Delete-Token', 'DPoP', 'Signature', 'Signature-Input', 'Content-Digest'],
    exposedHeaders,
    maxAge: 600,
    preflightContinue: true,
    strictPreflight: false
  })
}, { name: 'cors', dependencies: ['config', 'policy'] })
