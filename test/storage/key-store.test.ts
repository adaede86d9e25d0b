import { Redis } from 'ioredis'
import t from 'tap'
import { MemoryKeyStore } from '../../src/storage/memory/memory-key-store.js'
import { RedisKeyStore } from '../../src/storage/redis/redis-key-store.js'
import { flushRedis, testRedis } from '../helper.js'
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
