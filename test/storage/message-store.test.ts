import { Redis } from 'ioredis'
import t from 'tap'
import { MemoryMessageStore } from '../../src/storage/memory/memory-message-store.js'
import { messageKey, ownerIndexKey, viewsKey } from '../../src/storage/redis/keys.js'
import { RedisMessageStore } from '../../src/storage/redis/redis-message-store.js'
import { flushRedis, redisCommandsDuring, sleep, testRedis } from '../helper.js'
import { message, messageStoreContract } from './message-store.contract.js'

t.test('memory store', async (t) => {
  messageStoreContract(t, async (t) => {
    let now = Date.now()
    const store = new MemoryMessageStore(() => now)
    t.teardown(async () => { await store.close() })
    return { store, elapse: async (ms) => { now += ms } }
  })
})

t.test('redis store (real redis-server)', async (t) => {
  const redis = await testRedis()
  messageStoreContract(t, async (t) => {
    await flushRedis(redis.url)
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    return { store: new RedisMessageStore(client), elapse: sleep }
  })

  t.test('keys carry the expiry, and a burned message leaves nothing behind', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client)
    const m = message({ maxViews: 1, expiresAt: Date.now() + 60_000 })
    await store.create(m)
    for (const key of [messageKey(m.id), viewsKey(m.id)]) {
      const expiresAt = await client.pexpiretime(key)
      t.equal(expiresAt, m.expiresAt, `${key} expires exactly at expiresAt`)
    }
    await store.consume(m.id)
    t.equal(await client.exists(messageKey(m.id), viewsKey(m.id)), 0)
  })

  t.test('a read of a message without a view limit is one plain GET; a counted read adds the script', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client)
    const unlimited = message()
    const counted = message({ maxViews: 2 })
    await store.create(unlimited)
    await store.create(counted)
    await store.consume(counted.id) // loads the script
    const commands = await redisCommandsDuring(t, redis.url, async () => {
      t.equal((await store.consume(unlimited.id))?.remainingViews, null)
      t.equal((await store.consume(counted.id))?.remainingViews, 0)
      t.equal(await store.consume(counted.id), null, 'burned')
    })
    t.same(commands, ['get', 'get', 'evalsha', 'get'])
  })

  t.test('an owned create is one command on a single Redis, and its index lives as long as its newest message', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client)
    await store.create(message({ owner: 'ownerkey0009' })) // loads the script
    const later = message({ owner: 'ownerkey0003', maxViews: 2, expiresAt: Date.now() + 120_000 })
    const sooner = message({ owner: 'ownerkey0003', expiresAt: Date.now() + 60_000 })
    const commands = await redisCommandsDuring(t, redis.url, async () => {
      t.equal(await store.create(later), true)
      t.equal(await store.create(sooner), true)
    })
    t.same(commands, ['evalsha', 'evalsha'], 'one script per create, nothing beside it')
    t.equal(await client.pexpiretime(ownerIndexKey('ownerkey0003')), later.expiresAt)
    t.equal(await client.get(viewsKey(later.id)), '2')
    t.equal(await client.exists(viewsKey(sooner.id)), 0, 'no view counter without maxViews')
  })
})
