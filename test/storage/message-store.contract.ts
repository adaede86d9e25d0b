import type { Test } from 'tap'
import { hashToken, newMessageId } from '../../src/ids.js'
import * as receiptRules from '../../src/receipts/receipt.js'
import type { MessageStore, StoredMessage } from '../../src/storage/message-store.js'

export interface StoreUnderTest {
  store: MessageStore
  /** moves the store's clock (memory) or waits for real time to pass (Redis) */
  elapse: (ms: number) => Promise<void>
}

export function message (overrides: Partial<StoredMessage> = {}): StoredMessage {
  const now = Date.now()
  return {
    id: newMessageId(),
    content: 'hello',
    encrypted: false,
    createdAt: now,
    expiresAt: now + 60_000,
    maxViews: null,
    owner: null,
    deleteTokenHash: hashToken('token'),
    readTokenHash: null,
    ...overrides
  }
}

/**
 * The behaviour every MessageStore must have. Runs against the memory store and real
 * Redis (test/storage/message-store.test.ts).
 */
export function messageStoreContract (t: Test, setup: (t: Test) => Promise<StoreUnderTest>): void {
  t.test('create then consume returns the message as stored', async (t) => {
    const { store } = await setup(t)
    const m = message({ content: 'ünïcödé ✓ \u0000 <script>', encrypted: true })
    t.equal(await store.create(m), true)
    const read = await store.consume(m.id)
    t.same(read, { ...m, remainingViews: null })
  })

  t.test('create never overwrites an existing id', async (t) => {
    const { store } = await setup(t)
    const first = message({ content: 'first' })
    t.equal(await store.create(first), true)
    t.equal(await store.create({ ...first, content: 'second', maxViews: 3 }), false)
    t.equal((await store.consume(first.id))?.content, 'first')
  })

  t.test('a create refused for a taken id leaves nothing in the new owner\'s list', async (t) => {
    const { store } = await setup(t)
    const first = message({ owner: 'ownerkey000a' })
    t.equal(await store.create(first), true)
    t.equal(await store.create({ ...first, owner: 'ownerkey000b', content: 'other' }), false)
    t.same(await store.listOwned('ownerkey000b', 10, null), { items: [], nextCursor: null })
    t.same((await store.listOwned('ownerkey000a', 10, null)).items.map((m) => m.id), [first.id])
  })

  t.test('an unknown id is null', async (t) => {
    const { store } = await setup(t)
    t.equal(await store.consume(newMessageId()), null)
  })

  t.test('maxViews N: exactly N reads, counting down, then gone', async (t) => {
    const { store } = await setup(t)
    const m = message({ maxViews: 3 })
    await store.create(m)
    t.equal((await store.consume(m.id))?.remainingViews, 2)
    t.equal((await store.consume(m.id))?.remainingViews, 1)
    t.equal((await store.consume(m.id))?.remainingViews, 0)
    t.equal(await store.consume(m.id), null)
  })

  t.test('maxViews holds under 50 racing readers', async (t) => {
    const { store } = await setup(t)
    const m = message({ maxViews: 7 })
    await store.create(m)
    const reads = await Promise.all(Array.from({ length: 50 }, async () => await store.consume(m.id)))
    const served = reads.filter((r) => r !== null)
    t.equal(served.length, 7)
    t.same(served.map((r) => r?.remainingViews).sort(), [0, 1, 2, 3, 4, 5, 6])
  })

  t.test('a read token: without it or with a wrong one, null and no view counted', async (t) => {
    const { store } = await setup(t)
    const token = hashToken('the-read-token-of-this-message')
    const counted = message({ maxViews: 2, readTokenHash: token })
    const unlimited = message({ readTokenHash: token })
    await store.create(counted)
    await store.create(unlimited)
    for (const m of [counted, unlimited]) {
      t.equal(await store.consume(m.id), null, 'no token')
      t.equal(await store.consume(m.id, null), null, 'null token')
      t.equal(await store.consume(m.id, hashToken('another-read-token-entirely')), null, 'a wrong token')
      t.equal(await store.consume(m.id, token.slice(0, -1)), null, 'a shorter one')
    }
    t.same(await store.consume(counted.id, token), { ...counted, remainingViews: 1 }, 'the refused reads counted nothing')
    t.equal((await store.consume(counted.id, token))?.remainingViews, 0)
    t.equal(await store.consume(counted.id, token), null, 'burned by the two right reads')
    t.same(await store.consume(unlimited.id, token), { ...unlimited, remainingViews: null })
    const open = message({ maxViews: 1 })
    await store.create(open)
    t.equal((await store.consume(open.id, token))?.remainingViews, 0, 'a message without a read token ignores one presented')
  })

  t.test('a read token under racing readers: exactly N with it succeed, none without, and those consume nothing', async (t) => {
    const { store } = await setup(t)
    const token = hashToken('racing-read-token-0123456789')
    const m = message({ maxViews: 7, readTokenHash: token })
    await store.create(m)
    const without = await Promise.all(Array.from({ length: 50 }, async (_, i) => await store.consume(m.id, i % 2 === 0 ? null : hashToken(`wrong-${i}-read-token-000000`))))
    t.equal(without.filter((r) => r !== null).length, 0, 'none of 50 readers without the token')
    const mixed = await Promise.all(Array.from({ length: 100 }, async (_, i) => await store.consume(m.id, i % 2 === 0 ? token : null)))
    const served = mixed.filter((r) => r !== null)
    t.equal(served.length, 7, 'exactly maxViews of the 50 with the token, while 50 without race them')
    t.ok(mixed.every((r, i) => r === null || i % 2 === 0), 'every success had the token')
    t.same(served.map((r) => r?.remainingViews).sort(), [0, 1, 2, 3, 4, 5, 6])
  })

  t.test('a message expires at expiresAt', async (t) => {
    const { store, elapse } = await setup(t)
    const m = message({ expiresAt: Date.now() + 300 })
    await store.create(m)
    await elapse(450)
    t.equal(await store.consume(m.id), null)
    t.equal(await store.create({ ...m, expiresAt: Date.now() + 60_000 }), true, 'the id is free again')
  })

  t.test('deleteIf deletes only when the check accepts', async (t) => {
    const { store } = await setup(t)
    const m = message()
    await store.create(m)
    t.equal(await store.deleteIf(m.id, () => false), false)
    t.not(await store.consume(m.id), null, 'still there after a refused delete')
    t.equal(await store.deleteIf(m.id, (stored) => stored.deleteTokenHash === m.deleteTokenHash), true)
    t.equal(await store.consume(m.id), null)
    t.equal(await store.deleteIf(m.id, () => true), false, 'unknown id')
  })

  t.test('a burned message can no longer be deleted', async (t) => {
    const { store } = await setup(t)
    const m = message({ maxViews: 1 })
    await store.create(m)
    await store.consume(m.id)
    t.equal(await store.deleteIf(m.id, () => true), false)
  })

  t.test('listOwned: the owner\'s live messages, newest first, paginated', async (t) => {
    const { store } = await setup(t)
    const base = Date.now()
    const owned = Array.from({ length: 5 }, (_, i) => message({ owner: 'ownerkey0001', createdAt: base + i, maxViews: i === 0 ? 2 : null }))
    for (const m of owned) await store.create(m)
    await store.create(message({ owner: 'otherkey0002' }))
    await store.create(message())
    const burned = message({ owner: 'ownerkey0001', createdAt: base + 10, maxViews: 1 })
    await store.create(burned)
    await store.consume(burned.id)

    const first = await store.listOwned('ownerkey0001', 2, null)
    t.same(first.items.map((m) => m.id), [owned[4]?.id, owned[3]?.id])
    t.type(first.nextCursor, 'string')
    const second = await store.listOwned('ownerkey0001', 2, first.nextCursor)
    t.same(second.items.map((m) => m.id), [owned[2]?.id, owned[1]?.id])
    const third = await store.listOwned('ownerkey0001', 2, second.nextCursor)
    t.same(third.items.map((m) => m.id), [owned[0]?.id])
    t.equal(third.nextCursor, null)
    t.same(third.items[0], { id: owned[0]?.id, createdAt: owned[0]?.createdAt, expiresAt: owned[0]?.expiresAt, remainingViews: 2 })
    t.same((await store.listOwned('nobody000000', 10, null)), { items: [], nextCursor: null })
  })

  t.test('ping resolves while the store answers', async (t) => {
    const { store } = await setup(t)
    await t.resolves(store.ping())
  })
}

