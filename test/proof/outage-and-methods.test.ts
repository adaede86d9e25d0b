import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { generateSigningKey, signRequest } from '../../src/auth/http-signatures/sign.js'
import { RedisServer } from '../../scripts/lib/redis-server.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { build, sleep } from '../helper.js'

// The failure paths of section 7's state: the store down in the middle of a signed request or a
// signing-key change is a 503 with the standard body, never a 500, and nothing is accepted
// that could not be checked; other methods on the new routes are 405 with Allow.

t.test('store down: signing-key routes and a signed request answer 503, not 500, and accept nothing unchecked', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => { await redis.destroy() })
  const app = await buildApp(loadConfig({}, { LOG_LEVEL: 'silent', REDIS_URL: redis.url }))
  t.teardown(async () => { await app.close() })
  await app.ready()
  const admin = await makeKey(app)
  const service = await makeKey(app, ['messages:write'])
  const signer = generateSigningKey('ed25519')
  const added = await app.inject({ method: 'POST', url: `/api/v1/keys/${service.id}/signing-keys`, headers: withKey(admin.key), payload: { jwk: signer.publicJwk } })
  t.equal(added.statusCode, 201)
  // Warm: the admin key's and the service key's verifications are cached, so the outage meets the new steps.
  const body = JSON.stringify({ content: 'signed' })
  const signed = (): Record<string, string> => ({
    ...withKey(service.key),
    'content-type': 'application/json',
    ...signRequest({ method: 'POST', url: `${app.config.publicUrl}/api/v1/messages`, body }, { jwk: signer.privateJwk, keyid: signer.keyid })
  })
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/messages', headers: signed(), payload: body })).statusCode, 201, 'signed, store up: 201')

  await redis.stop()
  const checks = [
    await app.inject({ method: 'POST', url: '/api/v1/messages', headers: signed(), payload: body }),
    await app.inject({ method: 'GET', url: `/api/v1/keys/${service.id}/signing-keys`, headers: withKey(admin.key) }),
    await app.inject({ method: 'POST', url: `/api/v1/keys/${service.id}/signing-keys`, headers: withKey(admin.key), payload: { jwk: generateSigningKey('p-256').publicJwk } }),
    await app.inject({ method: 'DELETE', url: `/api/v1/keys/${service.id}/signing-keys/${signer.keyid}`, headers: withKey(admin.key) }),
    await app.inject({ method: 'PATCH', url: `/api/v1/keys/${service.id}`, headers: withKey(admin.key), payload: { requireSignature: true } })
  ]
  for (const res of checks) {
    t.equal(res.statusCode, 503, `${res.json().message}`)
    t.equal(res.json().code, 'SERVICE_UNAVAILABLE')
    t.notMatch(res.body, /stack|redis|ECONNREFUSED/i, 'the store is not named')
  }

  // (This throwaway Redis keeps nothing across its restart: recovery with data is test/drills.)
  await redis.start()
  const deadline = Date.now() + 10_000
  while ((await app.inject('/ready')).statusCode !== 200 && Date.now() < deadline) await sleep(100)
  t.equal((await app.inject('/ready')).statusCode, 200, 'ready again once the store is back')
})

t.test('other methods on the new routes: 405 with Allow', async (t) => {
  const app = await build(t, { store: 'memory' })
  const admin = await makeKey(app)
  const cases: Array<[string, string, RegExp]> = [
    ['PUT', `/api/v1/keys/${admin.id}/signing-keys`, /^GET, HEAD, OPTIONS, POST$/],
    ['PATCH', `/api/v1/keys/${admin.id}/signing-keys/${'A'.repeat(43)}`, /^DELETE, OPTIONS$/],
    ['PUT', `/api/v1/keys/${admin.id}`, /PATCH/]
  ]
  for (const [method, url, allow] of cases) {
    const res = await app.inject({ method: method as 'PUT', url, headers: withKey(admin.key) })
    t.equal(res.statusCode, 405, `${method} ${url}`)
    t.match(res.headers.allow, allow)
    t.equal(res.json().code, 'METHOD_NOT_ALLOWED')
  }
})
