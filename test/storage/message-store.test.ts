import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { MemoryMessageStore } from '../../src/storage/memory/memory-message-store.js'
import { messageKey, ownerIndexKey, receiptKey, viewsKey } from '../../src/storage/redis/keys.js'
import { hashToken, newMessageId } from '../../src/ids.js'
import { MAX_BATCH_ENTRIES } from '../../src/storage/redis/owner-index-writer.js'
import { PRUNE_GRACE_MS, RedisMessageStore } from '../../src/storage/redis/redis-message-store.js'
import { StoreUnavailable } from '../../src/errors.js'
import { flushRedis, redisCommandsDuring, sleep, testRedis } from '../helper.js'
import { message, messageStoreContract, noReceiptContract, receiptContract, TEST_RECEIPT_RETENTION_MS } from './message-store.contract.js'
import type { StoreUnderTest } from './message-store.contract.js'

for (const receiptRetentionMs of [TEST_RECEIPT_RETENTION_MS, 0]) {
  t.test(`memory store, receipt retention ${receiptRetentionMs} ms`, async (t) => {
    const setup = async (t: Test): Promise<StoreUnderTest> => {
      let now = Date.now()
      const store = new MemoryMessageStore(() => now, undefined, { receiptRetentionMs })
      t.teardown(async () => { await store.close() })
      return { store, elapse: async (ms) => { now += ms } }
    }
    messageStoreContract(t, setup)
    if (receiptRetentionMs > 0) receiptContract(t, setup)
    else noReceiptContract(t, setup)
  })
}

