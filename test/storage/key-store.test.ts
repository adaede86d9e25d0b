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

t.test('redis: a bearer token\'s checks are one command on a single Redis', async (t) => {
  const redis = await testRedis()
  await flushRedis(redis.url)
  const client = new Redis(redis.url)
  const watcher = new Redis(redis.url)
  const monitor = await watcher.monitor()
  t.teardown(async () => { monitor.disconnect(); watcher.disconnect(); await client.quit() })
  const store = new RedisKeyStore(client)
  await store.tokenGate('10.0.0.9', 'jti-warm') // loads the script
  await new Promise((resolve) => setTimeout(resolve, 100))
  const commands: string[] = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (!source.includes('lua')) commands.push(String(args[0]).toLowerCase())
  })
  t.same(await store.tokenGate('10.0.0.9', 'jti-1'), { failures: { count: 0, resetMs: 0 }, denied: false })
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(commands, ['evalsha'])
})
