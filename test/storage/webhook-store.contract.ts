import type { Test } from 'tap'
import { DELIVERY_LOG_MAX, type StoredDelivery, type StoredWebhookEndpoint, type WebhookStore } from '../../src/storage/webhook-store.js'

/** what the contract needs of a test */
export interface WebhookStoreTest { teardown: (fn: () => unknown) => void }

/** A stored endpoint with every field set (the store does not look inside the secrets). */
export function sampleEndpoint (id: string, overrides: Partial<StoredWebhookEndpoint> = {}): StoredWebhookEndpoint {
  return {
    id,
    url: `https://hooks.example.com/${id}`,
    events: ['message.viewed', 'message.burned'],
    description: `endpoint ${id}`,
    secret: `sealed-secret-of-${id}`,
    previousSecret: null,
    previousSecretUntil: null,
    createdAt: 1_700_000_000_000,
    disabledAt: null,
    failingSince: null,
    lastFailureAt: null,
    ...overrides
  }
}

export function sampleDelivery (eventId: string, overrides: Partial<StoredDelivery> = {}): StoredDelivery {
  return {
    eventId,
    type: 'message.viewed',
    attempts: 1,
    lastStatus: 200,
    lastAttemptAt: 1_700_000_000_100,
    nextAttemptAt: null,
    state: 'delivered',
    createdAt: 1_700_000_000_000,
    ...overrides
  }
}

/**
 * The one contract every webhook store keeps: the memory store, real Redis and a Redis Cluster
 * (all three in test/storage/webhook-store.test.ts). `open` gives an empty store.
 */