t.test('redis store (real redis-server)', async (t) => {
  const redis = await testRedis()
  for (const receiptRetentionMs of [TEST_RECEIPT_RETENTION_MS, 0]) {
    t.test(`receipt retention ${receiptRetentionMs} ms`, async (t) => {
      const setup = async (t: Test): Promise<StoreUnderTest> => {
        await flushRedis(redis.url)
        const client = new Redis(redis.url)
        t.teardown(() => { client.disconnect() })
        return { store: new RedisMessageStore(client, { receiptRetentionMs }), elapse: sleep }
      }
      messageStoreContract(t, setup)
      if (receiptRetentionMs > 0) receiptContract(t, setup)
      else noReceiptContract(t, setup)
    })
  }

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

  t.test('the consume script itself refuses a wrong or missing read token and counts nothing (the store refuses before it; the script is the atomic guard)', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client)
    const token = hashToken('the-right-read-token-000000')
    const m = message({ maxViews: 3, readTokenHash: token })
    await store.create(m)
    const script = client as unknown as { missiveConsume: (message: string, views: string, hash: string) => Promise<[string, number] | null> }
    for (const presented of ['', hashToken('a-wrong-read-token-00000000'), token.slice(0, -1), `${token}x`, token.replace(/^./, (c) => c === 'A' ? 'B' : 'A')]) {
      t.equal(await script.missiveConsume(messageKey(m.id), viewsKey(m.id), presented), null, `refused: ${JSON.stringify(presented.slice(0, 12))}…`)
    }
    t.equal(await client.get(viewsKey(m.id)), '3', 'no view counted')
    t.equal((await script.missiveConsume(messageKey(m.id), viewsKey(m.id), token))?.[1], 2, 'the right hash counts one')
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

  t.test('with receipts, a create and every read (counted or not) is one script call: the receipt costs no round trip', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    await store.create(message()) // loads the scripts
    await store.consume(newMessageId())
    const unlimited = message()
    const counted = message({ maxViews: 2 })
    const commands = await redisCommandsDuring(t, redis.url, async () => {
      await store.create(unlimited)
      await store.create(counted)
      t.equal((await store.consume(unlimited.id))?.remainingViews, null)
      t.equal((await store.consume(counted.id))?.remainingViews, 1)
      t.equal((await store.consume(counted.id))?.remainingViews, 0)
      t.equal(await store.consume(counted.id), null, 'burned')
    })
    t.same(commands, ['evalsha', 'evalsha', 'evalsha', 'evalsha', 'evalsha', 'evalsha'])
  })

  t.test('a receipt holds counts and times only: no content, no read token, nothing about readers; it lives in the message\'s slot', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    const m = message({ content: 'the secret content', maxViews: 2, owner: 'ownerkey0007', readTokenHash: hashToken('receipt-read-token-000000000') })
    await store.create(m)
    await store.consume(m.id, m.readTokenHash)
    await store.consume(m.id, m.readTokenHash)
    t.equal(await client.exists(messageKey(m.id), viewsKey(m.id)), 0, 'the message is gone after its last view')
    const fields = await client.hgetall(receiptKey(m.id))
    t.same(Object.keys(fields).sort(), ['a', 'd', 'f', 'l', 'm', 'o', 's', 't', 'v', 'w', 'x'], 'w: records webhook events (0 here)')
    t.notOk(Object.values(fields).some((v) => v.includes('secret') || v === m.readTokenHash), 'no content, no read token')
    t.equal(fields.d, m.deleteTokenHash, 'the creator\'s proof (a hash)')
    const expiresAt = await client.pexpiretime(receiptKey(m.id))
    t.equal(expiresAt, Number(fields.a) + 60_000, 'kept the retention after the burn')
    t.match(receiptKey(m.id), `{${m.id}}`, 'the message\'s hash tag')
  })

  t.test('an owned create is a SET plus one index write shared by the creates of its turn; the index lives as long as its newest message', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client)
    await store.create(message({ owner: 'ownerkey0009' })) // loads the script
    const later = message({ owner: 'ownerkey0003', expiresAt: Date.now() + 120_000 })
    const sooner = message({ owner: 'ownerkey0003', expiresAt: Date.now() + 60_000 })
    const other = message({ owner: 'ownerkey0005' })
    const together = await redisCommandsDuring(t, redis.url, async () => {
      t.same(await Promise.all([store.create(later), store.create(sooner)]), [true, true])
    })
    t.same(together, ['set', 'set', 'evalsha'], 'two creates of one owner in one turn: one index write')
    const apart = await redisCommandsDuring(t, redis.url, async () => {
      t.equal(await store.create(other), true)
    })
    t.same(apart, ['set', 'evalsha'])
    const index = ownerIndexKey('ownerkey0003')
    t.equal(await client.pexpiretime(index), later.expiresAt, 'the index expires with its newest message')
    t.same((await client.zrange(index, '0', '-1')).sort(), [later.id, sooner.id].sort())
    t.equal(await client.zscore(ownerIndexKey('ownerkey0005'), other.id), String(other.createdAt))

    const counted = message({ owner: 'ownerkey0003', maxViews: 2 })
    t.equal(await store.create(counted), true)
    t.equal(await client.get(viewsKey(counted.id)), '2')
    t.equal(await client.exists(viewsKey(later.id)), 0, 'no view counter without maxViews')
  })

  t.test('a create refused for a taken id takes its index entry back', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client)
    const first = message({ owner: 'ownerkey000c' })
    t.equal(await store.create(first), true)
    t.equal(await store.create({ ...first, owner: 'ownerkey000d' }), false)
    t.equal(await client.exists(ownerIndexKey('ownerkey000d')), 0)
  })

  t.test('a failed index write fails every create waiting on it, leaves no unlisted message, and does not stop later ones', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client)
    const index = ownerIndexKey('ownerkey000e')
    await client.set(index, 'not a sorted set') // ZADD fails with WRONGTYPE
    const doomed = [message({ owner: 'ownerkey000e' }), message({ owner: 'ownerkey000e' })]
    const results = await Promise.allSettled(doomed.map(async (m) => await store.create(m)))
    for (const result of results) {
      t.equal(result.status, 'rejected')
      if (result.status === 'rejected') t.type(result.reason, StoreUnavailable)
    }
    t.equal(await client.exists(...doomed.map((m) => messageKey(m.id))), 0, 'the messages were taken back')
    await client.del(index)
    const next = message({ owner: 'ownerkey000e' })
    t.equal(await store.create(next), true)
    t.same((await store.listOwned('ownerkey000e', 10, null)).items.map((m) => m.id), [next.id])
  })

  t.test('a turn with more creates than one index write takes is split, and every message is listed', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client)
    const many = Array.from({ length: MAX_BATCH_ENTRIES * 2 + 5 }, () => message({ owner: 'ownerkey000f' }))
    const commands = await redisCommandsDuring(t, redis.url, async () => {
      t.ok((await Promise.all(many.map(async (m) => await store.create(m)))).every((created) => created))
    })
    t.equal(commands.filter((c) => c.startsWith('eval')).length, 3, 'three index writes')
    t.equal(await client.zcard(ownerIndexKey('ownerkey000f')), many.length)
  })

  t.test('an index write that fails before its message\'s write settles (as on a Cluster) fails the create with 503, and nothing is left unhandled', async (t) => {
    const real = new Redis(redis.url)
    t.teardown(() => { real.disconnect() })
    // The real Redis, with the message's SET answered 100 ms late: the index write fails first.
    const slowSet = new Proxy(real, {
      get (target, property) {
        if (property === 'set') return async (...args: Parameters<Redis['set']>) => { await sleep(100); return await target.set(...args) }
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      }
    })
    const store = new RedisMessageStore(slowSet)
    await real.hset(ownerIndexKey('ownerkey000g'), 'f', '1') // ZADD fails: WRONGTYPE
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
    const doomed = message({ owner: 'ownerkey000g' })
    await t.rejects(store.create(doomed), StoreUnavailable)
    await sleep(50)
    t.same(unhandled, [], 'no unhandled rejection')
    t.equal(await real.exists(messageKey(doomed.id)), 0, 'the message was taken back')
  })

  t.test('a listing skips an index entry without its message, and removes it only once it is older than a create can take', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client)
    const index = ownerIndexKey('ownerkey000h')
    const live = message({ owner: 'ownerkey000h' })
    await store.create(live)
    await client.zadd(index, Date.now(), 'young-entry-without-message', Date.now() - PRUNE_GRACE_MS - 1000, 'old-entry-without-message')
    t.same((await store.listOwned('ownerkey000h', 10, null)).items.map((m) => m.id), [live.id])
    t.same((await client.zrange(index, '0', '-1')).sort(), [live.id, 'young-entry-without-message'].sort(), 'the young entry stays, the old one is gone')
  })
})
