import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { SharedCounters } from '../../src/storage/redis/rate-limit-store.js'
import { flushRedis, sleep, testRedis } from '../helper.js'

async function counters (t: Test): Promise<{ counters: SharedCounters, redis: Redis }> {
  const redis = new Redis((await testRedis()).url)
  const counters = new SharedCounters(redis, 100)
  t.teardown(() => { counters.close(); redis.disconnect() })
  return { counters, redis }
}

const incr = async (c: SharedCounters, key: string, max: number, windowMs = 60_000): Promise<number> =>
  await new Promise((resolve, reject) => {
    c.incr(key, (err, result) => { err === null && result !== undefined ? resolve(result.current) : reject(err) }, windowMs, max)
  })

t.beforeEach(async () => { await flushRedis((await testRedis()).url) })

t.test('one instance: a burst of 25 admits exactly max, whatever the mode', async (t) => {
  const { counters: c } = await counters(t)
  for (const max of [1, 2, 10, 20]) {
    const currents = await Promise.all(Array.from({ length: 25 }, async () => await incr(c, `burst-${max}`, max)))
    t.equal(currents.filter((n) => n <= max).length, max, `max ${max}: ${currents.join(',')}`)
  }
})

t.test('two instances taking turns share one budget exactly', async (t) => {
  const a = (await counters(t)).counters
  const b = (await counters(t)).counters
  const allowed = []
  for (let i = 0; i < 12; i++) allowed.push(await incr(i % 2 === 0 ? a : b, 'turns', 8) <= 8)
  t.same(allowed, [...Array(8).fill(true), ...Array(4).fill(false)])
})

t.test('far from the limit, requests are counted locally and reach Redis within a sync interval', async (t) => {
  const { counters: c, redis } = await counters(t)
  await incr(c, 'busy', 1_000_000)
  const before = Number(await redis.get('busy'))
  const currents = []
  for (let i = 0; i < 50; i++) currents.push(await incr(c, 'busy', 1_000_000))
  t.same(currents, Array.from({ length: 50 }, (_, i) => i + 2), 'counted in order')
  t.equal(before, 1, 'only the first request of the window went to Redis before answering')
  await sleep(250)
  t.equal(Number(await redis.get('busy')), 51, 'synced')
  const ttl = await redis.pttl('busy')
  t.ok(ttl > 59_000 && ttl <= 60_000, `the Redis key carries the window (${ttl} ms)`)
})

t.test('a new window starts from zero', async (t) => {
  const { counters: c } = await counters(t)
  t.equal(await incr(c, 'short', 2, 300), 1)
  t.equal(await incr(c, 'short', 2, 300), 2)
  t.equal(await incr(c, 'short', 2, 300), 3)
  await sleep(350)
  t.equal(await incr(c, 'short', 2, 300), 1)
})
