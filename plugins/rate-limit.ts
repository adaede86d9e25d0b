import { createRequire } from 'node:module'
import rateLimit, { type RateLimitOptions, type RateLimitPluginOptions } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { scaledBudget } from '../src/abuse/adaptive.js'
import type { RateLimitPolicy } from '../src/abuse/policy.js'
import { RateLimited } from '../src/errors.js'
import { SharedCounters, sharedRateLimitStore } from '../src/storage/redis/rate-limit-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the limiters' settings (`config.rateLimit` of POST /, and the shared limiters below) */
    limits: {
      /** POST /: the policy's create budget (RATE_LIMIT_CREATE_MAX) per client IP per window, scaled under pressure */
      create: RateLimitOptions
      /** reads, deletes, 404s and 405s: the policy's read budget (RATE_LIMIT_READ_MAX) per client IP per window, scaled under pressure */
      read: RateLimitOptions
      /** /api/v1: the key's own rateLimit or the policy's api budget (RATE_LIMIT_API_MAX) per keyId per window (after authentication) */
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

/** where a limiter's options keep the synchronous readers of its live values (see LiveLimitStore) */
const LIVE = Symbol('missive.liveLimits')
interface LiveLimits {
  readonly max?: () => number
  readonly timeWindow: () => number
}
interface InnerStore {
  incr: (key: string, callback: (err: Error | null, result?: { current: number, ttl: number }) => void, timeWindow: number, max: number) => void
  child: (params: object) => object
}

/** A limiter whose max and window follow the runtime policy, read per request (see LiveLimitStore). */
function liveLimiter (live: LiveLimits, rest: Partial<RateLimitOptions> = {}): RateLimitOptions {
  return Object.assign({ max: live.max, timeWindow: live.timeWindow, ...rest }, { [LIVE]: live }) as RateLimitOptions
}

/**
 * The root store the plugin makes, which hands each limiter its store (`child`): the place
 * where the plugin shows the very parameters object its hook reads per request. There the
 * limiter's `max` and `timeWindow` functions become getters: the hook's
 * `typeof params.max === 'number' ? params.max : await params.max(req, key)` then reads the
 * policy in force synchronously (a field read and a multiplication), instead of awaiting a
 * function twice per request. Should a later @fastify/rate-limit not pass that object, the
 * functions stay and are awaited: slower by two microtasks, never wrong.
 */
function liveLimitStore (makeInner: (options: unknown) => InnerStore): new (options: unknown) => InnerStore {
  return class LiveLimitStore implements InnerStore {
    private readonly inner: InnerStore

    constructor (options: unknown) {
      this.inner = makeInner(options)
    }

    incr (key: string, callback: Parameters<InnerStore['incr']>[1], timeWindow: number, max: number): void {
      this.inner.incr(key, callback, timeWindow, max)
    }

    child (params: object): object {
      const live = (params as { [LIVE]?: LiveLimits })[LIVE]
      if (live !== undefined) {
        if (live.max !== undefined) Object.defineProperty(params, 'max', { get: live.max, enumerable: true, configurable: true })
        Object.defineProperty(params, 'timeWindow', { get: live.timeWindow, enumerable: true, configurable: true })
      }
      return this.inner.child(params)
    }
  }
}

// A deep import and the getters above lean on @fastify/rate-limit's internals: package.json pins
// its exact version (no ^), so an upgrade is a deliberate change that runs these tests first.
const LocalStore = createRequire(import.meta.url)('@fastify/rate-limit/store/LocalStore.js') as new (continueExceeding: boolean, exponentialBackoff: boolean, cache?: number) => InnerStore

/**
 * @fastify/rate-limit with its counters shared through Redis when Redis is configured, so
 * every instance sees them (src/storage/redis/rate-limit-store.ts: counted locally in the
 * first half of a client's budget and synced every 100 ms, counted in Redis one by one in
 * the second half; exact on one instance). Without Redis, the plugin's in-process store. Limits are opt-in per route (global: false): /health and /ready
 * never take one. If Redis fails mid-request the limiter lets the request through
 * (skipOnError) and the route itself answers 503: an outage never turns into 500s.
 *
 * The budgets and the window are the runtime policy's (src/abuse/policy.ts), read per
 * request: a change applies to the next request. The anonymous budgets (create, read) are
 * scaled by the adaptive factor under pressure (src/abuse/adaptive.ts); the per-key budget
 * never is. A window already running keeps the length it started with.
 */
export default fp(async function rateLimitPlugin (app) {
  const { redisClient, policy, adaptiveLimits } = app
  let makeInner: (options: unknown) => InnerStore = () => new LocalStore(false, false)
  if (redisClient !== null) {
    const counters = new SharedCounters(redisClient)
    app.addHook('onClose', async () => { counters.close() })
    const Shared = sharedRateLimitStore(counters, 'rl:') as unknown as new (options: unknown) => InnerStore
    makeInner = (options) => new Shared(options)
  }
  const windowMs = (): number => policy.current().rateLimits.windowMs
  await app.register(rateLimit, {
    global: false,
    timeWindow: windowMs,
    store: liveLimitStore(makeInner) as unknown as RateLimitPluginOptions['store'],
    skipOnError: true,
    errorResponseBuilder: (_request, context) => new RateLimited(context.after)
  })

  // The plugin's own key for these: the client IP, an IPv6 client's /64 network as one
  // client (one host owns many addresses). It also skips an await a custom key generator costs.
  const anonymous = (budget: (limits: RateLimitPolicy) => number): LiveLimits => ({
    max: () => scaledBudget(budget(policy.current().rateLimits), adaptiveLimits.factor()),
    timeWindow: windowMs
  })
  // groupId names a shared limiter's counters in the store (rl:read-<ip>, rl:api-key:<id>).
  const limits = {
    create: liveLimiter(anonymous((limits) => limits.create)),
    read: liveLimiter(anonymous((limits) => limits.read), { groupId: 'read' }),
    // Counted per key, whichever credential carries it: a key and its tokens share one budget.
    // Its max depends on the request (the key's own rateLimit): a function, as before.
    api: liveLimiter({ timeWindow: windowMs }, {
      groupId: 'api',
      max: (request) => request.principal?.rateLimit ?? policy.current().rateLimits.api,
      keyGenerator: (request: FastifyRequest) => request.principal === null ? `ip:${request.ip}` : `key:${request.principal.keyId}`
    })
  } satisfies FastifyInstance['limits']
  app.decorate('limits', limits)
  app.decorate('readLimit', app.rateLimit(limits.read) as onRequestAsyncHookHandler)
}, { name: 'rate-limit', dependencies: ['config', 'storage', 'policy', 'under-pressure'] })
