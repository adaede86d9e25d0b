import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { type ConfigOverrides, loadConfig } from '../../src/config.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { flushRedis, sleep, testRedis } from '../helper.js'
import { SUBSCRIBERS_CACHE_MS } from '../../src/webhooks/subscribers.js'
import { WebhookReceiver } from './receiver.js'

/**
 * Webhooks end to end (API.md section 9, issue 19): a service registers an endpoint (a local
 * HTTPS receiver that verifies every delivery with the standardwebhooks verifier), its messages
 * are read, burned, deleted and expire, and each event arrives once, signed; a restart and a
 * second instance lose and duplicate nothing. (What a read costs in store commands, with and
 * without webhooks, is counted in test/storage/event-outbox.test.ts; retries, the per-endpoint cap and disabling are in worker/queue tests; the relay's
 * crash recovery in relay.test.ts.)
 */

type App = Awaited<ReturnType<typeof buildApp>>

/** The app as production builds it, with webhooks allowed to 127.0.0.1, the receiver's CA trusted, and short timings. */
async function start (t: Test, store: 'memory' | 'redis', receiver: WebhookReceiver, options: { flush?: boolean, config?: ConfigOverrides } = {}): Promise<App> {
  const overrides: ConfigOverrides = { LOG_LEVEL: 'silent', RATE_LIMIT_CREATE_MAX: 100_000, RATE_LIMIT_READ_MAX: 100_000, PENALTY_EXEMPT_IPS: '127.0.0.1', WEBHOOK_ALLOW_PRIVATE: 'true', ...options.config }
  if (store === 'redis') {
    const redis = await testRedis()
    if (options.flush !== false) await flushRedis(redis.url)
    overrides.REDIS_URL = redis.url
  }
  const config = { ...loadConfig({}, overrides), webhookTls: { ca: receiver.ca }, webhookTiming: { scale: 0.001, timeoutMs: 2000, pollMs: 50 } }
  const app = await buildApp(config)
  t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

async function register (app: App, receiver: WebhookReceiver, events: string[] = ['message.viewed', 'message.burned', 'message.deleted', 'message.expired']): Promise<{ headers: Record<string, string>, keyId: string, endpointId: string }> {
  const key = await makeKey(app, ['messages:read', 'messages:write', 'messages:delete'])
  const headers = withKey(key.key)
  const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers, payload: { url: receiver.url(), events } })
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode} ${res.body}`)
  receiver.verifyWith([res.json().secret])
  return { headers, keyId: key.id, endpointId: res.json().id }
}

async function createOwned (app: App, headers: Record<string, string>, payload: Record<string, unknown>): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/messages', headers, payload })
  if (res.statusCode !== 201) throw new Error(`create: ${res.statusCode} ${res.body}`)
  return res.json().id
}

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: each event type arrives once, signed, with the receipt's counts and no content`, async (t) => {
    const receiver = await WebhookReceiver.start(t)
    const app = await start(t, store, receiver)
    const { headers, keyId, endpointId } = await register(app, receiver)

    const burned = await createOwned(app, headers, { content: 'secret one', maxViews: 2 })
    t.equal((await app.inject(`/msg/${burned}`)).statusCode, 200)
    t.equal((await app.inject({ url: `/api/v1/messages/${burned}`, headers })).statusCode, 200)
    const deleted = await createOwned(app, headers, { content: 'secret two' })
    t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/messages/${deleted}`, headers })).statusCode, 204)
    // The API's shortest TTL is a minute: the expiring message is made through the domain service.
    const expiring = (await app.messages.createOwned({ content: 'secret three', ttl: 1, maxViews: 3 }, { maxBytes: 100, defaultTtlSeconds: 60, maxTtlSeconds: 60 }, keyId)).id

    const deliveries = await receiver.waitFor(5, 15_000)
    await sleep(300)
    t.equal(receiver.received.length, 5, 'nothing more')
    for (const delivery of deliveries) {
      t.same(delivery.verifiedBy.length, 1, `${delivery.webhookId}: the signature verifies with the endpoint's secret`)
      t.equal(delivery.method, 'POST')
      t.notOk(delivery.body.includes('secret'), 'no content')
    }
    const byType = new Map(deliveries.map((d) => [JSON.parse(d.body).type as string, JSON.parse(d.body)]))
    const viewed = deliveries.filter((d) => JSON.parse(d.body).type === 'message.viewed').map((d) => JSON.parse(d.body).data)
    t.same(viewed, [
      { id: burned, owner: keyId, state: 'live', views: 1, remainingViews: 1 },
      { id: burned, owner: keyId, state: 'burned', views: 2, remainingViews: 0 }
    ])
    t.same(byType.get('message.burned')?.data, { id: burned, owner: keyId, state: 'burned', views: 2, remainingViews: 0 })
    t.same(byType.get('message.deleted')?.data, { id: deleted, owner: keyId, state: 'deleted', views: 0, remainingViews: null })
    t.same(byType.get('message.expired')?.data, { id: expiring, owner: keyId, state: 'expired', views: 0, remainingViews: 3 })
    t.equal(new Set(deliveries.map((d) => d.webhookId)).size, 5, 'five events, five ids')
    t.ok(deliveries.every((d) => /^evt_[A-Za-z0-9_-]{22}_\d+$/.test(d.webhookId)))

    const log = await app.inject({ url: `/api/v1/webhooks/${endpointId}/deliveries`, headers })
    t.equal(log.statusCode, 200)
    t.equal(log.json().items.length, 5)
    t.ok(log.json().items.every((item: { state: string, attempts: number }) => item.state === 'delivered' && item.attempts === 1))
  })

  t.test(`${store}: an endpoint only gets the types it asked for; a message created before any endpoint records nothing`, async (t) => {
    const receiver = await WebhookReceiver.start(t)
    const app = await start(t, store, receiver)
    const key = await makeKey(app, ['messages:read', 'messages:write'])
    const headers = withKey(key.key)
    const early = await createOwned(app, headers, { content: 'before', maxViews: 1 })
    const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers, payload: { url: receiver.url(), events: ['message.burned'] } })
    receiver.verifyWith([res.json().secret])
    await app.inject(`/msg/${early}`)
    const later = await createOwned(app, headers, { content: 'after', maxViews: 1 })
    await app.inject(`/msg/${later}`)
    const [only] = await receiver.waitFor(1)
    await sleep(300)
    t.equal(receiver.received.length, 1)
    t.match(JSON.parse(only?.body ?? '{}'), { type: 'message.burned', data: { id: later } })
  })

  t.test(`${store}: once its key is revoked, an endpoint gets nothing more; the event's log entry says failed`, async (t) => {
    const receiver = await WebhookReceiver.start(t)
    const app = await start(t, store, receiver)
    const { headers, keyId, endpointId } = await register(app, receiver, ['message.viewed'])
    const id = await createOwned(app, headers, { content: 'before the revocation', maxViews: 2 })
    t.equal(await app.keyStore.revoke(keyId, Date.now()), 'revoked')
    t.equal((await app.inject(`/msg/${id}`)).statusCode, 200, 'its message is still readable by its link')
    for (let i = 0; i < 100 && (await app.webhookStore.listDeliveries(keyId, endpointId)).length === 0; i++) await sleep(50)
    await sleep(300)
    t.equal(receiver.received.length, 0, 'nothing sent')
    t.match(await app.webhookStore.listDeliveries(keyId, endpointId), [{ type: 'message.viewed', state: 'failed', attempts: 0, nextAttemptAt: null }])
  })
}

