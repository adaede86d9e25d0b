import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { StorageFull, StoreUnavailable } from '../../src/errors.js'
import { MemoryReplayStore } from '../../src/storage/memory/memory-replay-store.js'
import { createRedisClient } from '../../src/storage/redis/client.js'
import { replayKey } from '../../src/storage/redis/keys.js'
import { RedisReplayStore } from '../../src/storage/redis/redis-replay-store.js'
import { replayDigest } from '../../src/storage/replay-store.js'
import { flushRedis, redisCommandsDuring, testRedis } from '../helper.js'
import { freePort } from '../helpers/redis-server.js'
import { replayStoreContract } from './replay-store.contract.js'

replayStoreContract(t, 'memory', async (t) => {
  const store = new MemoryReplayStore()
  t.teardown(() => store.close())
  return { store }
})

/** A replay store on a flushed throwaway Redis, with its client (for looking at what it wrote) and the Redis' URL. */
async function redisReplayStore (t: Pick<Test, 'teardown'>): Promise<{ store: RedisReplayStore, client: Redis, url: string }> {
  const redis = await testRedis()
  const client = new Redis(redis.url)
  const store = new RedisReplayStore(client)
  t.teardown(async () => { await store.close(); await client.quit() })
  return { store, client, url: redis.url }
}

replayStoreContract(t, 'redis', async (t) => {
  await flushRedis((await testRedis()).url)
  // two instances: two clients (two connections) to the same Redis
  return { store: (await redisReplayStore(t)).store, other: (await redisReplayStore(t)).store }
})

t.test('redis: each call is exactly one plain SET (NX, PX), no script', async (t) => {
  await flushRedis((await testRedis()).url)
  const { store, url } = await redisReplayStore(t)
  const first = await redisCommandsDuring(t, url, async () => { t.equal(await store.firstUse('dpop', 'jti-cmd', 60_000), true) })
  t.same(first, ['set'])
  const again = await redisCommandsDuring(t, url, async () => { t.equal(await store.firstUse('dpop', 'jti-cmd', 60_000), false) })
  t.same(again, ['set'], 'a replay: one SET too')
  const many = await redisCommandsDuring(t, url, async () => {
    await Promise.all([store.firstUse('sig', 'a', 60_000), store.firstUse('sig', 'b', 60_000), store.firstUse('sig', 'a', 60_000)])
  })
  t.same(many, ['set', 'set', 'set'], 'one per call, even for one id in one turn')
})

t.test('redis: the key is replay:<scope>:{<base64url SHA-256 of the id>}, expiring after the TTL', async (t) => {
  await flushRedis((await testRedis()).url)
  const { store, client } = await redisReplayStore(t)
  const long = 'é'.repeat(50_000)
  await store.firstUse('dpop', 'jti-layout', 60_000)
  await store.firstUse('sig', long, 30_000)
  const digest = replayDigest('jti-layout')
  t.match(digest, /^[A-Za-z0-9_-]{43}$/)
  t.equal(replayKey('dpop', 'jti-layout'), `replay:dpop:{${digest}}`)
  t.same((await client.keys('*')).sort(), [replayKey('dpop', 'jti-layout'), replayKey('sig', long)].sort())
  t.equal(replayKey('sig', long).length, 'replay:sig:{}'.length + 43, 'a fixed size, whatever the id')
  t.equal(await client.get(replayKey('dpop', 'jti-layout')), '1')
  const ttl = await client.pttl(replayKey('dpop', 'jti-layout'))
  t.ok(ttl > 59_000 && ttl <= 60_000, `pttl ${ttl}`)
  const sigTtl = await client.pttl(replayKey('sig', long))
  t.ok(sigTtl > 29_000 && sigTtl <= 30_000, `pttl ${sigTtl}`)
  await store.firstUse('dpop', 'jti-layout', 90_000)
  t.ok(await client.pttl(replayKey('dpop', 'jti-layout')) <= 60_000, 'a replay does not extend the TTL')
})

t.test('redis: a full Redis refuses (StorageFull), and the id is not accepted', async (t) => {
  await flushRedis((await testRedis()).url)
  const { store, client } = await redisReplayStore(t)
  await client.config('SET', 'maxmemory-policy', 'noeviction')
  await client.config('SET', 'maxmemory', '1')
  t.teardown(async () => { await client.config('SET', 'maxmemory', '0') })
  await t.rejects(store.firstUse('dpop', 'jti-oom', 60_000), StorageFull)
  await client.config('SET', 'maxmemory', '0')
  t.equal(await store.firstUse('dpop', 'jti-oom', 60_000), true, 'first seen once Redis has room')
})

t.test('redis: a client to a closed port gets StoreUnavailable at once', async (t) => {
  const client = createRedisClient({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, redisClusterNodes: [] }, 'test')
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const started = Date.now()
  const error: unknown = await new RedisReplayStore(client).firstUse('dpop', 'jti-down', 60_000).then(() => null, (err: unknown) => err)
  t.type(error, StoreUnavailable)
  t.ok((error as { cause?: unknown } | null)?.cause instanceof Error, 'the client\'s error is kept as cause')
  t.ok(Date.now() - started < 1500, `fails fast (${Date.now() - started} ms)`)
})

t.test('memory: at the cap a new id is refused, a live one never forgotten; room again as ids expire', async (t) => {
  let now = 1_000_000
  const store = new MemoryReplayStore({ now: () => now, maxEntries: 3 })
  t.teardown(() => store.close())
  t.equal(await store.firstUse('dpop', 'a', 1000), true)
  t.equal(await store.firstUse('dpop', 'b', 2000), true)
  t.equal(await store.firstUse('sig', 'c', 5000), true)
  t.equal(await store.firstUse('dpop', 'd', 1000), false, 'full: refused as a replay would be')
  t.equal(await store.firstUse('dpop', 'a', 1000), false, 'and the live ids are all still known')
  t.equal(await store.firstUse('dpop', 'b', 1000), false)
  t.equal(await store.firstUse('sig', 'c', 1000), false)
  now += 1000 // a has expired
  t.equal(await store.firstUse('dpop', 'd', 1000), true, 'room again')
  t.equal(await store.firstUse('dpop', 'b', 1000), false, 'b still live')
  t.equal(await store.firstUse('dpop', 'e', 1000), false, 'full again')
})

t.test('memory: ids expire on the store\'s clock', async (t) => {
  let now = 0
  const store = new MemoryReplayStore({ now: () => now })
  t.teardown(() => store.close())
  t.equal(await store.firstUse('dpop', 'x', 100), true)
  now = 99
  t.equal(await store.firstUse('dpop', 'x', 100), false)
  now = 100
  t.equal(await store.firstUse('dpop', 'x', 100), true, 'expired at its TTL')
})
