import t, { type Test } from 'tap'
import type { SecurityEvent } from '../../src/abuse/events.js'
import { aesGcmContent } from '../../src/content-cipher.js'
import { MemoryWebhookStore } from '../../src/storage/memory/memory-webhook-store.js'
import type { StoredDelivery } from '../../src/storage/webhook-store.js'
import { WebhookEndpoints } from '../../src/webhooks/endpoints.js'
import { webhookPayload, type WebhookEventType } from '../../src/webhooks/payloads.js'
import type { DeliveryJob } from '../../src/webhooks/queue.js'
import { MAX_ATTEMPTS, scheduleFor } from '../../src/webhooks/retry.js'
import { DeliveryWorker } from '../../src/webhooks/worker.js'
import { WebhookReceiver } from './receiver.js'

/**
 * One attempt of one delivery job (src/webhooks/worker.ts), against a real HTTPS receiver on
 * 127.0.0.1 that checks every signature with the standardwebhooks verifier, and the real
 * WebhookEndpoints on the memory store: what is sent, what the delivery log says, the endpoint's
 * run of failures and its disabling. The queues (test/webhooks/queue.test.ts) decide when the
 * attempts run.
 */

const OWNER = 'ownerkey0001'
const SCALE = 1e-3

interface Setup {
  worker: DeliveryWorker
  endpoints: WebhookEndpoints
  store: MemoryWebhookStore
  events: SecurityEvent[]
  receiver: WebhookReceiver
  endpointId: string
  secret: string
  job: (eventId: string, type?: WebhookEventType) => DeliveryJob
  /** owners whose API key is revoked or expired (ownerActive says false) */
  inactiveOwners: Set<string>
}

async function setup (t: Test, receiverOptions: Parameters<typeof WebhookReceiver.start>[1] = {}, store = new MemoryWebhookStore()): Promise<Setup> {
  const receiver = await WebhookReceiver.start(t, receiverOptions)
  const events: SecurityEvent[] = []
  const endpoints = new WebhookEndpoints({
    store,
    cipher: aesGcmContent(Buffer.alloc(32, 9)),
    allowPrivate: true,
    events: { emit: (event) => { events.push(event) } }
  })
  const created = await endpoints.register(OWNER, { url: receiver.url('/hook?tenant=7'), events: ['message.viewed', 'message.burned'] })
  receiver.verifyWith([created.secret])
  const inactiveOwners = new Set<string>()
  const worker = new DeliveryWorker({
    endpoints,
    schedule: scheduleFor({ scale: SCALE }),
    delivery: { allowPrivate: true, ca: receiver.ca, timeoutMs: 3000 },
    ownerActive: async (owner) => !inactiveOwners.has(owner)
  })
  const job = (eventId: string, type: WebhookEventType = 'message.viewed'): DeliveryJob => ({
    eventId,
    owner: OWNER,
    endpointId: created.id,
    type,
    body: webhookPayload(type, Date.now(), { id: 'Yb9kq3VxT2', owner: OWNER, state: 'live', views: 1, remainingViews: 2 }),
    createdAt: Date.now()
  })
  return { worker, endpoints, store, events, receiver, endpointId: created.id, secret: created.secret, job, inactiveOwners }
}

async function logOf (s: Setup, eventId: string): Promise<StoredDelivery | undefined> {
  return (await s.store.listDeliveries(OWNER, s.endpointId)).find((entry) => entry.eventId === eventId)
}

t.test('a 2xx: sent once, signed, byte for byte; the log says delivered; the run of failures ends', async (t) => {
  const s = await setup(t)
  await s.endpoints.markFailing(OWNER, s.endpointId, Date.now() - 1000, s.worker.schedule.newRunAfterMs)
  const job = s.job('evt_ok_1')
  const before = Date.now()
  t.same(await s.worker.attempt(job, 0), { outcome: 'delivered', status: 204 })
  const [got] = s.receiver.received
  t.ok(got)
  t.equal(got?.method, 'POST')
  t.equal(got?.path, '/hook?tenant=7')
  t.equal(got?.webhookId, 'evt_ok_1', 'the event id is the webhook-id')
  t.equal(got?.body, job.body, 'the job\'s body, byte for byte')
  t.same(got?.verifiedBy, [s.secret], 'the standardwebhooks verifier accepts the signature')
  const entry = await logOf(s, 'evt_ok_1')
  t.match(entry, { eventId: 'evt_ok_1', type: 'message.viewed', attempts: 1, lastStatus: 204, nextAttemptAt: null, state: 'delivered', createdAt: job.createdAt })
  t.ok((entry?.lastAttemptAt ?? 0) >= before)
  t.equal((await s.endpoints.find(OWNER, s.endpointId))?.failingSince, null, 'markSucceeded')
})

