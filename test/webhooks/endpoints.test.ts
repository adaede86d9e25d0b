import { Webhook } from 'standardwebhooks'
import t from 'tap'
import type { SecurityEvent } from '../../src/abuse/events.js'
import { aesGcmContent, type ContentCipher, plainContent } from '../../src/content-cipher.js'
import { MemoryWebhookStore } from '../../src/storage/memory/memory-webhook-store.js'
import {
  InvalidWebhookUrl, MAX_WEBHOOK_ENDPOINTS, RefusedWebhookUrl, SECRET_OVERLAP_MS, WebhookEndpoints, WebhookLimit, WebhookNotFound
} from '../../src/webhooks/endpoints.js'

const OWNER = 'ownerkey0001'
const OTHER = 'ownerkey0002'
const T0 = Date.parse('2026-03-01T12:00:00.000Z')
const ENCRYPTION_KEY = Buffer.alloc(32, 7)

/** The service on a memory store, with a clock the test moves and the events it emitted. */
function setup (options: { cipher?: ContentCipher, allowPrivate?: boolean } = {}): {
  endpoints: WebhookEndpoints, store: MemoryWebhookStore, events: SecurityEvent[], clock: { now: number }
} {
  const store = new MemoryWebhookStore()
  const events: SecurityEvent[] = []
  const clock = { now: T0 }
  const endpoints = new WebhookEndpoints({
    store,
    cipher: options.cipher ?? aesGcmContent(ENCRYPTION_KEY),
    allowPrivate: options.allowPrivate ?? false,
    now: () => clock.now,
    events: { emit: (event) => { events.push(event) } }
  })
  return { endpoints, store, events, clock }
}

/** A Standard Webhooks signature made with `secret`, checked by the package's own verifier against `verifier`. */
function verifies (signer: string, verifier: string): boolean {
  const id = 'msg_test'
  const timestamp = new Date()
  const body = '{"type":"message.viewed"}'
  const signature = new Webhook(signer).sign(id, timestamp, body)
  try {
    new Webhook(verifier).verify(body, { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)), 'webhook-signature': signature })
    return true
  } catch {
    return false
  }
}

t.test('register: a Standard Webhooks secret shown once, the endpoint as the API shows it', async (t) => {
  const { endpoints, events } = setup()
  const created = await endpoints.register(OWNER, { url: 'https://hooks.example.com/missive?token=abc', events: ['message.viewed', 'message.burned'], description: 'billing' },
    { by: OWNER, ip: '192.0.2.1', requestId: 'req-1' })
  t.match(created, {
    id: /^wh_[A-Za-z0-9_-]{22}$/,
    url: 'https://hooks.example.com/missive?token=abc',
    events: ['message.viewed', 'message.burned'],
    description: 'billing',
    secret: /^whsec_[A-Za-z0-9+/]{43}=$/,
    createdAt: '2026-03-01T12:00:00.000Z',
    disabledAt: null
  })
  t.equal(Buffer.from(created.secret.slice('whsec_'.length), 'base64').length, 32, '32 random bytes')
  t.ok(verifies(created.secret, created.secret), 'the standardwebhooks package takes it as it is')
  const shown = await endpoints.get(OWNER, created.id)
  t.same(Object.keys(shown).sort(), ['createdAt', 'description', 'disabledAt', 'events', 'id', 'url'], 'no secret once created')
  t.same(await endpoints.list(OWNER), [shown])
  t.same(events, [{
    type: 'webhook.created',
    keyId: OWNER,
    ip: '192.0.2.1',
    requestId: 'req-1',
    detail: { webhookId: created.id, host: 'hooks.example.com', events: 'message.viewed,message.burned', by: OWNER }
  }], 'the host only: not the path or query, where people put tokens')
  const second = await endpoints.register(OWNER, { url: 'https://hooks.example.com/', events: ['message.expired'] })
  t.equal(second.description, null, 'no description: null')
  t.not(second.secret, created.secret)
  t.not(second.id, created.id)
})

t.test('register refuses what the SSRF rules refuse, unless private addresses are allowed', async (t) => {
  const { endpoints, store } = setup()
  for (const url of ['http://hooks.example.com/', 'ftp://hooks.example.com/', 'https://user:pass@hooks.example.com/', 'not a url']) {
    await t.rejects(endpoints.register(OWNER, { url, events: ['message.viewed'] }), InvalidWebhookUrl, url)
  }
  for (const url of ['https://127.0.0.1/', 'https://[::1]/', 'https://10.0.0.1/', 'https://169.254.169.254/latest/meta-data/', 'https://[::ffff:127.0.0.1]/', 'https://192.168.1.1:8443/']) {
    await t.rejects(endpoints.register(OWNER, { url, events: ['message.viewed'] }), RefusedWebhookUrl, url)
  }
  t.same(await store.list(OWNER), [], 'nothing stored')
  const allowing = setup({ allowPrivate: true }).endpoints
  for (const url of ['https://127.0.0.1:8443/hook', 'https://[::1]/', 'https://10.0.0.1/']) {
    t.ok((await allowing.register(OWNER, { url, events: ['message.viewed'] })).id, `${url} with WEBHOOK_ALLOW_PRIVATE`)
  }
  await t.rejects(allowing.register(OWNER, { url: 'http://127.0.0.1/', events: ['message.viewed'] }), InvalidWebhookUrl, 'still https only')
})