t.test(`redis: an endpoint registered on one instance counts on another within ${SUBSCRIBERS_CACHE_MS} ms (for messages created from then on)`, async (t) => {
  const receiver = await WebhookReceiver.start(t)
  const a = await start(t, 'redis', receiver)
  const b = await start(t, 'redis', receiver, { flush: false })
  const key = await makeKey(a, ['messages:read', 'messages:write'])
  const headers = withKey(key.key)
  const before = await createOwned(b, headers, { content: 'b knows of no endpoint yet', maxViews: 2 })
  const res = await a.inject({ method: 'POST', url: '/api/v1/webhooks', headers, payload: { url: receiver.url(), events: ['message.viewed'] } })
  t.equal(res.statusCode, 201)
  receiver.verifyWith([res.json().secret])
  await sleep(SUBSCRIBERS_CACHE_MS + 200)
  const after = await createOwned(b, headers, { content: 'b has seen it', maxViews: 2 })
  t.equal((await b.inject(`/msg/${before}`)).statusCode, 200)
  t.equal((await b.inject(`/msg/${after}`)).statusCode, 200)
  const [delivery] = await receiver.waitFor(1, 10_000)
  await sleep(300)
  t.equal(receiver.received.length, 1, 'one event: the message made before b saw the endpoint records none (decided at create)')
  t.match(JSON.parse(delivery?.body ?? '{}'), { type: 'message.viewed', data: { id: after, views: 1 } })
})

t.test('redis: a restart loses no event, and two instances deliver each event once', async (t) => {
  const receiver = await WebhookReceiver.start(t, { statuses: [503, 503] })
  const first = await start(t, 'redis', receiver)
  const { headers } = await register(first, receiver, ['message.viewed'])
  const id = await createOwned(first, headers, { content: 'x', maxViews: 5 })
  await first.inject(`/msg/${id}`)
  await first.close() // the first attempts failed or never ran: the job waits in Redis
  const second = await start(t, 'redis', receiver, { flush: false })
  const third = await start(t, 'redis', receiver, { flush: false })
  for (let i = 0; i < 4; i++) await (i % 2 === 0 ? second : third).inject(`/msg/${id}`)
  await receiver.waitFor(7, 20_000) // 2 refused + 5 events
  await sleep(500)
  const delivered = receiver.received.filter((d) => d.status < 300)
  t.equal(delivered.length, 5, 'five views, five deliveries')
  t.equal(new Set(delivered.map((d) => d.webhookId)).size, 5, 'each event once')
  t.same(delivered.map((d) => JSON.parse(d.body).data.views).sort(), [1, 2, 3, 4, 5])
})