t.test('a failure with attempts left: pending, the next attempt\'s time in the log, the run of failures started', async (t) => {
  const s = await setup(t, { statuses: [503] })
  const before = Date.now()
  const result = await s.worker.attempt(s.job('evt_fail_1'), 0)
  t.match(result, { outcome: 'retry', reason: 'http_status 503' })
  const delayMs = result.outcome === 'retry' ? result.delayMs : -1
  // 5 s, scaled, ± 20%, never under 1 ms
  t.ok(delayMs >= 1 && delayMs <= Math.max(1, Math.round(5000 * SCALE * 1.2)), `first delay ${delayMs}`)
  const entry = await logOf(s, 'evt_fail_1')
  t.match(entry, { attempts: 1, lastStatus: 503, state: 'pending' })
  t.ok(entry?.nextAttemptAt !== null && (entry?.nextAttemptAt ?? 0) >= (entry?.lastAttemptAt ?? Infinity) + delayMs, 'nextAttemptAt = the end of the attempt + the delay')
  const failingSince = (await s.endpoints.find(OWNER, s.endpointId))?.failingSince ?? 0
  t.ok(failingSince >= before, 'failingSince: the first failure')

  // a second failure keeps the run's start
  s.receiver.answerNext(500)
  t.match(await s.worker.attempt(s.job('evt_fail_1'), 1), { outcome: 'retry', reason: 'http_status 500' })
  t.equal((await s.endpoints.find(OWNER, s.endpointId))?.failingSince, failingSince)
  t.match(await logOf(s, 'evt_fail_1'), { attempts: 2, lastStatus: 500, state: 'pending' })
  t.same(s.receiver.of('evt_fail_1').map((d) => d.verifiedBy.length), [1, 1], 'every attempt signed')
})

t.test('no answer at all (nothing listens): a failure without a status', async (t) => {
  const s = await setup(t)
  await s.receiver.close()
  t.match(await s.worker.attempt(s.job('evt_down'), 0), { outcome: 'retry', reason: 'connect_failed' })
  t.match(await logOf(s, 'evt_down'), { attempts: 1, lastStatus: null, state: 'pending' })
})

t.test('the last attempt of the schedule fails: failed, no next attempt', async (t) => {
  const s = await setup(t, { statuses: [500] })
  t.same(await s.worker.attempt(s.job('evt_last'), MAX_ATTEMPTS - 1), { outcome: 'failed', reason: 'http_status 500' })
  t.match(await logOf(s, 'evt_last'), { attempts: MAX_ATTEMPTS, lastStatus: 500, nextAttemptAt: null, state: 'failed' })
})

t.test('failing for the (scaled) 5 days disables the endpoint, once, with a webhook.disabled event', async (t) => {
  const s = await setup(t, { respond: () => 500 })
  const disableAfterMs = s.worker.schedule.disableAfterMs
  t.equal(disableAfterMs, Math.round(5 * 24 * 3600 * 1000 * SCALE))

  // failing, but not yet for long enough
  await s.endpoints.markFailing(OWNER, s.endpointId, Date.now() - disableAfterMs + 60_000, s.worker.schedule.newRunAfterMs)
  t.match(await s.worker.attempt(s.job('evt_d1'), 0), { outcome: 'retry' })
  t.equal((await s.endpoints.find(OWNER, s.endpointId))?.disabledAt, null)
  t.equal(s.events.filter((e) => e.type === 'webhook.disabled').length, 0)

  // an endpoint that failed once disableAfterMs ago and was not tried since: its next failure
  // starts a new run rather than disabling it
  await s.endpoints.markSucceeded(OWNER, s.endpointId)
  const { newRunAfterMs } = s.worker.schedule
  await s.endpoints.markFailing(OWNER, s.endpointId, Date.now() - disableAfterMs - 1, newRunAfterMs)
  t.match(await s.worker.attempt(s.job('evt_d0'), 0), { outcome: 'retry' })
  t.equal((await s.endpoints.find(OWNER, s.endpointId))?.disabledAt, null, 'not disabled')
  t.ok(((await s.endpoints.find(OWNER, s.endpointId))?.failingSince ?? 0) > Date.now() - 60_000, 'a new run began')

  // a run that began disableAfterMs ago and kept failing since: this failure disables it, and
  // the event is failed, not pending
  await s.endpoints.markSucceeded(OWNER, s.endpointId)
  const since = Date.now() - disableAfterMs - 1
  for (let at = since; at < Date.now(); at += newRunAfterMs / 2) await s.endpoints.markFailing(OWNER, s.endpointId, at, newRunAfterMs)
  t.same(await s.worker.attempt(s.job('evt_d2'), 0), { outcome: 'failed', reason: 'endpoint_disabled' })
  const endpoint = await s.endpoints.find(OWNER, s.endpointId)
  t.ok(endpoint?.disabledAt !== null, 'disabled')
  t.match(await logOf(s, 'evt_d2'), { attempts: 1, lastStatus: 500, nextAttemptAt: null, state: 'failed' })
  const disabled = s.events.filter((e) => e.type === 'webhook.disabled')
  t.equal(disabled.length, 1, 'one security event')
  t.match(disabled[0], { keyId: OWNER, detail: { webhookId: s.endpointId, failingSince: new Date(since).toISOString() } })

  // from now on nothing is sent: an event still pending is closed as failed, keeping what its attempts said
  const sent = s.receiver.received.length
  t.same(await s.worker.attempt(s.job('evt_d1'), 1), { outcome: 'dropped', reason: 'endpoint_disabled' })
  t.match(await logOf(s, 'evt_d1'), { attempts: 1, lastStatus: 500, nextAttemptAt: null, state: 'failed' })
  t.same(await s.worker.attempt(s.job('evt_d3'), 0), { outcome: 'dropped', reason: 'endpoint_disabled' })
  t.match(await logOf(s, 'evt_d3'), { attempts: 0, lastStatus: null, lastAttemptAt: null, state: 'failed' }, 'an event never sent is logged as failed')
  t.equal(s.receiver.received.length, sent, 'nothing sent to a disabled endpoint')
  t.equal(s.events.filter((e) => e.type === 'webhook.disabled').length, 1, 'still one event')
})

