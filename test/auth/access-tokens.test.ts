import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { decodeProtectedHeader, SignJWT } from 'jose'
import t from 'tap'
import { issuerKeysKey } from '../../src/storage/redis/keys.js'
import type { StoredIssuerKey } from '../../src/storage/issuer-key-store.js'
import { build, testRedis } from '../helper.js'
import { makeKey, tokenFor, withToken } from '../api/api-helper.js'
import { basic, postForm } from '../oauth/oauth-helper.js'

// What an issued token may not outlive, and what one signature check buys (review findings
// of issue 15: each of these failed before the fix).

const list = async (app: Awaited<ReturnType<typeof build>>, token: string): Promise<{ status: number, challenge: string | undefined }> => {
  const res = await app.inject({ url: '/api/v1/messages', headers: withToken(token) })
  return { status: res.statusCode, challenge: res.headers['www-authenticate'] as string | undefined }
}

t.test('a token whose key left the store is refused, even when it was verified (and cached) before', async (t) => {
  const app = await build(t, { store: 'redis' })
  const { key } = await makeKey(app, ['messages:read'])
  const token = await tokenFor(app, key)
  t.equal((await list(app, token)).status, 200, 'verified once: now in the cache')

  // The operator's remedy for a leaked signing key (README): delete the hash.
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => redis.disconnect())
  await redis.del(issuerKeysKey)
  await app.issuerKeys.refresh()

  const refused = await list(app, token)
  t.equal(refused.status, 401, 'the cached token is refused once its key is gone')
  t.match(refused.challenge, /error="invalid_token"/)
  const fresh = await tokenFor(app, key)
  t.not(decodeProtectedHeader(fresh).kid, decodeProtectedHeader(token).kid, 'new tokens come from a new key')
  t.equal((await list(app, fresh)).status, 200)
})

t.test('a token expiring after its key leaves the JWKS was not made here: refused', async (t) => {
  const app = await build(t, { store: 'memory' })
  const { id } = await makeKey(app, ['messages:read'])
  const { kid, alg, privateKey, publishedUntil } = await app.issuerKeys.signing()
  const now = Math.floor(Date.now() / 1000)
  const sign = async (exp: number): Promise<string> => await new SignJWT({ scope: 'messages:read', client_id: id, jti: randomBytes(8).toString('hex') })
    .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
    .setIssuer(app.config.publicUrl).setAudience('missive-api').setSubject(id)
    .setIssuedAt(now).setExpirationTime(exp)
    .sign(privateKey)
  t.equal((await list(app, await sign(now + 60))).status, 200, 'the control: an ordinary lifetime')
  t.equal((await list(app, await sign(Math.floor(publishedUntil / 1000) + 1))).status, 401, 'one second past the key\'s publication')
  t.equal((await list(app, await sign(now + 10 * 365 * 86400))).status, 401, 'ten years')
})

t.test('a burst of requests with one new token checks its signature once', async (t) => {
  const app = await build(t, { store: 'memory' })
  const { key } = await makeKey(app, ['messages:read'])
  const token = await tokenFor(app, key)
  let checks = 0
  const original = app.issuerKeys.verificationKey.bind(app.issuerKeys)
  app.issuerKeys.verificationKey = (kid: string) => { checks++; return original(kid) }
  const statuses = await Promise.all(Array.from({ length: 30 }, async () => (await list(app, token)).status))
  t.ok(statuses.every((s) => s === 200))
  t.equal(checks, 1, 'one signature check for 30 concurrent requests')
})

t.test('instances with different ENCRYPTION_KEYs: each signs with its own key, all verify, and it is logged', async (t) => {
  const logs: string[] = []
  const first = await build(t, { store: 'redis', logs, config: { LOG_LEVEL: 'warn', ENCRYPTION_KEY: randomBytes(32).toString('base64') } })
  const second = await build(t, { store: 'redis', flush: false, logs, config: { LOG_LEVEL: 'warn', ENCRYPTION_KEY: randomBytes(32).toString('base64') } })
  const { key } = await makeKey(first, ['messages:read'])
  const [fromFirst, fromSecond] = [await tokenFor(first, key), await tokenFor(second, key)]
  t.not(decodeProtectedHeader(fromFirst).kid, decodeProtectedHeader(fromSecond).kid, 'two keys: neither can open the other\'s')
  t.notOk(logs.some((line) => /different ENCRYPTION_KEY/.test(line)), 'the newer key\'s instance cannot tell a mistake from an ENCRYPTION_KEY changed everywhere')
  for (const [app, token] of [[first, fromSecond], [second, fromFirst]] as const) t.equal((await list(app, token)).status, 200, 'each verifies the other\'s token')
  await first.issuerKeys.refresh() // its periodic re-read (once a minute), or the unknown kid above
  t.ok(logs.some((line) => /different ENCRYPTION_KEY/.test(line) && JSON.parse(line).level === 40), 'the older key\'s instance sees a newer key sealed differently: a warning says why')
  t.notOk(logs.some((line) => line.includes('"d"')), 'no private part in the log')
})

t.test('a stored key that cannot be opened: token requests get 503 (standard body), the reason goes to the log', async (t) => {
  const logs: string[] = []
  const app = await build(t, { store: 'redis', logs, config: { LOG_LEVEL: 'warn', ENCRYPTION_KEY: randomBytes(32).toString('base64') } })
  const { id, key } = await makeKey(app, ['messages:read'])
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => redis.disconnect())
  // The sealed private key is damaged in the store (a bad restore, a hand edit).
  const fields = await redis.hgetall(issuerKeysKey)
  for (const [name, json] of Object.entries(fields)) {
    const stored = JSON.parse(json) as StoredIssuerKey
    await redis.hset(issuerKeysKey, name, JSON.stringify({ ...stored, sealedPrivateJwk: 'v1:' + randomBytes(64).toString('base64') }))
  }
  const other = await build(t, { store: 'redis', flush: false, logs, config: { LOG_LEVEL: 'warn', ENCRYPTION_KEY: app.config.ENCRYPTION_KEY } })
  t.ok(logs.some((line) => /IssuerKeyUnusable|cannot be opened/.test(line) && JSON.parse(line).level === 50), 'reported at start, as an error')
  for (const res of [
    await other.inject({ method: 'POST', url: '/api/v1/auth/token', headers: { 'x-api-key': key } }),
    await postForm(other, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basic(id, key) })
  ]) {
    t.equal(res.statusCode, 503)
    t.same(res.json(), { statusCode: 503, error: 'Service Unavailable', message: 'Service temporarily unavailable, try again shortly', code: 'SERVICE_UNAVAILABLE' })
    t.ok(res.headers['retry-after'])
  }
})
