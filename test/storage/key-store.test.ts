import { Redis } from 'ioredis'
import t from 'tap'
import { MemoryKeyStore } from '../../src/storage/memory/memory-key-store.js'
import { RedisKeyStore } from '../../src/storage/redis/redis-key-store.js'
import { flushRedis, redisCommandsDuring, testRedis } from '../helper.js'
import { keyStoreContract } from './key-store.contract.js'

keyStoreContract(t, 'memory', async (t) => {
  const store = new MemoryKeyStore()
  t.teardown(() => store.close())
  return store
})

keyStoreContract(t, 'redis', async (t) => {
  const redis = await testRedis()
  await flushRedis(redis.url)
  const client = new Redis(redis.url)
  const store = new RedisKeyStore(client)
  t.teardown(async () => { await store.close(); await client.quit() })
  return store
})

t.test('redis: the per-request reads are plain commands, one each on a single Redis (no script)', async (t) => {
  const redis = await testRedis()
  await flushRedis(redis.url)
  const client = new Redis(redis.url)
  t.teardown(async () => { await client.quit() })
  const store = new RedisKeyStore(client)
  const gate = await redisCommandsDuring(t, redis.url, async () => {
    t.same(await store.tokenGate('10.0.0.9', 'jti-1'), { failures: { count: 0, resetMs: 0 }, denied: false })
  })
  t.same(gate, ['mget'], 'a bearer token: failure count and deny list in one MGET')
  const failures = await redisCommandsDuring(t, redis.url, async () => {
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
