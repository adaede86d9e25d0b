import t from 'tap'
import { isWebhookEventType, WEBHOOK_EVENT_TYPES, webhookPayload, type WebhookEventData } from '../../src/webhooks/payloads.js'

/** The body of a webhook delivery (API.md section 9, issue 19). */

const data: WebhookEventData = { id: 'Yb9kq3VxT2', owner: 'key_7f3a', state: 'live', views: 1, remainingViews: 2 }

t.test('the event types of the contract, as one list', async (t) => {
  t.same(WEBHOOK_EVENT_TYPES, ['message.viewed', 'message.burned', 'message.deleted', 'message.expired'])
  for (const type of WEBHOOK_EVENT_TYPES) t.ok(isWebhookEventType(type), type)
  for (const other of ['message.created', 'viewed', '', null, 3, 'MESSAGE.VIEWED']) t.notOk(isWebhookEventType(other), String(other))
})

t.test('the body: type, an ISO 8601 timestamp of the event, and the receipt data', async (t) => {
  const at = Date.UTC(2026, 4, 17, 9, 30, 0, 123)
  const body = webhookPayload('message.viewed', at, data)
  t.equal(body, '{"type":"message.viewed","timestamp":"2026-05-17T09:30:00.123Z","data":{"id":"Yb9kq3VxT2","owner":"key_7f3a","state":"live","views":1,"remainingViews":2}}',
    'the exact bytes the signature covers, in the contract\'s field order')
  const burned = JSON.parse(webhookPayload('message.burned', at, { ...data, state: 'burned', views: 3, remainingViews: 0 }))
  t.same(burned.data, { id: 'Yb9kq3VxT2', owner: 'key_7f3a', state: 'burned', views: 3, remainingViews: 0 })
  const unlimited = JSON.parse(webhookPayload('message.expired', at, { ...data, state: 'expired', remainingViews: null }))
  t.equal(unlimited.data.remainingViews, null, 'no view limit: null')
})

t.test('never content: only the five data fields leave, whatever the caller hands in', async (t) => {
  const stored = { ...data, content: 'the secret text', deleteTokenHash: 'abc', ciphertext: 'xyz' }
  const body = webhookPayload('message.deleted', 0, stored as WebhookEventData)
  t.notMatch(body, /secret text|deleteTokenHash|ciphertext|content/)
  t.same(Object.keys(JSON.parse(body).data), ['id', 'owner', 'state', 'views', 'remainingViews'])
  t.same(Object.keys(JSON.parse(body)), ['type', 'timestamp', 'data'])
})

t.test('an unknown event type is a bug, refused', async (t) => {
  t.throws(() => webhookPayload('message.created' as never, 0, data), TypeError)
})
