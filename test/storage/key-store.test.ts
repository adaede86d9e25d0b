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

t.test('redis: a bearer token\'s checks are one command on a single Redis', async (t) => {
  const redis = await testRedis()
  await flushRedis(redis.url)
  const client = new Redis(redis.url)
  t.teardown(async () => { await client.quit() })
  const store = new RedisKeyStore(client)
  await store.tokenGate('10.0.0.9', 'jti-warm') // loads the script
  const commands = await redisCommandsDuring(t, redis.url, async () => {
    t.same(await store.tokenGate('10.0.0.9', 'jti-1'), { failures: { count: 0, resetMs: 0 }, denied: false })
  })
  t.same(commands, ['evalsha'])
})
