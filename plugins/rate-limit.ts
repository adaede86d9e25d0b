import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { RateLimited } from '../src/errors.js'
import { SharedCounters, sharedRateLimitStore } from '../src/storage/redis/rate-limit-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the limiters' settings (`config.rateLimit` of POST /, and the shared limiters below) */
    limits: {
      /** POST /: RATE_LIMIT_CREATE_MAX per client IP per window */
      create: RateLimitOptions
      /** reads, deletes, 404s and 405s: RATE_LIMIT_READ_MAX per client IP per window */
      read: RateLimitOptions
      /** /api/v1: the key's own rateLimit or RATE_LIMIT_API_MAX per keyId per window (after authentication) */
      api: RateLimitOptions
    }
    /**
     * One limiter (an onRequest hook) for every anonymous read route and the 404/405
     * handler: RATE_LIMIT_READ_MAX is one budget per client IP across all of them
     * (API.md section 5), not one per route.
     */
    readLimit: onRequestAsyncHookHandler
  }
}

/**
 * @fastify/rate-limit with its counters shared through Redis when Redis is configured, so
 * every instance sees them (src/storage/redis/rate-limit-store.ts: counted locally in the
 * first half of a client's budget and synced every 100 ms, counted in Redis one by one in
 * the second half; exact on one instance). Without Redis, the plugin's in-process store. Limits are opt-in per route (global: false): /health and /ready
 * never take one. If Redis fails mid-request the limiter lets the request through
 * (skipOnError) and the route itself answers 503: an outage never turns into 500s.
 */
export default fp(async function rateLimitPlugin (app) {
  const { config, redisClient } = app
  let store = {}
  if (redisClient !== null) {
    const counters = new SharedCounters(redisClient)
    app.addHook('onClose', async () => { counters.close() })
    store = { store: sharedRateLimitStore(counters, 'rl:') }
  }
  await app.register(rateLimit, {
    global: false,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    ...store,
    skipOnError: true,
    errorResponseBuilder: (_request, context) => new RateLimited(context.after)
  })

  // The plugin's own key for these: the client IP, an IPv6 client's /64 network as one
  // client (one host owns many addresses). It also skips an await a custom key generator costs.
  const perIp = (max: number): RateLimitOptions => ({ max, timeWindow: config.RATE_LIMIT_WINDOW_MS })
  // groupId names a shared limiter's counters in the store (rl:read-<ip>, rl:api-key:<id>).
  const limits = {
    create: perIp(config.RATE_LIMIT_CREATE_MAX),
    read: { ...perIp(config.RATE_LIMIT_READ_MAX), groupId: 'read' },
    // Counted per key, whichever credential carries it: a key and its tokens share one budget.
    api: {
      groupId: 'api',
      max: (request) => request.principal?.rateLimit ?? config.RATE_LIMIT_API_MAX,
      timeWindow: config.RATE_LIMIT_WINDOW_MS,
      keyGenerator: (request: FastifyRequest) => request.principal === null ? `ip:${request.ip}` : `key:${request.principal.keyId}`
    }
  } satisfies FastifyInstance['limits']
  app.decorate('limits', limits)
  app.decorate('readLimit', app.rateLimit(limits.read) as onRequestAsyncHookHandler)
}, { name: 'rate-limit', dependencies: ['config', 'storage'] })
