import { createHmac, randomBytes } from 'node:crypto'
import t from 'tap'
import { Webhook, WebhookVerificationError } from 'standardwebhooks'
import { signatureHeaders, SigningError } from '../../src/webhooks/sign.js'

/** Standard Webhooks 1.0 signatures (API.md section 9, issue 19). */

const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`
const nowSeconds = (): number => Math.floor(Date.now() / 1000)
const body = '{"type":"message.viewed","timestamp":"2026-05-17T09:30:00.123Z","data":{"id":"Yb9kq3VxT2","owner":"key_7f3a","state":"live","views":1,"remainingViews":2}}'

t.test('the Standard Webhooks test vector', async (t) => {
  // From the Standard Webhooks reference library's own tests ("sign function works",
  // github.com/standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts).
  const headers = signatureHeaders('msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}', ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'])
  t.same(headers, {
    'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp': '1614265330',
    'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
  })
})

t.test('by hand: base64 HMAC-SHA256, keyed by the secret\'s bytes, of "id.timestamp.body"', async (t) => {
  const secret = newSecret()
  const ts = nowSeconds()
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64')
  const expected = createHmac('sha256', key).update(`evt_1.${ts}.${body}`).digest('base64')
  t.equal(signatureHeaders('evt_1', ts, body, [secret])['webhook-signature'], `v1,${expected}`)
  const unicode = '{"note":"été ✓"}'
  const expectedUnicode = createHmac('sha256', key).update(Buffer.from(`evt_1.${ts}.${unicode}`, 'utf8')).digest('base64')
  t.equal(signatureHeaders('evt_1', ts, unicode, [secret])['webhook-signature'], `v1,${expectedUnicode}`, 'over the UTF-8 bytes')
})

t.test('the package\'s own verifier accepts the headers, with either secret during a rotation', async (t) => {
  const oldSecret = newSecret()
  const newOne = newSecret()
  const headers = signatureHeaders('evt_2', nowSeconds(), body, [newOne, oldSecret])
  const signatures = headers['webhook-signature'].split(' ')
  t.equal(signatures.length, 2, 'one signature per secret, space separated')
  for (const s of signatures) t.match(s, /^v1,[A-Za-z0-9+/]{43}=$/)
  t.same(new Webhook(oldSecret).verify(body, { ...headers }), JSON.parse(body), 'a receiver still on the old secret')
  t.same(new Webhook(newOne).verify(body, { ...headers }), JSON.parse(body), 'a receiver on the new secret')
  t.throws(() => new Webhook(newSecret()).verify(body, { ...headers }), WebhookVerificationError, 'another secret')
})

t.test('the verifier refuses a tampered body, id or timestamp, and a stale delivery', async (t) => {
  const secret = newSecret()
  const ts = nowSeconds()
  const headers = signatureHeaders('evt_3', ts, body, [secret])
  const verifier = new Webhook(secret)
  t.throws(() => verifier.verify(body.replace('"views":1', '"views":2'), { ...headers }), WebhookVerificationError, 'body')
  t.throws(() => verifier.verify(`${body} `, { ...headers }), WebhookVerificationError, 'one byte more')
  t.throws(() => verifier.verify(body, { ...headers, 'webhook-id': 'evt_4' }), WebhookVerificationError, 'id')
  t.throws(() => verifier.verify(body, { ...headers, 'webhook-timestamp': String(ts - 1) }), WebhookVerificationError, 'timestamp')
  const stale = signatureHeaders('evt_3', ts - 600, body, [secret])
  t.throws(() => verifier.verify(body, { ...stale }), /too old/, 'a captured delivery replayed 10 minutes later')
})

t.test('refusals: no secret, a secret that is not whsec_<base64>, a bad id or timestamp; never the secret in a message', async (t) => {
  const ts = nowSeconds()
  t.throws(() => signatureHeaders('evt', ts, body, []), SigningError)
  for (const bad of ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_', 'whsec_not*base64!', '']) {
    let error: unknown
    try { signatureHeaders('evt', ts, body, [bad]) } catch (err) { error = err }
    t.type(error, SigningError, JSON.stringify(bad))
    if (bad.length > 6) t.notMatch((error as Error).message, bad.slice(6), 'the secret is not in the message')
  }
  for (const id of ['', 'with space', 'a.b', 'line\nbreak', 'x'.repeat(257)]) t.throws(() => signatureHeaders(id, ts, body, [newSecret()]), SigningError, JSON.stringify(id))
  for (const bad of [1.5, -1, Number.NaN, 2 ** 60]) t.throws(() => signatureHeaders('evt', bad, body, [newSecret()]), SigningError, String(bad))
})
