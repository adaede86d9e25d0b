import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import type { EventOutbox } from '../../src/storage/event-outbox.js'
import { MemoryMessageStore } from '../../src/storage/memory/memory-message-store.js'
import type { MessageStore } from '../../src/storage/message-store.js'
import { RedisMessageStore } from '../../src/storage/redis/redis-message-store.js'
import { type DeliveryJob, eventId, type JobSink, loggedId, type RelayTiming, type Subscribers, WebhookRelay } from '../../src/webhooks/relay.js'
import type { WebhookEventType } from '../../src/webhooks/payloads.js'
import { flushRedis, sleep, testRedis } from '../helper.js'
import { message } from '../storage/message-store.contract.js'

/**
 * The relay (issue 19): events recorded by the store reach the delivery queue once each per
 * subscribed endpoint, now or, if the instance that recorded them died first, from the schedule;
 * message.expired comes from the schedule once. The queue here is a list that keeps the first
 * job per (event, endpoint), as the real queues do (test/webhooks/queue.test.ts).
 */

const OWNER = 'ownerkey0042'
const quiet = { warn: () => {} }
const fast: RelayTiming = { pollMs: 20, leaseMs: 200, minGapMs: 50, maxGapMs: 200 }

class CollectingQueue implements JobSink {
  readonly jobs = new Map<string, DeliveryJob>()
  added = 0
  failing = false
  async enqueue (jobs: readonly DeliveryJob[]): Promise<void> {
    if (this.failing) throw new Error('queue down')
    for (const job of jobs) {
      this.added += 1
      const key = `${job.eventId}/${job.endpointId}`
      if (!this.jobs.has(key)) this.jobs.set(key, job)
    }
  }

  types (): string[] { return [...this.jobs.values()].map((job) => `${job.endpointId}:${job.type}`).sort() }
}

function subscribers (wanted: Record<string, WebhookEventType[]>): Subscribers {
  return {
    hasEndpoints: async (owner) => owner === OWNER,
    subscribers: async (owner, type) => owner === OWNER ? Object.entries(wanted).filter(([, types]) => types.includes(type)).map(([id]) => ({ id })) : []
  }
}

type Store = MessageStore & EventOutbox

async function until (t: Test, what: string, check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) { t.fail(`timed out waiting: ${what}`); return }
    await sleep(10)
  }
}

