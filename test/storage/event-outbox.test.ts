import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { MemoryMessageStore } from '../../src/storage/memory/memory-message-store.js'
import { messageEventsKey, receiptKey } from '../../src/storage/redis/keys.js'
import { RedisMessageStore } from '../../src/storage/redis/redis-message-store.js'
import { flushRedis, redisCommandsDuring, sleep, testRedis } from '../helper.js'
import { eventOutboxContract, type OutboxUnderTest } from './event-outbox.contract.js'
import { message, TEST_RECEIPT_RETENTION_MS } from './message-store.contract.js'

t.test('memory store', async (t) => {
  eventOutboxContract(t, async (t: Test): Promise<OutboxUnderTest> => {
    let now = Date.now()
    const store = new MemoryMessageStore(() => now, undefined, { receiptRetentionMs: TEST_RECEIPT_RETENTION_MS })
    t.teardown(async () => { await store.close() })
    return { store, elapse: async (ms) => { now += ms } }
  })
})

t.test('redis store (real redis-server)', async (t) => {
  const redis = await testRedis()
  eventOutboxContract(t, async (t: Test): Promise<OutboxUnderTest> => {
    await flushRedis(redis.url)
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    return { store: new RedisMessageStore(client, { receiptRetentionMs: TEST_RECEIPT_RETENTION_MS }), elapse: sleep }
  })

  t.test('an instance whose clock runs ahead records no message.expired while Redis still has the message', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    const m = message({ owner: 'ownerkey0042', expiresAt: Date.now() + 60_000 })
    await store.create(m, true)
    const ahead = await store.pending(m.id, Date.now() + 120_000)
    t.same(ahead?.events, [], 'not recorded: the message can still be read')
    t.equal(ahead?.ended, false)
    await store.consume(m.id)
    t.same((await store.pending(m.id, Date.now()))?.events.map((e) => e.type), ['message.viewed'])
  })

  t.test('a read of a notifying message is still one script call; its events live beside the receipt and go with it', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    const warm = message({ owner: 'ownerkey0042' })
    await store.create(warm, true)
    await store.consume(warm.id)
    const m = message({ owner: 'ownerkey0042', maxViews: 1 })
    const quiet = message({ owner: 'ownerkey0043', maxViews: 1 })
    await store.create(m, true)
    await store.create(quiet, false)
    const commands = await redisCommandsDuring(t, redis.url, async () => {
      t.equal((await store.consume(m.id))?.remainingViews, 0)
    })
    t.same(commands, ['evalsha'], 'with webhooks: the one script')
    const quietCommands = await redisCommandsDuring(t, redis.url, async () => {
      t.equal((await store.consume(quiet.id))?.remainingViews, 0)
    })
    t.same(quietCommands, ['evalsha'], 'without: the same one script, which finds w=0 with the command that finds the receipt')
    t.equal(await client.llen(messageEventsKey(m.id)), 2)
    t.equal(await client.pexpiretime(messageEventsKey(m.id)), await client.pexpiretime(receiptKey(m.id)), 'kept exactly as long as the receipt')
    const values = await client.lrange(messageEventsKey(m.id), 0, -1)
    t.notOk(values.some((v) => v.includes('hello')), 'no content in an event')
  })
})