/** The receipt retention the receipt contract's stores are made with (short, so Redis can wait it out). */
export const TEST_RECEIPT_RETENTION_MS = 1500

/**
 * Receipts (API.md section 1): what every MessageStore made with a receipt retention of
 * TEST_RECEIPT_RETENTION_MS must do. Runs on memory, Redis and the Redis Cluster.
 */
export function receiptContract (t: Test, setup: (t: Test) => Promise<StoreUnderTest>): void {
  const { receiptView } = receiptRules

  t.test('a new message has a live receipt with no view; reads count without the receipt counting any', async (t) => {
    const { store } = await setup(t)
    const m = message({ maxViews: 3, owner: 'ownerkey0001' })
    await store.create(m)
    const fresh = await store.receipt(m.id)
    t.same(fresh, { id: m.id, createdAt: m.createdAt, expiresAt: m.expiresAt, maxViews: 3, views: 0, firstViewedAt: null, lastViewedAt: null, ended: null, owner: 'ownerkey0001', deleteTokenHash: m.deleteTokenHash })
    t.same(await store.receipt(m.id), fresh, 'asking again counts nothing')
    t.equal((await store.consume(m.id))?.remainingViews, 2, 'the message still has its views')
  })

  t.test('each read counts on the receipt: first and last view times, then burned at the last view', async (t) => {
    const { store, elapse } = await setup(t)
    const m = message({ maxViews: 2 })
    await store.create(m)
    await store.consume(m.id)
    const once = await store.receipt(m.id)
    t.equal(once?.views, 1)
    t.ok(once?.firstViewedAt !== null && once?.firstViewedAt === once?.lastViewedAt)
    await elapse(20)
    await store.consume(m.id)
    const burned = await store.receipt(m.id)
    t.equal(burned?.views, 2)
    t.equal(burned?.firstViewedAt, once?.firstViewedAt, 'the first view stays')
    t.ok((burned?.lastViewedAt ?? 0) > (once?.lastViewedAt ?? Infinity), 'the last view moved')
    t.same(burned?.ended, { state: 'burned', at: burned?.lastViewedAt })
    t.equal(receiptView(burned!, Date.now()).state, 'burned')
    t.equal(await store.consume(m.id), null, 'the message is gone')
  })

  t.test('an unlimited message: every read counts, the receipt stays live', async (t) => {
    const { store } = await setup(t)
    const m = message()
    await store.create(m)
    for (let i = 0; i < 3; i++) await store.consume(m.id)
    const receipt = await store.receipt(m.id)
    t.equal(receipt?.views, 3)
    t.equal(receipt?.maxViews, null)
    t.equal(receipt?.ended, null)
  })

  t.test('reads refused for a missing or wrong read token count nothing on the receipt', async (t) => {
    const { store } = await setup(t)
    const token = hashToken('receipt-read-token-0123456789')
    const m = message({ maxViews: 2, readTokenHash: token })
    await store.create(m)
    await store.consume(m.id)
    await store.consume(m.id, hashToken('wrong-read-token-0123456789'))
    t.equal((await store.receipt(m.id))?.views, 0)
    await store.consume(m.id, token)
    t.equal((await store.receipt(m.id))?.views, 1)
  })

  t.test('under 50 racing readers the receipt counts exactly the successful reads', async (t) => {
    const { store } = await setup(t)
    const counted = message({ maxViews: 7 })
    const unlimited = message()
    await store.create(counted)
    await store.create(unlimited)
    const reads = await Promise.all(Array.from({ length: 50 }, async (_, i) => await store.consume(i % 2 === 0 ? counted.id : unlimited.id)))
    const servedCounted = reads.filter((r) => r?.id === counted.id).length
    const servedUnlimited = reads.filter((r) => r?.id === unlimited.id).length
    t.equal(servedCounted, 7)
    t.equal((await store.receipt(counted.id))?.views, servedCounted)
    t.equal((await store.receipt(counted.id))?.ended?.state, 'burned')
    t.equal(servedUnlimited, 25)
    t.equal((await store.receipt(unlimited.id))?.views, servedUnlimited)
  })

  t.test('a delete marks the receipt deleted; a refused delete changes nothing', async (t) => {
    const { store } = await setup(t)
    const m = message({ maxViews: 5 })
    await store.create(m)
    await store.consume(m.id)
    t.equal(await store.deleteIf(m.id, () => false), false)
    t.equal((await store.receipt(m.id))?.ended, null)
    t.equal(await store.deleteIf(m.id, () => true), true)
    const receipt = await store.receipt(m.id)
    t.equal(receipt?.views, 1)
    t.equal(receipt?.ended?.state, 'deleted')
    t.equal(receiptView(receipt!, Date.now()).state, 'deleted')
    t.equal(await store.deleteIf(m.id, () => true), false, 'deleting again finds nothing; the receipt keeps its first end')
    t.equal((await store.receipt(m.id))?.ended?.at, receipt?.ended?.at)
  })

  t.test('a burned message\'s receipt is kept for the retention after its end, then gone', async (t) => {
    const { store, elapse } = await setup(t)
    const m = message({ maxViews: 1 })
    await store.create(m)
    await store.consume(m.id)
    await elapse(TEST_RECEIPT_RETENTION_MS - 900)
    t.equal((await store.receipt(m.id))?.ended?.state, 'burned', 'still kept')
    await elapse(1100)
    t.equal(await store.receipt(m.id), null, 'gone after the retention')
  })

  t.test('an expired message: the receipt says expired (no timer wrote it), kept for the retention after expiresAt', async (t) => {
    const { store, elapse } = await setup(t)
    const m = message({ expiresAt: Date.now() + 400, maxViews: 3 })
    await store.create(m)
    await store.consume(m.id)
    await elapse(600)
    t.equal(await store.consume(m.id), null, 'the message expired')
    const receipt = await store.receipt(m.id)
    t.equal(receipt?.views, 1)
    t.equal(receipt?.ended, null, 'nothing was written at expiry')
    const view = receiptView(receipt!, Date.now() + 600)
    t.equal(view.state, 'expired')
    t.equal(view.endedAt, new Date(m.expiresAt).toISOString())
    await elapse(TEST_RECEIPT_RETENTION_MS)
    t.equal(await store.receipt(m.id), null, 'gone after expiresAt + the retention')
  })

  t.test('an unknown id has no receipt', async (t) => {
    const { store } = await setup(t)
    t.equal(await store.receipt(newMessageId()), null)
  })
}

/** A store made without receipts (RECEIPT_RETENTION_SECONDS=0) keeps none and reads as before. */
export function noReceiptContract (t: Test, setup: (t: Test) => Promise<StoreUnderTest>): void {
  t.test('no receipt is kept, reads and deletes work as without', async (t) => {
    const { store } = await setup(t)
    const m = message({ maxViews: 2 })
    await store.create(m)
    t.equal((await store.consume(m.id))?.remainingViews, 1)
    t.equal(await store.receipt(m.id), null)
    t.equal(await store.deleteIf(m.id, () => true), true)
    t.equal(await store.receipt(m.id), null)
  })
}