export function webhookStoreContract (t: Test, name: string, open: (t: WebhookStoreTest) => Promise<WebhookStore>): void {
  t.test(`${name}: add, get, list and remove, every field back`, async (t) => {
    const store = await open(t)
    t.same(await store.list('owner0000001'), [], 'no endpoints yet')
    t.equal(await store.get('owner0000001', 'wh_a'), null)
    const a = sampleEndpoint('wh_a')
    const b = sampleEndpoint('wh_b', {
      events: ['message.expired'],
      description: null,
      previousSecret: 'sealed-old',
      previousSecretUntil: 1_700_086_400_000,
      createdAt: 1_700_000_000_500,
      disabledAt: 1_700_000_001_000,
      failingSince: 1_699_000_000_000,
      lastFailureAt: 1_699_000_000_700
    })
    t.equal(await store.add('owner0000001', a, 10), 'added')
    t.equal(await store.add('owner0000001', b, 10), 'added')
    t.strictSame(await store.get('owner0000001', 'wh_a'), a)
    t.strictSame(await store.get('owner0000001', 'wh_b'), b, 'nulls and numbers come back as they went in')
    t.strictSame(await store.list('owner0000001'), [a, b])
    t.equal(await store.remove('owner0000001', 'wh_a'), true)
    t.equal(await store.get('owner0000001', 'wh_a'), null)
    t.strictSame(await store.list('owner0000001'), [b])
    t.equal(await store.remove('owner0000001', 'wh_a'), false, 'a second remove')
    t.equal(await store.remove('owner0000001', 'wh_none'), false, 'an unknown id')
  })

  t.test(`${name}: list is oldest first, then by id`, async (t) => {
    const store = await open(t)
    for (const [id, createdAt] of [['wh_c', 3000], ['wh_b', 1000], ['wh_z', 2000], ['wh_a', 2000]] as const) {
      t.equal(await store.add('owner0000002', sampleEndpoint(id, { createdAt }), 10), 'added')
    }
    t.same((await store.list('owner0000002')).map((e) => e.id), ['wh_b', 'wh_a', 'wh_z', 'wh_c'])
  })

  t.test(`${name}: an id already there is 'exists' and is not overwritten; 'full' at max`, async (t) => {
    const store = await open(t)
    const first = sampleEndpoint('wh_1')
    t.equal(await store.add('owner0000003', first, 2), 'added')
    t.equal(await store.add('owner0000003', sampleEndpoint('wh_1', { url: 'https://other.example/' }), 2), 'exists')
    t.strictSame(await store.get('owner0000003', 'wh_1'), first)
    t.equal(await store.add('owner0000003', sampleEndpoint('wh_2'), 2), 'added')
    t.equal(await store.add('owner0000003', sampleEndpoint('wh_3'), 2), 'full')
    t.equal(await store.remove('owner0000003', 'wh_1'), true)
    t.equal(await store.add('owner0000003', sampleEndpoint('wh_3'), 2), 'added', 'room again after a remove')
    t.equal(await store.add('owner0000004', sampleEndpoint('wh_1'), 0), 'full', 'max 0: nothing fits')
    await t.rejects(store.add('owner0000004', sampleEndpoint('wh_1'), Number.NaN), RangeError, 'max must be a whole number')
    await t.rejects(store.add('owner0000004', sampleEndpoint('wh_1'), -1), RangeError)
    t.same(await store.list('owner0000004'), [])
  })

  t.test(`${name}: 20 racing adds with max 10: exactly 10 added, the rest full`, async (t) => {
    const store = await open(t)
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await store.add('owner0000005', sampleEndpoint(`wh_race_${String(i).padStart(2, '0')}`, { createdAt: i }), 10)))
    t.equal(results.filter((r) => r === 'added').length, 10)
    t.equal(results.filter((r) => r === 'full').length, 10)
    t.same((await store.list('owner0000005')).map((e) => e.id).sort(),
      results.flatMap((r, i) => r === 'added' ? [`wh_race_${String(i).padStart(2, '0')}`] : []).sort(), 'the endpoints listed are those reported added')
  })

  t.test(`${name}: each owner has its own endpoints: another owner cannot get, change or remove them`, async (t) => {
    const store = await open(t)
    t.equal(await store.add('owner000000a', sampleEndpoint('wh_shared'), 1), 'added')
    t.equal(await store.add('owner000000b', sampleEndpoint('wh_shared', { url: 'https://b.example/' }), 1), 'added', 'the same id under another owner')
    t.equal(await store.add('owner000000a', sampleEndpoint('wh_other'), 1), 'full', 'each owner has its own max')
    t.equal(await store.get('owner000000c', 'wh_shared'), null)
    t.equal(await store.update('owner000000c', 'wh_shared', (e) => ({ ...e, url: 'https://evil.example/' })), null)
    t.equal(await store.remove('owner000000c', 'wh_shared'), false)
    t.equal(await store.recordDelivery('owner000000c', 'wh_shared', sampleDelivery('evt_1')), false)
    t.equal(await store.remove('owner000000a', 'wh_shared'), true)
    t.equal((await store.get('owner000000b', 'wh_shared'))?.url, 'https://b.example/', 'untouched by the other owner\'s remove')
    t.same(await store.list('owner000000c'), [])
  })

  t.test(`${name}: update replaces the endpoint and keeps its id; returning current writes nothing`, async (t) => {
    const store = await open(t)
    const endpoint = sampleEndpoint('wh_upd')
    await store.add('owner0000006', endpoint, 10)
    const updated = await store.update('owner0000006', 'wh_upd', (current) => ({ ...current, id: 'wh_moved', secret: 'sealed-new', previousSecret: current.secret, previousSecretUntil: 5 }))
    t.strictSame(updated, { ...endpoint, secret: 'sealed-new', previousSecret: endpoint.secret, previousSecretUntil: 5 })
    t.strictSame(await store.get('owner0000006', 'wh_upd'), updated)
    t.equal(await store.get('owner0000006', 'wh_moved'), null, 'the id cannot change')
    let seen: StoredWebhookEndpoint | null = null
    const same = await store.update('owner0000006', 'wh_upd', (current) => { seen = current; return current })
    t.strictSame(seen, updated, 'change sees the stored endpoint')
    t.strictSame(same, updated)
    t.equal(await store.update('owner0000006', 'wh_none', (current) => current), null, 'no such endpoint')
  })

  t.test(`${name}: 10 racing updates of one endpoint: none is lost`, async (t) => {
    const store = await open(t)
    await store.add('owner0000007', sampleEndpoint('wh_race', { description: '' }), 10)
    await Promise.all(Array.from({ length: 10 }, async (_, i) =>
      await store.update('owner0000007', 'wh_race', (current) => ({ ...current, description: `${current.description ?? ''}${i},` }))))
    const description = (await store.get('owner0000007', 'wh_race'))?.description ?? ''
    t.same(description.split(',').filter(Boolean).sort(), Array.from({ length: 10 }, (_, i) => String(i)).sort(), description)
  })

  t.test(`${name}: the delivery log: upsert by eventId keeping the first createdAt, newest first`, async (t) => {
    const store = await open(t)
    await store.add('owner0000008', sampleEndpoint('wh_log'), 10)
    t.same(await store.listDeliveries('owner0000008', 'wh_log'), [], 'empty at first')
    const pending = sampleDelivery('evt_a', { state: 'pending', lastStatus: 500, attempts: 1, nextAttemptAt: 1_700_000_060_000, createdAt: 1000 })
    t.equal(await store.recordDelivery('owner0000008', 'wh_log', pending), true)
    t.equal(await store.recordDelivery('owner0000008', 'wh_log', sampleDelivery('evt_b', { type: 'message.burned', createdAt: 2000 })), true)
    t.equal(await store.recordDelivery('owner0000008', 'wh_log', sampleDelivery('evt_c', { lastStatus: null, lastAttemptAt: null, attempts: 0, state: 'pending', createdAt: 1500 })), true)
    t.strictSame(await store.listDeliveries('owner0000008', 'wh_log'), [
      sampleDelivery('evt_b', { type: 'message.burned', createdAt: 2000 }),
      sampleDelivery('evt_c', { lastStatus: null, lastAttemptAt: null, attempts: 0, state: 'pending', createdAt: 1500 }),
      pending
    ], 'every field back, newest first')
    const retried = sampleDelivery('evt_a', { state: 'delivered', attempts: 2, lastStatus: 204, lastAttemptAt: 1_700_000_060_001, createdAt: 9999 })
    t.equal(await store.recordDelivery('owner0000008', 'wh_log', retried), true)
    const log = await store.listDeliveries('owner0000008', 'wh_log')
    t.equal(log.length, 3, 'one entry per event')
    t.strictSame(log[2], { ...retried, createdAt: 1000 }, 'updated in place: the first createdAt kept, and with it its place')
    t.same(await store.listDeliveries('owner0000008', 'wh_none'), [], 'an unknown endpoint has no log')
  })

  t.test(`${name}: the log ties are newest eventId first`, async (t) => {
    const store = await open(t)
    await store.add('owner0000009', sampleEndpoint('wh_tie'), 10)
    for (const eventId of ['evt_b', 'evt_c', 'evt_a']) await store.recordDelivery('owner0000009', 'wh_tie', sampleDelivery(eventId, { createdAt: 5 }))
    t.same((await store.listDeliveries('owner0000009', 'wh_tie')).map((d) => d.eventId), ['evt_c', 'evt_b', 'evt_a'])
  })

  t.test(`${name}: the log keeps the newest ${DELIVERY_LOG_MAX}`, async (t) => {
    const store = await open(t)
    await store.add('owner000000d', sampleEndpoint('wh_many'), 10)
    await store.add('owner000000d', sampleEndpoint('wh_other'), 10)
    // recorded out of order: the trim goes by createdAt, not by arrival
    const order = Array.from({ length: DELIVERY_LOG_MAX + 20 }, (_, i) => i).sort((a, b) => (a * 37) % 120 - (b * 37) % 120)
    for (const i of order) {
      t.equal(await store.recordDelivery('owner000000d', 'wh_many', sampleDelivery(`evt_${String(i).padStart(3, '0')}`, { createdAt: 10_000 + i })), true)
    }
    await store.recordDelivery('owner000000d', 'wh_other', sampleDelivery('evt_x'))
    const log = await store.listDeliveries('owner000000d', 'wh_many')
    t.equal(log.length, DELIVERY_LOG_MAX)
    t.same(log.map((d) => d.createdAt), Array.from({ length: DELIVERY_LOG_MAX }, (_, i) => 10_000 + DELIVERY_LOG_MAX + 19 - i), 'the newest, newest first')
    t.equal(await store.recordDelivery('owner000000d', 'wh_many', sampleDelivery('evt_old', { createdAt: 1 })), true)
    t.notOk((await store.listDeliveries('owner000000d', 'wh_many')).some((d) => d.eventId === 'evt_old'), 'an entry older than all the kept ones goes at once')
    t.equal((await store.listDeliveries('owner000000d', 'wh_other')).length, 1, 'each endpoint has its own log')
  })

  t.test(`${name}: removing an endpoint removes its log; no log is recorded for an endpoint that is gone`, async (t) => {
    const store = await open(t)
    await store.add('owner000000e', sampleEndpoint('wh_gone'), 10)
    await store.recordDelivery('owner000000e', 'wh_gone', sampleDelivery('evt_1'))
    t.equal(await store.remove('owner000000e', 'wh_gone'), true)
    t.equal(await store.recordDelivery('owner000000e', 'wh_gone', sampleDelivery('evt_2')), false, 'a delivery finishing after the remove')
    await store.add('owner000000e', sampleEndpoint('wh_gone'), 10)
    t.same(await store.listDeliveries('owner000000e', 'wh_gone'), [], 'an endpoint added again under the same id starts with an empty log')
  })
}
