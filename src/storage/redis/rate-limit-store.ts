import type { Cluster, Redis } from 'ioredis'
import { withScripts } from './scripted.js'

/**
 * Rate-limit counters shared through Redis, without a Redis round trip on most requests.
 *
 * Each instance counts a client's requests locally while the client has used less than
 * half of its budget (as last seen in Redis), and adds them to the shared counter in Redis
 * every `syncIntervalMs`. In the second half of the budget every request is counted in
 * Redis, one by one, before it is answered, so the 429 decision is made on the shared count.
 *
 * Error bound: with one instance the count is exact. With N instances, a client can get
 * past its limit only by what the instances admit from it in local mode within one sync
 * interval before any of them sees the shared count pass half the budget: at most
 * max + N · r · syncInterval for a client sending r requests per second to each instance
 * (with the 100 ms default and r = 100/s, two extra requests per instance).
 */
const countScript = `
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {count, ttl}`

interface Counter {
  /** the shared count as Redis last reported it (this instance's flushed requests included) */
  shared: number
  /** requests counted here and not yet added to Redis */
  local: number
  /** requests on their way to Redis */
  inflight: number
  resetAt: number
  windowMs: number
}

type CountingClient = (Redis | Cluster) & {
  missiveRateCount: (key: string, increment: number, windowMs: number) => Promise<[number, number]>
}

type Result = { current: number, ttl: number }
type Callback = (err: Error | null, result?: Result) => void

/** The counters of one process; the stores @fastify/rate-limit makes (one per route) share it. */
export class SharedCounters {
  private readonly counters = new Map<string, Counter>()
  private readonly timer: NodeJS.Timeout
  private readonly redis: CountingClient

  constructor (redis: Redis | Cluster, private readonly syncIntervalMs = 100, private readonly maxEntries = 100_000) {
    this.redis = withScripts(redis, { missiveRateCount: { numberOfKeys: 1, lua: countScript } })
    this.timer = setInterval(() => { this.sync() }, syncIntervalMs).unref()
  }

  incr (key: string, callback: Callback, windowMs: number, max: number): void {
    const now = Date.now()
    let counter = this.counters.get(key)
    if (counter === undefined || counter.resetAt <= now) {
      counter = { shared: 0, local: 0, inflight: 0, resetAt: now + windowMs, windowMs }
      this.remember(key, counter)
      // A window's first request here learns the shared count before answering.
      this.countInRedis(key, counter, callback)
      return
    }
    const seen = counter.shared + counter.inflight + counter.local
    if ((seen + 1) * 2 > max) {
      this.countInRedis(key, counter, callback)
      return
    }
    counter.local += 1
    callback(null, { current: seen + 1, ttl: counter.resetAt - now })
  }

  /** Adds what is pending plus this request to Redis, and answers with the shared count. */
  private countInRedis (key: string, counter: Counter, callback: Callback): void {
    counter.local += 1
    this.push(key, counter).then(({ count, ttl }) => {
      // Redis orders the increments: `count` is this request's place in the window.
      callback(null, { current: count, ttl })
    }, (err: Error) => { callback(err) })
  }

  /**
   * Moves the counter's local requests to Redis and learns the shared count. On failure
   * they go back to `local` for the next sync (the limiter lets the request through).
   */
  private async push (key: string, counter: Counter): Promise<{ count: number, ttl: number }> {
    const increment = counter.local
    counter.local = 0
    counter.inflight += increment
    try {
      const [count, ttl] = await this.redis.missiveRateCount(key, increment, counter.windowMs)
      counter.shared = Math.max(counter.shared, count)
      counter.resetAt = Date.now() + ttl
      return { count, ttl }
    } catch (err) {
      counter.local += increment
      throw err
    } finally {
      counter.inflight -= increment
    }
  }

  /** Pushes the locally counted requests to Redis and drops finished windows. */
  sync (): void {
    const now = Date.now()
    for (const [key, counter] of this.counters) {
      if (counter.local > 0) {
        this.push(key, counter).catch(() => {})
      } else if (counter.resetAt <= now && counter.inflight === 0) {
        this.counters.delete(key)
      }
    }
  }

  close (): void {
    clearInterval(this.timer)
    this.sync()
  }

  private remember (key: string, counter: Counter): void {
    this.counters.delete(key)
    this.counters.set(key, counter)
    // Bounded memory under many distinct clients: forget the oldest windows first.
    if (this.counters.size > this.maxEntries) {
      for (const [oldest, entry] of this.counters) {
        if (this.counters.size <= this.maxEntries) break
        if (entry.local === 0 && entry.inflight === 0) this.counters.delete(oldest)
      }
    }
  }
}

/**
 * A store class in the shape @fastify/rate-limit expects (`store` option): the plugin makes
 * one, and one child per route, whose keys carry the route.
 */
export function sharedRateLimitStore (counters: SharedCounters, prefix: string): new () => object {
  class SharedRateLimitStore {
    private readonly keyPrefix: string

    // The plugin constructs the store with its own options (ignored here): the prefix is ours.
    constructor (_pluginOptions?: unknown, keyPrefix: string = prefix) {
      this.keyPrefix = keyPrefix
    }

    incr (key: string, callback: Callback, timeWindow: number, max: number): void {
      counters.incr(this.keyPrefix + key, callback, timeWindow, max)
    }

    /** A shared limiter's store (named by its groupId), or a route's (its keys carry the route). */
    child (routeOptions: { groupId?: string, routeInfo?: { method?: string, url?: string } }): SharedRateLimitStore {
      const route = routeOptions.routeInfo
      const name = routeOptions.groupId ?? `${route?.method ?? ''}${route?.url ?? ''}`
      return new SharedRateLimitStore(undefined, `${this.keyPrefix}${name}-`)
    }
  }
  return SharedRateLimitStore as new () => SharedRateLimitStore
}