function relayContract (t: Test, makeStore: (t: Test) => Promise<Store>): void {
  t.test('a read is handed on at once: one job per subscribed endpoint, the payload without content, then acknowledged', async (t) => {
    const store = await makeStore(t)
    const queue = new CollectingQueue()
    const relay = new WebhookRelay(store, subscribers({ wh_a: ['message.viewed', 'message.burned'], wh_b: ['message.burned'] }), queue, quiet, fast)
    t.teardown(async () => { await relay.close() })
    store.onEventsRecorded = (id) => { relay.published(id) }
    const m = message({ owner: OWNER, maxViews: 1, content: 'the secret' })
    await relay.scheduleNew(m.id)
    await store.create(m, true)
    await store.consume(m.id)
    await until(t, 'jobs', () => queue.jobs.size === 3)
    t.same(queue.types(), ['wh_a:message.burned', 'wh_a:message.viewed', 'wh_b:message.burned'])
    const viewed = [...queue.jobs.values()].find((job) => job.type === 'message.viewed') as DeliveryJob
    t.equal(viewed.eventId, eventId(m.id, 1))
    t.match(viewed.eventId, /^[A-Za-z0-9_-]+$/, 'usable as webhook-id (no dots)')
    const body = JSON.parse(viewed.body)
    t.same(body.data, { id: m.id, owner: OWNER, state: 'burned', views: 1, remainingViews: 0 })
    t.equal(body.type, 'message.viewed')
    t.notOk(viewed.body.includes('the secret'))
    await sleep(50)
    t.same((await store.pending(m.id, Date.now()))?.events, [], 'acknowledged')
  })

  t.test('an instance that died before handing events on: another finds them from the schedule', async (t) => {
    const store = await makeStore(t)
    const m = message({ owner: OWNER, maxViews: 3 })
    const dead = new WebhookRelay(store, subscribers({ wh_a: ['message.viewed'] }), new CollectingQueue(), quiet, fast)
    await dead.scheduleNew(m.id)
    await store.create(m, true)
    await store.consume(m.id) // nobody is told: the instance "died" right after the read
    const queue = new CollectingQueue()
    const survivor = new WebhookRelay(store, subscribers({ wh_a: ['message.viewed'] }), queue, quiet, fast)
    t.teardown(async () => { await survivor.close() })
    survivor.start()
    await until(t, 'recovered', () => queue.jobs.size === 1)
    t.equal([...queue.jobs.values()][0]?.eventId, eventId(m.id, 1))
  })

  t.test('a queue that fails keeps the events in the outbox; they go on the next look', async (t) => {
    const store = await makeStore(t)
    const queue = new CollectingQueue()
    queue.failing = true
    const logged: string[] = []
    const relay = new WebhookRelay(store, subscribers({ wh_a: ['message.deleted'] }), queue, { warn: (obj, msg) => { logged.push(JSON.stringify({ ...obj, msg })) } }, fast)
    t.teardown(async () => { await relay.close() })
    store.onEventsRecorded = (id) => { relay.published(id) }
    const m = message({ owner: OWNER })
    await relay.scheduleNew(m.id)
    await store.create(m, true)
    await store.deleteIf(m.id, () => true)
    await sleep(50)
    t.equal(queue.jobs.size, 0)
    t.equal((await store.pending(m.id, Date.now()))?.events.length, 1, 'still in the outbox')
    t.ok(logged.length > 0, 'the failure is logged')
    t.notOk(logged.some((line) => line.includes(m.id)), 'with the first four characters of the message id only (an id is a capability)')
    queue.failing = false
    relay.start()
    await until(t, 'delivered from the schedule', () => queue.jobs.size === 1)
    t.equal([...queue.jobs.values()][0]?.type, 'message.deleted')
  })

  t.test('an expired message yields one message.expired, even with two instances polling', async (t) => {
    const store = await makeStore(t)
    const queue = new CollectingQueue()
    const relays = [0, 1].map(() => new WebhookRelay(store, subscribers({ wh_a: ['message.expired', 'message.viewed'] }), queue, quiet, fast))
    t.teardown(async () => { for (const relay of relays) await relay.close() })
    const m = message({ owner: OWNER, maxViews: 2, expiresAt: Date.now() + 150 })
    await relays[0]?.scheduleNew(m.id)
    await store.create(m, true)
    for (const relay of relays) relay.start()
    await until(t, 'expired', () => queue.jobs.size === 1)
    await sleep(300)
    const jobs = [...queue.jobs.values()]
    t.same(jobs.map((job) => job.type), ['message.expired'])
    t.same(JSON.parse(jobs[0]?.body ?? '{}').data, { id: m.id, owner: OWNER, state: 'expired', views: 0, remainingViews: 2 })
    t.equal(await store.claimDue(Date.now() + 10_000, 1000, 10).then((ids) => ids.includes(m.id)), false, 'off the schedule once ended and handed on')
  })

  t.test('events nobody subscribed to are acknowledged without a job', async (t) => {
    const store = await makeStore(t)
    const queue = new CollectingQueue()
    const relay = new WebhookRelay(store, subscribers({ wh_a: ['message.deleted'] }), queue, quiet, fast)
    t.teardown(async () => { await relay.close() })
    store.onEventsRecorded = (id) => { relay.published(id) }
    const m = message({ owner: OWNER })
    await store.create(m, true)
    await store.consume(m.id)
    await sleep(50)
    t.equal(queue.added, 0)
    t.same((await store.pending(m.id, Date.now()))?.events, [])
  })
}

t.test('memory store', async (t) => {
  relayContract(t, async (t) => {
    const store = new MemoryMessageStore(Date.now, undefined, { receiptRetentionMs: 60_000 })
    t.teardown(async () => { await store.close() })
    return store
  })
})

t.test('redis store', async (t) => {
  const redis = await testRedis()
  relayContract(t, async (t) => {
    await flushRedis(redis.url)
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    return new RedisMessageStore(client, { receiptRetentionMs: 60_000 })
  })
})

t.test('logs show ids as the access log does: four characters', async (t) => {
  t.equal(loggedId('AbCdEfGhIjKlMnOpQrStUv'), 'AbCd…')
  t.equal(loggedId(eventId('AbCdEfGhIjKlMnOpQrStUv', 12)), 'evt_AbCd…_12')
  t.equal(loggedId(eventId('Ab_dEfGhIjKlMnOpQrSt-v', 1)), 'evt_Ab_d…_1')
})
