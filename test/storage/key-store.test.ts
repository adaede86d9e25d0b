import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { MemoryKeyStore } from '../../src/storage/memory/memory-key-store.js'
import { StoreUnavailable } from '../../src/errors.js'
import { authFailuresKey } from '../../src/storage/redis/keys.js'
import { RedisKeyStore } from '../../src/storage/redis/redis-key-store.js'
import { flushRedis, redisCommandsDuring, testRedis } from '../helper.js'
import { keyStoreContract } from './key-store.contract.js'

keyStoreContract(t, 'memory', async (t) => {
  const store = new MemoryKeyStore()
  t.teardown(() => store.close())
  return store
})

/** A key store on a flushed throwaway Redis, with its client (for looking at what it wrote) and the Redis' URL. */
async function redisKeyStore (t: Pick<Test, 'teardown'>): Promise<{ store: RedisKeyStore, client: Redis, url: string }> {
  const redis = await testRedis()
  await flushRedis(redis.url)
  const client = new Redis(redis.url)
  const store = new RedisKeyStore(client)
  t.teardown(async () => { await store.close(); await client.quit() })
  return { store, client, url: redis.url }
}

keyStoreContract(t, 'redis', async (t) => (await redisKeyStore(t)).store)

t.test('redis: the per-request reads are plain commands, one each on a single Redis (no script)', async (t) => {
  const { store, url } = await redisKeyStore(t)
  const gate = await redisCommandsDuring(t, url, async () => {
    t.same(await store.tokenGate('10.0.0.9', 'jti-1'), { failures: { count: 0, resetMs: 0 }, denied: false })
  })
  t.same(gate, ['mget'], 'a bearer token: failure count and deny list in one MGET')
  const failures = await redisCommandsDuring(t, url, async () => {
    t.same(await store.authFailures('10.0.0.9'), { count: 0, resetMs: 0 })
  })
  t.same(failures, ['get'], 'an API key: one GET')

  // With failures counted, the window's time left is read too (only then).
  await store.recordAuthFailure('10.0.0.9', 60_000)
  await store.denyToken('jti-1', Date.now() + 60_000)
  const counted = await store.tokenGate('10.0.0.9', 'jti-1')
  t.equal(counted.failures.count, 1)
  t.ok(counted.failures.resetMs > 59_000 && counted.failures.resetMs <= 60_000, `resetMs ${counted.failures.resetMs}`)
  t.equal(counted.denied, true)
  const read = await store.authFailures('10.0.0.9')
  t.equal(read.count, 1)
  t.ok(read.resetMs > 59_000 && read.resetMs <= 60_000)
})

t.test('redis: the same read asked for by requests of one turn is one command; the next turn reads again', async (t) => {
  const { store, url } = await redisKeyStore(t)
  const oneTurn = await redisCommandsDuring(t, url, async () => {
    const [a, b, c, other] = await Promise.all([
      store.authFailures('10.0.0.7'), store.authFailures('10.0.0.7'), store.authFailures('10.0.0.7'), store.authFailures('10.0.0.8')
    ])
    t.same([a, b, c, other], Array(4).fill({ count: 0, resetMs: 0 }))
    const gates = await Promise.all([store.tokenGate('10.0.0.7', 'jti-a'), store.tokenGate('10.0.0.7', 'jti-a'), store.tokenGate('10.0.0.7', 'jti-b')])
    t.same(gates.map((g) => g.denied), [false, false, false])
  })
  t.same(oneTurn, ['get', 'get', 'mget', 'mget'], 'one read per distinct question')

  // A failure recorded after a read is seen by the next turn's read: nothing is kept.
  await store.recordAuthFailure('10.0.0.7', 60_000)
  await store.denyToken('jti-a', Date.now() + 60_000)
  t.equal((await store.authFailures('10.0.0.7')).count, 1)
  const gate = await store.tokenGate('10.0.0.7', 'jti-a')
  t.equal(gate.failures.count, 1)
  t.equal(gate.denied, true)
})

t.test('redis: a shared read that fails fails every request sharing it, and the next turn reads again', async (t) => {
  const { store, client } = await redisKeyStore(t)
  await client.hset(authFailuresKey('10.0.0.6'), 'f', '1') // a GET of a hash fails: WRONGTYPE
  const results = await Promise.allSettled([store.authFailures('10.0.0.6'), store.authFailures('10.0.0.6')])
  t.same(results.map((r) => r.status), ['rejected', 'rejected'])
  for (const r of results) if (r.status === 'rejected') t.type(r.reason, StoreUnavailable)
  await client.del(authFailuresKey('10.0.0.6'))
  t.same(await store.authFailures('10.0.0.6'), { count: 0, resetMs: 0 })
})
