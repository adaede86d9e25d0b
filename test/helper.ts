import { Writable } from 'node:stream'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { type App, buildApp } from '../src/app.js'
import { type ConfigOverrides, loadConfig } from '../src/config.js'
import { RedisServer } from './helpers/redis-server.js'

let shared: Promise<RedisServer> | null = null

/** The test file's own redis-server, started on first use and stopped when the file ends. */
export async function testRedis (): Promise<RedisServer> {
  if (shared === null) {
    shared = RedisServer.start()
    const started = shared
    t.teardown(async () => { await (await started).destroy() })
  }
  return await shared
}

/** Empties the test Redis so each test starts from nothing (rate-limit counters included). */
export async function flushRedis (url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  await client.flushall()
  client.disconnect()
}

export interface BuildOptions {
  store?: 'memory' | 'redis'
  /** environment values for this app, as strings or numbers */
  config?: ConfigOverrides
  /** empty the Redis first (default true); false for a second instance on the same Redis */
  flush?: boolean
  /** collect every log line here */
  logs?: string[]
}

/**
 * argon2id at 1 MiB and one pass (~0.6 ms) instead of the production 19 MiB and two (~40 ms
 * of CPU) for the API keys the apps of build() create: hundreds of keys are made and checked
 * across the suite, and only test/auth/api-keys.test.ts is about the hashing cost (it uses
 * ARGON2_OPTIONS and ApiKeys itself). Verification is the production one either way.
 */
export const TEST_API_KEY_HASHING = { memoryCost: 1024, timeCost: 1 } as const

/**
 * The real app, built by the production factory with the production server options,
 * on the memory store or this file's real Redis (keys hashed at TEST_API_KEY_HASHING's
 * cost). Closed when the test ends.
 */
export async function build (test: Test, options: BuildOptions = {}): Promise<App> {
  // Limits out of the way unless a test sets them: many tests share one client IP.
  // Tests that are not about limits or abuse are never limited nor penalised from inject's
  // 127.0.0.1 (the AUTH_FAILURE_MAX lockout still applies to it, as to any exempt address);
  // the tests of those pass their own values, or come from other remoteAddresses.
  const overrides: ConfigOverrides = { LOG_LEVEL: 'silent', RATE_LIMIT_CREATE_MAX: 100_000, RATE_LIMIT_READ_MAX: 100_000, PENALTY_EXEMPT_IPS: '127.0.0.1', ...options.config }
  if (options.store === 'redis' && overrides.REDIS_URL === undefined && overrides.REDIS_CLUSTER_NODES === undefined) {
    const redis = await testRedis()
    if (options.flush !== false) await flushRedis(redis.url)
    overrides.REDIS_URL = redis.url
  }
  const logs = options.logs
  if (logs !== undefined && options.config?.LOG_LEVEL === undefined) overrides.LOG_LEVEL = 'trace'
  const logStream = logs === undefined
    ? undefined
    : new Writable({ write (chunk: Buffer, _encoding, done) { logs.push(...chunk.toString().split('\n').filter(Boolean)); done() } })
  // The environment of the test run is ignored: each test says what it configures.
  const app = await buildApp({ ...loadConfig({}, overrides), apiKeyHashing: TEST_API_KEY_HASHING }, logStream === undefined ? {} : { logStream })
  test.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

/** A JSON POST / and its parsed body. */
export async function createMessage (app: App, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ id: string, deleteToken: string, [key: string]: unknown }> {
  const res = await app.inject({ method: 'POST', url: '/', payload: body, headers })
  if (res.statusCode !== 201) throw new Error(`create failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The calls Redis runs during `operation`, as seen by MONITOR (commands run inside scripts left
 * out), each as its arguments: what an operation costs in commands. `operation` starts once
 * MONITOR is on and has gone quiet, so that warm-up commands are not counted.
 */
export async function redisCallsDuring (test: Test, url: string, operation: () => Promise<unknown>, from: 'clients' | 'scripts' = 'clients'): Promise<string[][]> {
  // A MONITOR connection can see another client's command (the next watcher's INFO, or lines
  // that arrive with the reply to MONITOR itself, before ioredis has switched the connection to
  // monitoring) while ioredis still expects a reply of its own, and reports "Command queue state
  // error": an observer's hiccup, not the test's business. So the connection is made here, with
  // its error listener on from the start (ioredis's monitor() attaches one only once monitoring,
  // and rejects with that hiccup), and closed as soon as the window ends.
  const monitor = new Redis(url, { monitor: true })
  monitor.on('error', () => {})
  const close = (): void => { monitor.disconnect() }
  test.teardown(close)
  await new Promise<void>((resolve) => { monitor.once('monitoring', () => { resolve() }) })
  await sleep(100)
  const seen: string[][] = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source.includes('lua') === (from === 'scripts')) seen.push(args.map(String))
  })
  await operation()
  await sleep(100)
  close()
  return seen
}

/**
 * Stops what an app does in the background on the store (the API keys' epoch, the blocks' and
 * the runtime policy's version polls, the webhook relay's schedule poll and the delivery
 * queue's worker), so that a test counting a request's store commands counts only those.
 */
export async function stopBackgroundWork (app: App): Promise<void> {
  app.apiKeys.close()
  app.abuse.blocks.close()
  app.policy.close()
  await app.webhookRelay?.close()
  await app.deliveryQueue.close()
}

/** The command names of redisCallsDuring, lower case. */
export async function redisCommandsDuring (test: Test, url: string, operation: () => Promise<unknown>): Promise<string[]> {
  return (await redisCallsDuring(test, url, operation)).map((call) => String(call[0]).toLowerCase())
}

/** the commands Lua scripts ran inside Redis during `operation` (what a script costs Redis) */
export async function scriptCommandsDuring (test: Test, url: string, operation: () => Promise<unknown>): Promise<string[]> {
  return (await redisCallsDuring(test, url, operation, 'scripts')).map((call) => String(call[0]).toLowerCase())
}

/**
 * Creates messages with maxViews 1 and 5, reads each with 50 racing readers, and checks that
 * exactly maxViews reads succeed (counting down to 0) and every other one is a 404.
 */
export async function assertExactViewsUnderRace (t: Test, app: App): Promise<void> {
  for (const maxViews of [1, 5]) {
    const { id } = await createMessage(app, { content: 'race', maxViews })
    const reads = await Promise.all(Array.from({ length: 50 }, async () => await app.inject(`/msg/${id}`)))
    const ok = reads.filter((r) => r.statusCode === 200)
    t.equal(ok.length, maxViews, `maxViews ${maxViews}`)
    t.same(ok.map((r) => r.json().remainingViews).sort(), Array.from({ length: maxViews }, (_, i) => i))
    t.ok(reads.filter((r) => r.statusCode !== 200).every((r) => r.statusCode === 404), 'the others are 404')
  }
}
