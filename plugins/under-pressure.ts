import createError from '@fastify/error'
import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import { AdaptiveLimits } from '../src/abuse/adaptive.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the factor the anonymous rate limits are scaled by under pressure (src/abuse/adaptive.ts) */
    adaptiveLimits: AdaptiveLimits
  }
}

// SERVICE_UNAVAILABLE is a code the error handler shows as is (it names nothing internal),
// so the client gets the standard body with a message it can act on.
export const Overloaded = createError('SERVICE_UNAVAILABLE', 'The server is overloaded, try again shortly', 503)

export interface UnderPressureOptions {
  /** mean event-loop delay (ms) over one sample above which requests get 503 */
  maxEventLoopDelay?: number
  /** how often (ms) the event-loop delay is measured */
  sampleInterval?: number
  /** seconds sent in Retry-After */
  retryAfter?: number
}

/**
 * When the event loop is saturated, answer 503 with Retry-After at once instead of
 * letting every request time out. /health stays 200 (it means "the process runs", and a
 * busy process must not be restarted for being busy); /ready does answer 503, which takes
 * an overloaded instance out of a load balancer until it recovers.
 */
export default fp<UnderPressureOptions>(async function underPressurePlugin (app, options) {
  const retryAfter = options.retryAfter ?? 5
  const maxEventLoopDelay = options.maxEventLoopDelay ?? 1000
  const sampleInterval = options.sampleInterval ?? 1000
  // The delay measured while the app boots (plugins, schema compilation: a second or more of
  // synchronous work on a busy machine) is the boot, not load: a fresh instance must not shed
  // its first requests, nor fail its first /ready, for it. under-pressure measures from its
  // registration and cannot be reset, and the sample holding the boot can be the current one
  // until two sample intervals after ready (one to be taken, one to be replaced), so pressure
  // counts from then on. Real overload within those first seconds goes unshed: a new instance
  // receives traffic gradually, a load balancer waits for /ready first.
  let pressureCountsFrom = Infinity
  app.addHook('onReady', async () => { pressureCountsFrom = Date.now() + 2 * sampleInterval })
  await app.register(underPressure, {
    maxEventLoopDelay,
    sampleInterval,
    retryAfter,
    // Thrown from here (not under-pressure's default error) so the one error handler
    // writes the body of API.md.
    pressureHandler: async (request, reply) => {
      if (request.routeOptions.url === '/health' || Date.now() < pressureCountsFrom) return
      reply.header('retry-after', String(retryAfter))
      throw new Overloaded()
    }
  })

  // Adaptive limits read the same signal, below the point where requests get 503: a timer,
  // no work per request (the rate limiter reads the factor, a field).
  const adaptiveLimits = new AdaptiveLimits()
  app.decorate('adaptiveLimits', adaptiveLimits)
  const sampler = setInterval(() => {
    if (Date.now() < pressureCountsFrom) return
    adaptiveLimits.observe(app.memoryUsage().eventLoopDelay / maxEventLoopDelay)
  }, sampleInterval).unref()
  app.addHook('onClose', async () => { clearInterval(sampler) })
}, { name: 'under-pressure', dependencies: ['config', 'error-handler'] })