t.test(`at most ${MAX_WEBHOOK_ENDPOINTS} endpoints per key, even racing; each key its own`, async (t) => {
  const { endpoints } = setup()
  const results = await Promise.allSettled(Array.from({ length: 15 }, async () =>
    await endpoints.register(OWNER, { url: 'https://hooks.example.com/', events: ['message.viewed'] })))
  t.equal(results.filter((r) => r.status === 'fulfilled').length, MAX_WEBHOOK_ENDPOINTS)
  const refused = results.filter((r) => r.status === 'rejected')
  t.equal(refused.length, 5)
  t.ok(refused.every((r) => r.reason instanceof WebhookLimit))
  t.match((refused[0] as PromiseRejectedResult).reason, { statusCode: 409, code: 'WEBHOOK_LIMIT', message: /at most 10 webhook endpoints/ })
  t.ok(await endpoints.register(OTHER, { url: 'https://hooks.example.com/', events: ['message.viewed'] }), 'another key has room')
  const first = (await endpoints.list(OWNER))[0]
  await endpoints.remove(OWNER, first?.id ?? '')
  t.ok(await endpoints.register(OWNER, { url: 'https://hooks.example.com/', events: ['message.viewed'] }), 'room again after a delete')
})

t.test('another key\'s endpoint is the same 404 as an unknown one, for every operation', async (t) => {
  const { endpoints, events } = setup()
  const { id } = await endpoints.register(OWNER, { url: 'https://hooks.example.com/', events: ['message.viewed'] })
  events.length = 0
  for (const [owner, what] of [[OTHER, 'another key'], [OWNER, 'an unknown id']] as const) {
    const target = owner === OTHER ? id : 'wh_AAAAAAAAAAAAAAAAAAAAAA'
    await t.rejects(endpoints.get(owner, target), WebhookNotFound, `get: ${what}`)
    await t.rejects(endpoints.rotateSecret(owner, target), WebhookNotFound, `rotate: ${what}`)
    await t.rejects(endpoints.deliveries(owner, target), WebhookNotFound, `deliveries: ${what}`)
    await t.rejects(endpoints.remove(owner, target), WebhookNotFound, `remove: ${what}`)
    t.equal(await endpoints.find(owner, target), null)
  }
  t.same(await endpoints.list(OTHER), [])
  t.same(events, [], 'no event for what did not happen')
  t.ok(await endpoints.get(OWNER, id), 'still there')
})

t.test('rotateSecret: a new secret; both sign for 24 hours, then only the new one', async (t) => {
  const { endpoints, events, clock } = setup()
  const created = await endpoints.register(OWNER, { url: 'https://hooks.example.com/', events: ['message.viewed'] })
  const endpoint = await endpoints.find(OWNER, created.id)
  t.same(endpoints.signingSecrets(endpoint!), [created.secret], 'one secret before any rotation')

  clock.now = T0 + 1000
  events.length = 0
  const rotated = await endpoints.rotateSecret(OWNER, created.id, { by: OWNER, requestId: 'req-2' })
  t.match(rotated, { id: created.id, url: created.url, events: created.events, createdAt: created.createdAt, disabledAt: null, secret: /^whsec_[A-Za-z0-9+/]{43}=$/ })
  t.not(rotated.secret, created.secret)
  t.same(events, [{ type: 'webhook.secret_rotated', keyId: OWNER, ip: null, requestId: 'req-2', detail: { webhookId: created.id, by: OWNER } }])
  t.notOk('secret' in await endpoints.get(OWNER, created.id), 'not shown again')

  const after = (await endpoints.find(OWNER, created.id))!
  t.same(endpoints.signingSecrets(after), [rotated.secret, created.secret], 'the new one first, the previous one too')
  t.same(endpoints.signingSecrets(after, T0 + 1000 + SECRET_OVERLAP_MS - 1), [rotated.secret, created.secret], 'just before 24 hours')
  t.same(endpoints.signingSecrets(after, T0 + 1000 + SECRET_OVERLAP_MS), [rotated.secret], 'from 24 hours on, the new one only')
  clock.now = T0 + 1000 + SECRET_OVERLAP_MS + 1
  t.same(endpoints.signingSecrets(after), [rotated.secret], 'the service\'s clock by default')

  // A receiver that still has the old secret verifies a delivery signed with both.
  const [current, previous] = endpoints.signingSecrets(after, T0 + 2000)
  t.ok(verifies(previous!, created.secret) && verifies(current!, rotated.secret))

  clock.now = T0 + 5000
  const again = await endpoints.rotateSecret(OWNER, created.id)
  t.same(endpoints.signingSecrets((await endpoints.find(OWNER, created.id))!), [again.secret, rotated.secret],
    'rotating again within the overlap: the secret just replaced stays, the older one goes')
})

