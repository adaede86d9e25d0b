import t, { type Test } from 'tap'
import { formatKey, newSecret } from '../../src/api-keys.js'
import { makeKey, withKey, withToken, tokenFor } from '../api/api-helper.js'
import { build } from '../helper.js'
import { makeProof, proofKey, requestToken } from '../proof/dpop-helper.js'
import { createRequest, patchKey, send, settledBuild, signedHeaders, signer, signingService, STORES } from '../proof/proof-helper.js'
import { type FeedEvent, feedPage, ofType, wholeFeed } from './events-helper.js'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const EVENT_ID = /^\d+-\d+$/

function checkShape (t: Test, event: FeedEvent): void {
  t.same(Object.keys(event).sort(), ['at', 'detail', 'id', 'ip', 'keyId', 'requestId', 'type'], `${event.type}: exactly the contract's fields`)
  t.match(event.id, EVENT_ID)
  t.match(event.at, ISO)
  t.ok(Math.abs(Date.parse(event.at) - Date.now()) < 60_000, 'at: now')
}

for (const store of STORES) {
  t.test(`${store}: each event type appears in the feed with its fields`, async (t) => {
    const app = await settledBuild(t, { store, config: { AUTH_FAILURE_MAX: 3 } })
    const security = await makeKey(app, ['security:admin'], { name: 'siem' })
    const admin = await makeKey(app, ['keys:admin'], { name: 'admin' })
    const ip = '192.0.2.7'

    // key lifecycle over HTTP
    const created = await app.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(admin.key), payload: { name: 'svc', scopes: ['messages:read'], expiresInDays: 30 }, remoteAddress: ip })
    t.equal(created.statusCode, 201)
    const svc = created.json() as { id: string, key: string }
    await patchKey(app, admin.key, svc.id, { scopes: ['messages:read', 'messages:write'], allowedIps: ['10.20.0.0/16'] })
    const rotated = await app.inject({ method: 'POST', url: `/api/v1/keys/${svc.id}/rotate`, headers: withKey(admin.key), payload: { graceSeconds: 30 } })
    t.equal(rotated.statusCode, 200)
    const newKey = rotated.json().key as string

    // an address outside the key's allow-list
    const denied = await app.inject({ url: '/api/v1/messages', headers: withKey(newKey), remoteAddress: '198.51.100.5' })
    t.equal(denied.statusCode, 401)

    // a wrong secret for a real key id, from an allowed address
    const failed = await app.inject({ url: '/api/v1/messages', headers: withKey(formatKey(svc.id, newSecret())), remoteAddress: '10.20.0.5' })
    t.equal(failed.statusCode, 401)

    const revoked = await app.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}`, headers: withKey(admin.key) })
    t.equal(revoked.statusCode, 204)
    const again = await app.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}`, headers: withKey(admin.key) })
    t.equal(again.statusCode, 204, 'revoking again is fine…')

    // signing keys, and a replayed signature
    const signing = await signingService(app)
    const request = createRequest(withKey(signing.key))
    const headers = signedHeaders(app, request, signer(signing.pair))
    t.equal((await send(app, { ...request, remoteAddress: ip }, headers)).statusCode, 201)
    const replay = await send(app, { ...request, remoteAddress: ip }, headers)
    t.equal(replay.statusCode, 401, 'the same signed request again')
    const removed = await app.inject({ method: 'DELETE', url: `/api/v1/keys/${signing.id}/signing-keys/${signing.pair.keyid}`, headers: withKey(signing.admin.key) })
    t.equal(removed.statusCode, 204)

    // a lockout: AUTH_FAILURE_MAX (3) failures, then more from the same address
    const attacker = '203.0.113.9'
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await app.inject({ url: '/api/v1/messages', headers: withToken('not.a.jwt'), remoteAddress: attacker })).statusCode)
    t.same(statuses, [401, 401, 401, 429, 429, 429])

    const events = await wholeFeed(app, security.key)
    for (const event of events) checkShape(t, event)
    t.same(events.map(e => e.id), [...events.map(e => e.id)].sort((a, b) => {
      const [am, as] = a.split('-').map(Number) as [number, number]
      const [bm, bs] = b.split('-').map(Number) as [number, number]
      return am - bm || as - bs
    }), 'oldest first')

    const keyCreated = ofType(events, 'key.created').find(e => e.keyId === svc.id)
    t.match(keyCreated, { keyId: svc.id, detail: { name: 'svc', scopes: 'messages:read', by: /^[a-z0-9]{12}$/ }, ip: /^\d+\.\d+\.\d+\.\d+$/ }, 'key.created: by the admin key that made it, from its address')
    t.match(keyCreated?.detail.expiresAt, ISO)
    t.ok(ofType(events, 'key.created').some(e => e.keyId === security.id && e.detail.scopes === 'security:admin'), 'the keys makeKey made too')
    t.match(ofType(events, 'key.updated'), [{ keyId: svc.id, detail: { fields: 'scopes allowedIps', scopes: 'messages:read messages:write', allowedIps: '10.20.0.0/16' } }], 'key.updated')
    t.match(ofType(events, 'key.rotated'), [{ keyId: svc.id, detail: { graceSeconds: 30 } }], 'key.rotated')
    t.match(ofType(events, 'key.revoked'), [{ keyId: svc.id }], 'key.revoked, once: revoking again changes nothing')
    t.match(ofType(events, 'auth.ip_denied'), [{ keyId: svc.id, ip: '198.51.100.5', requestId: denied.headers['x-request-id'] }], 'auth.ip_denied')
    const failure = ofType(events, 'auth.failure').find(e => e.requestId === failed.headers['x-request-id'])
    t.match(failure, { keyId: svc.id, ip: '10.20.0.5', detail: { reason: 'api-key' } }, 'auth.failure with the claimed key id, the address and the request id')
    t.match(ofType(events, 'signing_key.added').find(e => e.keyId === signing.id), { detail: { keyid: signing.pair.keyid, alg: 'ed25519' } }, 'signing_key.added with the thumbprint')
    t.match(ofType(events, 'signing_key.removed'), [{ keyId: signing.id, detail: { keyid: signing.pair.keyid } }], 'signing_key.removed')
    t.match(ofType(events, 'proof.replayed'), [{ keyId: signing.id, ip, requestId: replay.headers['x-request-id'], detail: { proof: 'sig' } }], 'proof.replayed')
    t.ok(ofType(events, 'auth.failure').some(e => e.requestId === replay.headers['x-request-id'] && /replayed nonce/.test(String(e.detail.reason))), `and the failure it caused: ${JSON.stringify(ofType(events, 'auth.failure').filter(e => e.requestId === replay.headers['x-request-id']))}`)
    t.equal(ofType(events, 'auth.failure').filter(e => e.ip === attacker).length, 4, 'failures up to the one that passes the limit; refused while locked out: not counted')
    t.match(ofType(events, 'auth.lockout'), [{ ip: attacker, keyId: null, detail: { failures: 4 } }], 'auth.lockout once, not on every refused request')
    t.ok((ofType(events, 'auth.lockout')[0]?.detail.retryAfterSeconds as number) > 0)
  })

  t.test(`${store}: a DPoP proof replayed is proof.replayed`, async (t) => {
    const app = await settledBuild(t, { store })
    const security = await makeKey(app, ['security:admin'])
    const svc = await makeKey(app, ['messages:read'])
    const proof = await makeProof(await proofKey())
    const first = await requestToken(app, '/api/v1/auth/token', svc.id, svc.key, proof)
    t.equal(first.statusCode, 200)
    const second = await requestToken(app, '/api/v1/auth/token', svc.id, svc.key, proof)
    t.not(second.statusCode, 200, 'the same proof again is refused')
    const events = await wholeFeed(app, security.key)
    t.match(ofType(events, 'proof.replayed'), [{ keyId: svc.id, requestId: second.headers['x-request-id'], detail: { proof: 'dpop' } }])
  })

  t.test(`${store}: paging with after, next, limits`, async (t) => {
    const app = await settledBuild(t, { store })
    const security = await makeKey(app, ['security:admin'])
    for (let i = 0; i < 25; i++) app.securityEvents.emit({ type: 'policy.reset', detail: { n: i } })
    const all = await wholeFeed(app, security.key)
    t.same(all.filter(e => e.type === 'policy.reset').map(e => e.detail.n), Array.from({ length: 25 }, (_, i) => i))
    t.equal(all.length, 26, 'and the key.created of the security key')

    const first = await feedPage(app, security.key, '?limit=10')
    t.equal(first.statusCode, 200)
    const page1 = first.json()
    t.equal(page1.items.length, 10)
    t.equal(page1.next, page1.items[9].id, 'next: the last id of a page with more after it')
    const page2 = (await feedPage(app, security.key, `?limit=10&after=${page1.next as string}`)).json()
    t.same(page2.items.map((e: FeedEvent) => e.id), all.slice(10, 20).map(e => e.id))
    const page3 = (await feedPage(app, security.key, `?after=${page2.next as string}`)).json()
    t.same(page3.items.map((e: FeedEvent) => e.id), all.slice(20).map(e => e.id), 'the default limit (100) takes the rest')
    t.equal(page3.next, null, 'null: nothing more right now')
    const last = all[all.length - 1]!.id
    t.same((await feedPage(app, security.key, `?after=${last}`)).json(), { items: [], next: null }, 'a poller that is up to date')
    app.securityEvents.emit({ type: 'policy.reset' })
    t.same((await feedPage(app, security.key, `?after=${last}`)).json().items.map((e: FeedEvent) => e.type), ['policy.reset'], 'and then what came since')
    t.equal((await feedPage(app, security.key, '?limit=1000')).json().items.length, 27, 'limit 1000')
    t.equal((await feedPage(app, security.key, '?limit=1')).json().items.length, 1, 'limit 1')

    for (const query of ['?limit=0', '?limit=1001', '?limit=-1', '?limit=abc', '?limit=1.5']) {
      const res = await feedPage(app, security.key, query)
      t.equal(res.statusCode, 400, query)
      t.equal(res.json().code, 'VALIDATION_ERROR', query)
    }
    for (const after of ['abc', '1', '1-2-3', '(0-0', '-', '%2B', '99999999999999999999-0', 'x'.repeat(50)]) {
      const res = await feedPage(app, security.key, `?after=${after}`)
      t.equal(res.statusCode, 400, `after=${after}`)
      t.equal(res.json().code, 'VALIDATION_ERROR')
    }
    t.match((await feedPage(app, security.key, '?after=abc')).json().message, /after/)
    t.equal((await feedPage(app, security.key, '?other=1')).statusCode, 400, 'an unknown parameter')
  })

  t.test(`${store}: the cap holds (SECURITY_EVENTS_MAX)`, async (t) => {
    const app = await settledBuild(t, { store, config: { SECURITY_EVENTS_MAX: 100 } })
    const security = await makeKey(app, ['security:admin'])
    for (let i = 0; i < 400; i++) app.securityEvents.emit({ type: 'block.lifted', detail: { n: i } })
    const kept = await wholeFeed(app, security.key, 37)
    const slack = store === 'memory' ? 0 : 100
    t.ok(kept.length >= 100 && kept.length <= 100 + slack, `${kept.length} kept`)
    t.equal(kept.at(-1)?.detail.n, 399, 'the newest kept')
    t.same(kept.map(e => e.detail.n), Array.from({ length: kept.length }, (_, i) => 400 - kept.length + i), 'the last ones, in order')
  })

  t.test(`${store}: security:admin only`, async (t) => {
    const app = await settledBuild(t, { store })
    const other = await makeKey(app, ['keys:admin', 'messages:read', 'messages:write', 'messages:delete', 'metrics:read'])
    const security = await makeKey(app, ['security:admin'])
    const none = await app.inject({ url: '/api/v1/security/events' })
    t.equal(none.statusCode, 401)
    t.ok(none.headers['www-authenticate'])
    t.equal((await app.inject({ url: '/api/v1/security/events', headers: withKey(other.key) })).statusCode, 403, 'every other scope: 403')
    t.equal((await app.inject({ url: '/api/v1/security/events', headers: withToken(await tokenFor(app, other.key)) })).statusCode, 403)
    t.equal((await app.inject({ url: '/api/v1/security/events', headers: withToken(await tokenFor(app, security.key)) })).statusCode, 200, 'a token with the scope')
    t.equal((await app.inject({ url: '/api/v1/security/events', headers: withKey(security.key) })).statusCode, 200)
  })
}

t.test('the route documents its query and every answer', async (t) => {
  const app = await build(t)
  const spec = (await app.inject('/docs/json')).json()
  const op = spec.paths['/api/v1/security/events'].get
  t.ok(op, 'in the OpenAPI document')
  t.same(Object.keys(op.responses).sort(), ['200', '400', '401', '403', '429', '500', '503', '507'])
  t.ok(op.parameters.some((p: { name: string }) => p.name === 'after'))
  t.ok(op.parameters.some((p: { name: string }) => p.name === 'limit'))
})
