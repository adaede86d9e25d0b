import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { flushRedis, sleep, testRedis } from '../helper.js'

/**
 * The penalty ladder's time through HTTP (API.md section 8): the score decays while an address
 * behaves, a block ends by itself, a repeat offence within the ladder's memory climbs a rung,
 * and after a quiet memory the ladder starts again at the bottom. The real periods are minutes
 * to days; here they are a second or two (Config.abuseTiming, for tests only), with the real
 * threshold and weights (a miss on a message read weighs 2, the threshold is 100).
 */

const HALF_LIFE_MS = 1500
const DURATIONS_MS = [1000, 2000, 3000]
const MEMORY_MS = 2500

async function fastLadder (t: Test, store: 'memory' | 'redis'): Promise<App> {
  const overrides: Record<string, string | number> = { LOG_LEVEL: 'silent', RATE_LIMIT_READ_MAX: 100_000, RATE_LIMIT_CREATE_MAX: 100_000, PENALTY_EXEMPT_IPS: '127.0.0.1' }
  if (store === 'redis') {
    const redis = await testRedis()
    await flushRedis(redis.url)
    overrides.REDIS_URL = redis.url
  }
  const app = await buildApp({ ...loadConfig({}, overrides), abuseTiming: { halfLifeMs: HALF_LIFE_MS, durationsMs: DURATIONS_MS, memoryMs: MEMORY_MS } })
  t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

const miss = async (app: App, ip: string): Promise<number> =>
  (await app.inject({ method: 'GET', url: `/msg/${randomBytes(16).toString('base64url')}`, remoteAddress: ip })).statusCode

async function misses (app: App, ip: string, count: number): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < count; i++) statuses.push(await miss(app, ip))
  return statuses
}

/** the address's status once the score's crossing has been applied (up to 2 s) */
async function settledStatus (app: App, ip: string): Promise<{ status: number, retryAfter: number | null }> {
  const started = Date.now()
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/msg/${randomBytes(16).toString('base64url')}`, remoteAddress: ip })
    if (res.statusCode === 429 || Date.now() - started > 2000) return { status: res.statusCode, retryAfter: res.statusCode === 429 ? Number(res.headers['retry-after']) : null }
    await sleep(50)
  }
}

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: a score decays while the address behaves`, async (t) => {
    const app = await fastLadder(t, store)
    // 35 misses (70 points), a quiet half-life (35), 30 more (95): under the threshold.
    t.ok((await misses(app, '203.0.113.20', 35)).every((s) => s === 404))
    await sleep(HALF_LIFE_MS + 200)
    t.ok((await misses(app, '203.0.113.20', 30)).every((s) => s === 404))
    await sleep(1200)
    t.equal((await miss(app, '203.0.113.20')), 404, 'never blocked: the quiet half-life halved its score')
    // The same 65 misses without the pause (130 points) are blocked: the control.
    await misses(app, '203.0.113.21', 65)
    t.equal((await settledStatus(app, '203.0.113.21')).status, 429, 'without the pause, the same misses are blocked')
  })

  t.test(`${store}: a block ends by itself, a repeat offence climbs a rung, a quiet ladder memory starts again at the bottom`, async (t) => {
    const app = await fastLadder(t, store)
    const ip = '203.0.113.30'
    await misses(app, ip, 50)
    const first = await settledStatus(app, ip)
    t.equal(first.status, 429, 'blocked at the threshold')
    t.equal(first.retryAfter, 1, 'the first rung')
    await sleep(DURATIONS_MS[0]! + 300)
    t.equal(await miss(app, ip), 404, 'the block ended by itself')

    await misses(app, ip, 60)
    const second = await settledStatus(app, ip)
    t.equal(second.status, 429, 'blocked again')
    t.equal(second.retryAfter, 2, 'within the ladder memory: the second rung')
    await sleep(DURATIONS_MS[1]! + 300)
    t.equal(await miss(app, ip), 404, 'ended again')

    // Quiet for longer than the memory (and the score decays meanwhile): back to the first rung.
    await sleep(MEMORY_MS + 3 * HALF_LIFE_MS)
    await misses(app, ip, 60)
    const third = await settledStatus(app, ip)
    t.equal(third.status, 429)
    t.equal(third.retryAfter, 1, 'after a quiet memory: the first rung again')
  })
}