t.test('subscribers: the owner\'s enabled endpoints that want the type', async (t) => {
  const { endpoints, events } = setup()
  const viewed = await endpoints.register(OWNER, { url: 'https://a.example/', events: ['message.viewed'] })
  const both = await endpoints.register(OWNER, { url: 'https://b.example/', events: ['message.viewed', 'message.expired'] })
  const disabled = await endpoints.register(OWNER, { url: 'https://c.example/', events: ['message.viewed'] })
  await endpoints.register(OTHER, { url: 'https://d.example/', events: ['message.viewed'] })
  events.length = 0

  await endpoints.markFailing(OWNER, disabled.id, T0 - 5 * 86_400_000, 86_400_000)
  const off = await endpoints.disable(OWNER, disabled.id, T0, { by: null })
  t.equal(off?.disabledAt, T0)
  t.same(events, [{
    type: 'webhook.disabled',
    keyId: OWNER,
    ip: null,
    requestId: null,
    detail: { webhookId: disabled.id, failingSince: new Date(T0 - 5 * 86_400_000).toISOString(), by: null }
  }])
  await endpoints.disable(OWNER, disabled.id, T0 + 1)
  t.equal(events.length, 1, 'disabling again: no second event')
  t.equal((await endpoints.find(OWNER, disabled.id))?.disabledAt, T0, 'the first disabledAt kept')
  t.equal((await endpoints.get(OWNER, disabled.id)).disabledAt, new Date(T0).toISOString(), 'listed with disabledAt')
  t.equal(await endpoints.disable(OWNER, 'wh_AAAAAAAAAAAAAAAAAAAAAA', T0), null, 'an unknown endpoint')

  const ids = async (type: Parameters<WebhookEndpoints['subscribers']>[1]): Promise<string[]> => (await endpoints.subscribers(OWNER, type)).map((e) => e.id).sort()
  t.same(await ids('message.viewed'), [viewed.id, both.id].sort(), 'the disabled endpoint is not a subscriber')
  t.same(await ids('message.expired'), [both.id])
  t.same(await ids('message.burned'), [])
  const [subscriber] = await endpoints.subscribers(OWNER, 'message.expired')
  t.match(subscriber, { id: both.id, owner: OWNER, url: 'https://b.example/' })
  t.same(endpoints.signingSecrets(subscriber!), [both.secret], 'what a delivery signs with')
  t.same(await endpoints.subscribers('ownerkey0009', 'message.viewed'), [], 'a key without endpoints')
})

t.test('markFailing keeps the start of a run of failures; markSucceeded ends it', async (t) => {
  const { endpoints } = setup()
  const { id } = await endpoints.register(OWNER, { url: 'https://a.example/', events: ['message.viewed'] })
  const gap = 1000
  t.equal((await endpoints.markFailing(OWNER, id, T0 + 10, gap))?.failingSince, T0 + 10)
  t.match(await endpoints.markFailing(OWNER, id, T0 + 20, gap), { failingSince: T0 + 10, lastFailureAt: T0 + 20 }, 'a later failure does not move it')
  t.match(await endpoints.markFailing(OWNER, id, T0 + 15, gap), { failingSince: T0 + 10, lastFailureAt: T0 + 20 }, 'an attempt finishing late keeps the latest failure')
  t.match(await endpoints.markSucceeded(OWNER, id), { failingSince: null, lastFailureAt: null })
  t.equal((await endpoints.markFailing(OWNER, id, T0 + 30, gap))?.failingSince, T0 + 30, 'a new run')
  t.equal((await endpoints.markFailing(OWNER, id, T0 + 30 + gap, gap))?.failingSince, T0 + 30, 'failures up to the gap apart: the same run')
  t.match(await endpoints.markFailing(OWNER, id, T0 + 31 + 2 * gap, gap), { failingSince: T0 + 31 + 2 * gap, lastFailureAt: T0 + 31 + 2 * gap },
    'a failure after a longer quiet gap starts a new run: an endpoint that failed once long ago is not disabled by its next failure')
  t.equal(await endpoints.markFailing(OWNER, 'wh_AAAAAAAAAAAAAAAAAAAAAA', T0, gap), null)
  const older = setup()
  const legacy = await older.endpoints.register(OWNER, { url: 'https://b.example/', events: ['message.viewed'] })
  await older.store.update(OWNER, legacy.id, (e) => ({ ...e, failingSince: T0 - 10 * gap, lastFailureAt: null }))
  t.match(await older.endpoints.markFailing(OWNER, legacy.id, T0, gap), { failingSince: T0 - 10 * gap, lastFailureAt: T0 },
    'a run stored before lastFailureAt existed goes on: an endpoint failing for days is not given 5 more')
  t.equal(await endpoints.markSucceeded(OTHER, id), null, 'only the owner\'s')
})

