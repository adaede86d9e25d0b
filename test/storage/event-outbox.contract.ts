import type { Test } from 'tap'
import { MAX_PENDING_EVENTS, type EventOutbox } from '../../src/storage/event-outbox.js'
import type { MessageStore } from '../../src/storage/message-store.js'
import { message } from './message-store.contract.js'

export interface OutboxUnderTest {
  store: MessageStore & EventOutbox
  /** moves the store's clock (memory) or waits for real time to pass (Redis) */
  elapse: (ms: number) => Promise<void>
}

const OWNER = 'ownerkey0042'

/**
 * The webhook outbox (issue 19): events recorded in the same step as their cause, kept until
 * acknowledged, message.expired exactly once, and the shared schedule. On memory, Redis and the
 * Redis Cluster (stores made with a receipt retention).
 */
export function eventOutboxContract (t: Test, setup: (t: Test) => Promise<OutboxUnderTest>): void {
  t.test('a notifying message records viewed, then viewed and burned at its last view; the store says so', async (t) => {
    const { store } = await setup(t)
    const told: string[] = []
    store.onEventsRecorded = (id) => { told.push(id) }
    const m = message({ owner: OWNER, maxViews: 2 })
    t.equal(await store.create(m, true), true)
    t.same(await store.pending(m.id, Date.now()), { owner: OWNER, createdAt: m.createdAt, expiresAt: m.expiresAt, ended: false, events: [] })
    await store.consume(m.id)
    await store.consume(m.id)
    t.same(told, [m.id, m.id], 'told once per read')
    const pending = await store.pending(m.id, Date.now())
    t.equal(pending?.ended, true)
    t.same(pending?.events.map((e) => [e.seq, e.type, e.views, e.remainingViews, e.state]), [
      [1, 'message.viewed', 1, 1, 'live'],
      [2, 'message.viewed', 2, 0, 'burned'],
      [3, 'message.burned', 2, 0, 'burned']
    ])
    t.ok(pending?.events.every((e) => typeof e.at === 'number' && e.at > 0))
  })

  t.test('acknowledge drops events up to a sequence number, never a later one', async (t) => {
    const { store } = await setup(t)
    const m = message({ owner: OWNER })
    await store.create(m, true)
    await store.consume(m.id)
    await store.consume(m.id)
    await store.acknowledge(m.id, 1)
    await store.consume(m.id)
    t.same((await store.pending(m.id, Date.now()))?.events.map((e) => e.seq), [2, 3])
    await store.acknowledge(m.id, 3)
    t.same((await store.pending(m.id, Date.now()))?.events, [])
    await store.acknowledge(m.id, 3)
    t.same((await store.pending(m.id, Date.now()))?.events, [], 'acknowledging again changes nothing')
  })

  t.test(`at most ${MAX_PENDING_EVENTS} events wait (the queue out of reach under a flood of reads): the oldest go, the last ones stay`, async (t) => {
    const { store } = await setup(t)
    const m = message({ owner: OWNER })
    await store.create(m, true)
    const reads = MAX_PENDING_EVENTS + 3
    for (let i = 0; i < reads; i += 50) await Promise.all(Array.from({ length: Math.min(50, reads - i) }, async () => await store.consume(m.id)))
    t.ok(await store.deleteIf(m.id, () => true))
    const first = reads + 1 - MAX_PENDING_EVENTS + 1
    t.same((await store.pending(m.id, Date.now()))?.events.map((e) => e.seq).slice(0, 3), [first, first + 1, first + 2], 'the oldest dropped')
    await store.acknowledge(m.id, reads)
    t.same((await store.pending(m.id, Date.now()))?.events.map((e) => [e.seq, e.type]), [[reads + 1, 'message.deleted']], 'the delete kept')
  })

  t.test('a delete records message.deleted with the views it had', async (t) => {
    const { store } = await setup(t)
    const m = message({ owner: OWNER, maxViews: 5 })
    await store.create(m, true)
    await store.consume(m.id)
    await store.acknowledge(m.id, 1)
    t.equal(await store.deleteIf(m.id, () => true), true)
    const pending = await store.pending(m.id, Date.now())
    t.equal(pending?.ended, true)
    t.same(pending?.events.map((e) => [e.type, e.views, e.remainingViews, e.state]), [['message.deleted', 1, 4, 'deleted']])
  })

  t.test('message.expired is recorded once, however many instances look, and only with no other end', async (t) => {
    const { store, elapse } = await setup(t)
    const m = message({ owner: OWNER, maxViews: 3, expiresAt: Date.now() + 300 })
    const burned = message({ owner: OWNER, maxViews: 1, expiresAt: Date.now() + 300 })
    await store.create(m, true)
    await store.create(burned, true)
    await store.consume(m.id)
    await store.consume(burned.id)
    t.same((await store.pending(m.id, Date.now()))?.events.map((e) => e.type), ['message.viewed'], 'not before its expiry')
    await elapse(450)
    const looks = await Promise.all(Array.from({ length: 10 }, async () => await store.pending(m.id, Date.now() + 450)))
    for (const look of looks) {
      t.same(look?.events.map((e) => e.type), ['message.viewed', 'message.expired'])
      t.equal(look?.ended, true)
    }
    const expired = looks[0]?.events[1]
    t.same(expired && [expired.at, expired.views, expired.remainingViews, expired.state], [m.expiresAt, 1, 2, 'expired'])
    t.same((await store.pending(burned.id, Date.now() + 450))?.events.map((e) => e.type), ['message.viewed', 'message.burned'], 'a burned message never expires')
  })

  t.test('a message made without notify, or anonymous, records nothing and is not told', async (t) => {
    const { store } = await setup(t)
    const told: string[] = []
    store.onEventsRecorded = (id) => { told.push(id) }
    const quiet = message({ owner: OWNER, maxViews: 1 })
    const anonymous = message({ maxViews: 2 })
    await store.create(quiet)
    await store.create(anonymous, true)
    await store.consume(quiet.id)
    await store.consume(anonymous.id)
    await store.deleteIf(anonymous.id, () => true)
    t.same(told, [])
    t.equal(await store.pending(quiet.id, Date.now()), null)
    t.equal(await store.pending(anonymous.id, Date.now()), null)
    t.equal((await store.receipt(quiet.id))?.views, 1, 'the receipt counts all the same')
  })

  t.test('the schedule: due messages are claimed once per lease; unschedule removes', async (t) => {
    const { store } = await setup(t)
    const now = Date.now()
    const ids = ['AAAAAAAAAAAAAAAAAAAAAA', 'BBBBBBBBBBBBBBBBBBBBBB', 'CCCCCCCCCCCCCCCCCCCCCC']
    await store.schedule(ids[0] as string, now - 10)
    await store.schedule(ids[1] as string, now - 5)
    await store.schedule(ids[2] as string, now + 60_000)
    const [first, second] = await Promise.all([store.claimDue(now, 1000, 10), store.claimDue(now, 1000, 10)])
    t.same([...(first ?? []), ...(second ?? [])].sort(), [ids[0], ids[1]], 'each due id to one claimer')
    t.same(await store.claimDue(now + 500, 1000, 10), [], 'hidden during the lease')
    t.same((await store.claimDue(now + 1001, 1000, 1)).length, 1, 'back after it, up to the limit')
    await store.unschedule(ids[0] as string)
    await store.unschedule(ids[1] as string)
    t.same(await store.claimDue(now + 5000, 1000, 10), [])
    t.same(await store.claimDue(now + 61_000, 1000, 10), [ids[2]])
  })

  t.test('under 50 racing readers, one viewed event per successful read, numbered without gaps', async (t) => {
    const { store } = await setup(t)
    const m = message({ owner: OWNER, maxViews: 7 })
    await store.create(m, true)
    await Promise.all(Array.from({ length: 50 }, async () => await store.consume(m.id)))
    const events = (await store.pending(m.id, Date.now()))?.events ?? []
    t.same(events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8])
    t.same(events.filter((e) => e.type === 'message.viewed').map((e) => e.views), [1, 2, 3, 4, 5, 6, 7])
    t.equal(events.at(-1)?.type, 'message.burned')
  })
}