t.test('an endpoint deleted while its event waited: nothing sent, nothing recorded', async (t) => {
  const s = await setup(t)
  await s.endpoints.remove(OWNER, s.endpointId)
  t.same(await s.worker.attempt(s.job('evt_gone'), 0), { outcome: 'dropped', reason: 'endpoint_gone' })
  t.equal(s.receiver.received.length, 0)
  t.same(await s.store.listDeliveries(OWNER, s.endpointId), [])
})

t.test('during a rotation\'s overlap both secrets sign: a receiver on either verifies', async (t) => {
  const s = await setup(t)
  const rotated = await s.endpoints.rotateSecret(OWNER, s.endpointId)
  s.receiver.verifyWith([rotated.secret, s.secret])
  t.match(await s.worker.attempt(s.job('evt_rot'), 0), { outcome: 'delivered' })
  const [got] = s.receiver.received
  t.same(got?.verifiedBy, [rotated.secret, s.secret], 'the new and the old secret both verify')
  t.match(got?.headers['webhook-signature'], /^v1,\S+ v1,\S+$/)
})

t.test('an endpoint whose key is revoked or expired: nothing sent, the entry failed with what earlier attempts said, never retried', async (t) => {
  const s = await setup(t, { statuses: [503] })
  t.match(await s.worker.attempt(s.job('evt_rev'), 0), { outcome: 'retry' })
  s.inactiveOwners.add(OWNER)
  t.same(await s.worker.attempt(s.job('evt_rev'), 1), { outcome: 'dropped', reason: 'owner_inactive' })
  t.same(await s.worker.attempt(s.job('evt_rev_new'), 0), { outcome: 'dropped', reason: 'owner_inactive' })
  t.equal(s.receiver.received.length, 1, 'only the attempt before the revocation was sent')
  t.match(await logOf(s, 'evt_rev'), { attempts: 1, lastStatus: 503, nextAttemptAt: null, state: 'failed' })
  t.match(await logOf(s, 'evt_rev_new'), { attempts: 0, lastStatus: null, state: 'failed' })
})

t.test('a store write failing after a 2xx does not make the event fail or be sent again', async (t) => {
  class FailingLogStore extends MemoryWebhookStore {
    override async recordDelivery (): Promise<boolean> { throw new Error('store down') }
  }
  const warnings: string[] = []
  const s = await setup(t, {}, new FailingLogStore())
  const worker = new DeliveryWorker({
    endpoints: s.endpoints,
    schedule: s.worker.schedule,
    delivery: { allowPrivate: true, ca: s.receiver.ca, timeoutMs: 3000 },
    ownerActive: async () => true,
    log: { warn: (_obj, msg) => { warnings.push(msg) }, error: (_obj, msg) => { warnings.push(msg) } }
  })
  t.same(await worker.attempt(s.job('evt_log_down'), 0), { outcome: 'delivered', status: 204 })
  t.equal(s.receiver.received.length, 1)
  t.same(warnings, ['webhook delivery: could not record a delivery'])
})