t.test('the secrets are sealed at rest under ENCRYPTION_KEY, bound to their endpoint', async (t) => {
  const { endpoints, store } = setup()
  const created = await endpoints.register(OWNER, { url: 'https://a.example/', events: ['message.viewed'] })
  const stored = await store.get(OWNER, created.id)
  t.match(stored?.secret, /^v1:[A-Za-z0-9+/=]+$/, 'AES-256-GCM (the content cipher\'s format)')
  t.notMatch(stored?.secret, created.secret.slice('whsec_'.length))
  const rotated = await endpoints.rotateSecret(OWNER, created.id)
  const after = await store.get(OWNER, created.id)
  t.match(after?.previousSecret, /^v1:/)
  t.equal(after?.previousSecret, stored?.secret, 'the previous secret, still sealed')
  t.notMatch(JSON.stringify(after), rotated.secret.slice('whsec_'.length))

  // A sealed secret copied onto another endpoint does not open there.
  const other = await endpoints.register(OWNER, { url: 'https://b.example/', events: ['message.viewed'] })
  await store.update(OWNER, other.id, (e) => ({ ...e, secret: after!.secret }))
  const moved = await endpoints.find(OWNER, other.id)
  t.throws(() => endpoints.signingSecrets(moved!), 'authenticated: the owner and id are its associated data')

  // The same store read without the key cannot sign: an error, not a wrong signature.
  const withoutKey = new WebhookEndpoints({ store, cipher: plainContent, allowPrivate: false })
  t.throws(() => withoutKey.signingSecrets({ ...(after!), owner: OWNER }), /ENCRYPTION_KEY/)
})

t.test('without ENCRYPTION_KEY the secret is stored as it is', async (t) => {
  const { endpoints, store } = setup({ cipher: plainContent })
  const created = await endpoints.register(OWNER, { url: 'https://a.example/', events: ['message.viewed'] })
  t.equal((await store.get(OWNER, created.id))?.secret, created.secret)
  t.same(endpoints.signingSecrets((await endpoints.find(OWNER, created.id))!), [created.secret])
})

t.test('remove: the endpoint and its delivery log go, with an event', async (t) => {
  const { endpoints, events } = setup()
  const { id } = await endpoints.register(OWNER, { url: 'https://a.example/', events: ['message.viewed'] })
  t.equal(await endpoints.recordDelivery(OWNER, id, {
    eventId: 'evt_1', type: 'message.viewed', attempts: 1, lastStatus: 503, lastAttemptAt: T0, nextAttemptAt: T0 + 60_000, state: 'pending', createdAt: T0
  }), true)
  t.same(await endpoints.deliveries(OWNER, id), [{
    eventId: 'evt_1', type: 'message.viewed', attempts: 1, lastStatus: 503, lastAttemptAt: '2026-03-01T12:00:00.000Z', nextAttemptAt: '2026-03-01T12:01:00.000Z', state: 'pending'
  }], 'times as ISO strings, createdAt not shown')
  events.length = 0
  await endpoints.remove(OWNER, id, { by: OWNER })
  t.same(events, [{ type: 'webhook.deleted', keyId: OWNER, ip: null, requestId: null, detail: { webhookId: id, by: OWNER } }])
  t.equal(await endpoints.find(OWNER, id), null)
  await t.rejects(endpoints.deliveries(OWNER, id), WebhookNotFound)
  t.equal(await endpoints.recordDelivery(OWNER, id, {
    eventId: 'evt_1', type: 'message.viewed', attempts: 2, lastStatus: 200, lastAttemptAt: T0, nextAttemptAt: null, state: 'delivered', createdAt: T0
  }), false, 'a delivery finishing after the delete records nothing')
})

t.test('no secret ever reaches an event', async (t) => {
  const { endpoints, events } = setup()
  const created = await endpoints.register(OWNER, { url: 'https://a.example/', events: ['message.viewed'] })
  const rotated = await endpoints.rotateSecret(OWNER, created.id)
  await endpoints.disable(OWNER, created.id, T0)
  await endpoints.remove(OWNER, created.id)
  t.equal(events.length, 4)
  const text = JSON.stringify(events)
  for (const secret of [created.secret, rotated.secret]) t.notOk(text.includes(secret.slice('whsec_'.length, 20)), 'no part of a secret')
})
