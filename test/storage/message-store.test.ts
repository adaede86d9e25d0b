import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { MemoryMessageStore } from '../../src/storage/memory/memory-message-store.js'
import { messageEventsKey, messageKey, ownerIndexKey, receiptKey, viewsKey } from '../../src/storage/redis/keys.js'
import { hashToken, newMessageId } from '../../src/ids.js'
import { MAX_BATCH_ENTRIES } from '../../src/storage/redis/owner-index-writer.js'
import { PRUNE_GRACE_MS, RedisMessageStore } from '../../src/storage/redis/redis-message-store.js'
import { StoreUnavailable } from '../../src/errors.js'
import { createRedisClient, waitUntilReady } from '../../src/storage/redis/client.js'
import { flushRedis, redisCommandsDuring, scriptCommandsDuring, sleep, testRedis } from '../helper.js'
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

/** the rejections nobody handles while the test runs */
function unhandledRejections (t: Test): unknown[] {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  return unhandled
}

const OWNER = 'ownerkey0011'
/** a message's views left as its owner's listing shows them (the peek script) */
async function viewsLeft (store: RedisMessageStore, id: string): Promise<number | null | undefined> {
  return (await store.listOwned(OWNER, 100, null)).items.find((item) => item.id === id)?.remainingViews
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

  for (const receiptRetentionMs of [0, 60_000]) {
    t.test(`the consume script itself refuses a wrong or missing read token and counts nothing (the store refuses before it; the script is the atomic guard), receipts ${receiptRetentionMs > 0 ? 'on' : 'off'}`, async (t) => {
      const client = new Redis(redis.url)
      t.teardown(() => { client.disconnect() })
      const store = new RedisMessageStore(client, { receiptRetentionMs })
      const token = hashToken('the-right-read-token-000000')
      const m = message({ maxViews: 3, readTokenHash: token, owner: OWNER })
      await store.create(m)
      const script = client as unknown as { missiveConsumeWithReceipt: (message: string, views: string, receipt: string, events: string, hash: string, now: number, retentionMs: number) => Promise<[string, number, number] | null> }
      const consume = async (presented: string): Promise<[string, number, number] | null> =>
        await script.missiveConsumeWithReceipt(messageKey(m.id), viewsKey(m.id), receiptKey(m.id), messageEventsKey(m.id), presented, Date.now(), receiptRetentionMs)
      for (const presented of ['', hashToken('a-wrong-read-token-00000000'), token.slice(0, -1), `${token}x`, token.replace(/^./, (c) => c === 'A' ? 'B' : 'A')]) {
        t.equal(await consume(presented), null, `refused: ${JSON.stringify(presented.slice(0, 12))}…`)
      }
      t.equal(await viewsLeft(store, m.id), 3, 'no view counted')
      t.equal((await consume(token))?.[1], 2, 'the right hash counts one')
    })
  }

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

  t.test('with receipts, the scripts run the fewest commands inside Redis (each costs it about a GET): a create three, an unlimited read three', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    await store.create(message()) // loads the scripts
    const unlimited = message()
    const counted = message({ maxViews: 2 })
    t.same(await scriptCommandsDuring(t, redis.url, async () => { await store.create(unlimited) }), ['set', 'hset', 'pexpireat'], 'create: the message, its receipt, the receipt\'s end')
    t.same(await scriptCommandsDuring(t, redis.url, async () => { await store.consume(unlimited.id) }), ['get', 'hincrby', 'hset'], 'first read: body, count, first and last view')
    t.same(await scriptCommandsDuring(t, redis.url, async () => { await store.consume(unlimited.id) }), ['get', 'hincrby', 'hset'], 'a later read: body, count, last view')
    await store.create(counted)
    t.same(await scriptCommandsDuring(t, redis.url, async () => { await store.consume(counted.id) }), ['get', 'hincrby', 'hset'], 'a counted read counts on the receipt: no view counter')
    t.same(await scriptCommandsDuring(t, redis.url, async () => { await store.consume(counted.id) }), ['get', 'hincrby', 'del', 'hset', 'hset', 'pexpireat'], 'the last view deletes the message and ends the receipt')
    t.equal(await client.exists(viewsKey(counted.id)), 0, 'no view counter was written')
  })

  t.test('with the server\'s client (auto-pipelining on), a turn\'s batches are sent when dispatched, not held one more turn in the auto-pipeline', async (t) => {
    const client = createRedisClient({ REDIS_URL: redis.url, redisClusterNodes: [] }, 'test')
    t.teardown(() => { client.disconnect() })
    t.ok(await waitUntilReady(client, 5000))
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    await store.create(message({ owner: 'ownerkey000u' })) // loads the scripts
    const owned = [message({ owner: 'ownerkey000u' }), message({ owner: 'ownerkey000u' })]
    const creates = Promise.all([message(), ...owned].map(async (m) => await store.create(m)))
    // the batches are dispatched at setImmediate; right after, nothing of them waits in a pipeline
    await new Promise((resolve) => setImmediate(resolve))
    t.equal(client.autoPipelineQueueSize, 0, 'the creates\' script and the owner index\'s write are on their way')
    t.same(await creates, [true, true, true])
    const reads = Promise.all(owned.map(async (m) => await store.consume(m.id)))
    await new Promise((resolve) => setImmediate(resolve))
    t.equal(client.autoPipelineQueueSize, 0, 'the reads\' script is on its way')
    t.same((await reads).map((m) => m?.id), owned.map((m) => m.id))
    // (a plain command still goes through the auto-pipeline: the check above can see one)
    const plain = client.get('anything')
    t.equal(client.autoPipelineQueueSize, 1)
    await plain
  })

  t.test('on a single Redis, the creates and the reads of one turn are one script each, and each gets its own answer', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    await store.create(message({ owner: 'ownerkey000t' })) // loads the scripts
    await store.consume(newMessageId())
    const unlimited = message()
    const counted = message({ maxViews: 1 })
    const guarded = message({ readTokenHash: hashToken('the-read-token') })
    const owned = message({ owner: 'ownerkey000t' })
    let created: boolean[] = []
    const creates = await redisCommandsDuring(t, redis.url, async () => {
      created = await Promise.all([unlimited, counted, guarded, owned].map(async (m) => await store.create(m)))
    })
    t.same(created, [true, true, true, true])
    t.same(creates, ['evalsha', 'evalsha'], 'one script for the four creates, one for the owner\'s index')

    let read: unknown[] = []
    const reads = await redisCommandsDuring(t, redis.url, async () => {
      read = await Promise.all([
        store.consume(unlimited.id),
        store.consume(counted.id),
        store.consume(counted.id),
        store.consume(guarded.id),
        store.consume(guarded.id, hashToken('the-read-token')),
        store.consume(newMessageId())
      ].map(async (p) => await p.then((m) => m === null ? null : { id: m.id, remainingViews: m.remainingViews })))
    })
    t.same(reads, ['evalsha'], 'one script for the six reads')
    t.same(read, [
      { id: unlimited.id, remainingViews: null },
      { id: counted.id, remainingViews: 0 },
      null, // its one view taken by the read before it, in the same script
      null, // no read token: refused, and no view counted
      { id: guarded.id, remainingViews: null },
      null // unknown
    ])
    t.equal((await store.receipt(guarded.id))?.views, 1, 'the refused read counted nothing')
    t.equal((await store.receipt(counted.id))?.ended?.state, 'burned')

    // More reads in one turn than one script makes: split, every one counted.
    const many = Array.from({ length: 70 }, async () => await store.consume(unlimited.id))
    t.equal((await Promise.all(many)).filter((m) => m !== null).length, 70)
    t.equal((await store.receipt(unlimited.id))?.views, 71)
  })

  t.test('on a single Redis, a read or a create whose commands fail (a key of another type) fails alone, not the others of its turn', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    const fine = message()
    const broken = message()
    await store.create(fine)
    await store.create(broken)
    await client.del(receiptKey(broken.id))
    await client.lpush(receiptKey(broken.id), 'x') // HINCRBY fails: WRONGTYPE
    const [good, bad] = await Promise.allSettled([store.consume(fine.id), store.consume(broken.id)])
    t.equal(good?.status === 'fulfilled' ? good.value?.id : good?.reason, fine.id, 'the other read of the turn is answered')
    t.ok(bad?.status === 'rejected' && bad.reason instanceof StoreUnavailable, 'the broken one: 503')

    const taken = message()
    await client.lpush(receiptKey(taken.id), 'x') // its receipt's HSET fails
    const other = message()
    const results = await Promise.allSettled([store.create(taken), store.create(other)])
    t.ok(results[0]?.status === 'rejected' && results[0].reason instanceof StoreUnavailable, 'the broken create: 503')
    t.same(results[1], { status: 'fulfilled', value: true }, 'the other create of the turn is written')
    t.equal((await store.consume(other.id))?.id, other.id)
  })

  t.test('on a single Redis that is gone, every read and create of a batched turn is a 503, and nothing is left unhandled', async (t) => {
    const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
    client.on('error', () => {})
    t.teardown(() => { client.disconnect() })
    await new Promise((resolve) => client.once('ready', resolve))
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    const kept = message()
    await store.create(kept)
    client.disconnect()
    const unhandled = unhandledRejections(t)
    const results = await Promise.allSettled([store.consume(kept.id), store.consume(newMessageId()), store.create(message()), store.create(message())])
    t.same(results.map((r) => r.status === 'rejected' && r.reason instanceof StoreUnavailable), [true, true, true, true])
    await sleep(20)
    t.same(unhandled, [], 'no unhandled rejection')
  })

  t.test('with the server\'s client, whose batches skip the auto-pipeline: Redis gone, every read and create (owned too) of a turn is a 503, and nothing is left unhandled', async (t) => {
    const client = createRedisClient({ REDIS_URL: redis.url, redisClusterNodes: [] }, 'test')
    client.on('error', () => {})
    t.teardown(() => { client.disconnect() })
    t.ok(await waitUntilReady(client, 5000))
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    const kept = message({ owner: 'ownerkey000v' })
    await store.create(kept)
    client.disconnect()
    const unhandled = unhandledRejections(t)
    const results = await Promise.allSettled([store.consume(kept.id), store.create(message()), store.create(message({ owner: 'ownerkey000v' }))])
    t.same(results.map((r) => r.status === 'rejected' && r.reason instanceof StoreUnavailable), [true, true, true])
    await sleep(20)
    t.same(unhandled, [], 'no unhandled rejection')
  })

  t.test('messages written with receipts off are still counted right with receipts on (the counter), and the other way round (the receipt)', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const off = new RedisMessageStore(client, { receiptRetentionMs: 0 })
    const on = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    const before = message({ maxViews: 2, owner: OWNER })
    await off.create(before)
    t.equal((await on.consume(before.id))?.remainingViews, 1, 'counted on its view counter')
    t.equal(await viewsLeft(on, before.id), 1, 'listed with its views left')
    t.equal(await on.receipt(before.id), null, 'no receipt was made for it')
    t.equal((await on.consume(before.id))?.remainingViews, 0)
    t.equal(await on.consume(before.id), null, 'burned after two views')
    t.equal(await client.exists(messageKey(before.id), viewsKey(before.id)), 0, 'nothing left')

    const after = message({ maxViews: 2, owner: OWNER })
    await on.create(after)
    t.equal((await off.consume(after.id))?.remainingViews, 1, 'receipts switched off: still counted, on its receipt')
    t.equal(await viewsLeft(off, after.id), 1, 'listed with its views left')
    t.equal((await off.consume(after.id))?.remainingViews, 0)
    t.equal(await off.consume(after.id), null, 'burned after two views, not unlimited')

    const unlimited = message()
    await off.create(unlimited)
    t.equal((await on.consume(unlimited.id))?.remainingViews, null)
    t.ok(await on.deleteIf(unlimited.id, () => true), 'deleted')
    t.equal(await client.exists(messageKey(unlimited.id)), 0)
  })

  t.test('receipts switched off: the read that burns a message made with them drops its receipt and events (no key left without an expiry), and records no event', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const on = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    const off = new RedisMessageStore(client, { receiptRetentionMs: 0 })
    const m = message({ maxViews: 2, owner: OWNER })
    t.ok(await on.create(m, true), 'made with webhooks on')
    await on.consume(m.id)
    t.equal((await off.consume(m.id))?.remainingViews, 0)
    t.equal(await client.exists(messageKey(m.id), receiptKey(m.id), messageEventsKey(m.id)), 0, 'nothing left')
  })

  t.test('a read that finds a receipt counted past the limit (by another version\'s reads) finds nothing, and the message goes', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    const m = message({ maxViews: 1 })
    await store.create(m)
    await client.hset(receiptKey(m.id), 'v', 3)
    t.equal(await store.consume(m.id), null)
    t.equal(await client.exists(messageKey(m.id)), 0)
  })

  t.test('a message stored as the first receipts did (a view counter and a receipt without a header) is read, counted, peeked and deleted as before', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const now = Date.now()
    const store = new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
    const write = async (id: string, maxViews: number, notify: '0' | '1'): Promise<void> => {
      const body = JSON.stringify({ c: 'old', e: 0, t: now, x: now + 60_000, m: maxViews, o: OWNER, d: 'd'.repeat(43) })
      await client.zadd(ownerIndexKey(OWNER), now, id)
      await client.set(messageKey(id), body, 'PXAT', now + 60_000)
      await client.set(viewsKey(id), maxViews, 'PXAT', now + 60_000)
      await client.hset(receiptKey(id), { t: now, x: now + 60_000, m: maxViews, o: OWNER, d: 'd'.repeat(43), v: 0, w: notify })
      await client.pexpireat(receiptKey(id), now + 120_000)
    }
    const old = newMessageId()
    await write(old, 2, '0')
    t.equal(await viewsLeft(store, old), 2, 'listed with its views left')
    t.equal((await store.consume(old))?.remainingViews, 1)
    t.equal(await client.get(viewsKey(old)), '1', 'its view counter counts')
    t.match(await store.receipt(old), { views: 1, maxViews: 2 }, 'and its receipt')
    t.equal((await store.consume(old))?.remainingViews, 0)
    t.match(await store.receipt(old), { views: 2, ended: { state: 'burned' } })
    const deleted = newMessageId()
    await write(deleted, 3, '1')
    await store.consume(deleted)
    t.ok(await store.deleteIf(deleted, () => true))
    t.match(await store.receipt(deleted), { views: 1, ended: { state: 'deleted' } })
    t.same((await store.pending(deleted, Date.now()))?.events.map((e) => [e.type, e.views, e.remainingViews]), [['message.viewed', 1, 2], ['message.deleted', 1, 2]], 'its events as before')
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

  t.test('in a turn with creates of two owners, a failed index write fails its owner\'s creates only', async (t) => {
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const store = new RedisMessageStore(client)
    await client.set(ownerIndexKey('ownerkey000w'), 'not a sorted set') // ZADD fails with WRONGTYPE
    const doomed = message({ owner: 'ownerkey000w' })
    const fine = [message({ owner: 'ownerkey000x' }), message({ owner: 'ownerkey000x' })]
    const results = await Promise.allSettled([doomed, ...fine].map(async (m) => await store.create(m)))
    t.same(results.map((r) => r.status === 'fulfilled' ? r.value : r.reason instanceof StoreUnavailable ? 'StoreUnavailable' : r.reason), ['StoreUnavailable', true, true])
    t.equal(await client.exists(messageKey(doomed.id)), 0, 'the failed owner\'s message was taken back')
    t.same((await store.listOwned('ownerkey000x', 10, null)).items.map((m) => m.id).sort(), fine.map((m) => m.id).sort(), 'the other owner\'s are listed')
    await client.del(ownerIndexKey('ownerkey000w'))
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
    const unhandled = unhandledRejections(t)
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
