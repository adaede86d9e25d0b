import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import t, { type Test } from 'tap'
import { type App, buildApp } from '../../src/app.js'
import type { IssuerKeyTiming } from '../../src/auth/issuer-keys.js'
import { loadConfig } from '../../src/config.js'
import { makeKey, withToken } from '../api/api-helper.js'
import { flushRedis, sleep, testRedis } from '../helper.js'
import { basic, decodeJwt, oauthToken, postForm } from './oauth-helper.js'

/**
 * Issuer-key rotation end to end, through HTTP, on two instances sharing one Redis
 * (API.md section 2: "a new key is published before it signs, an old one stays published
 * until its last token expires"), with periods of seconds instead of days.
 *
 * Tokens live JWT_TTL_SECONDS (30 s, the minimum); the JWKS retirement is governed by
 * issuerKeyTiming.tokenTtlMs (4 s) so the file stays short. The assertions therefore use
 * the overlap window for "old tokens keep working" and the JWKS for retirement.
 */

// Twice the periods it first had: two instances starting on a loaded CI machine (four test files
// at a time) took longer than the 2.35 s the first window left them.
const TIMING: Partial<IssuerKeyTiming> = { rotationMs: 12_000, prepublishMs: 6000, tokenTtlMs: 8000, clockSkewMs: 0, refreshMs: 500 }
const ROTATION = 12_000
const PREPUBLISH = 6000
const TOKEN_TTL = 8000
const REFRESH = 500
const PUBLIC_URL = 'https://missive.example.com'

async function instance (t: Test, redisUrl: string): Promise<App> {
  const config = loadConfig({}, {
    LOG_LEVEL: 'silent',
    REDIS_URL: redisUrl,
    PUBLIC_URL,
    JWT_TTL_SECONDS: 30,
    RATE_LIMIT_READ_MAX: 100_000,
    RATE_LIMIT_CREATE_MAX: 100_000
  })
  const app = await buildApp({ ...config, issuerKeyTiming: TIMING })
  t.teardown(async () => { await app.close() })
  return app
}

async function jwks (app: App): Promise<JSONWebKeySet> {
  const res = await app.inject('/.well-known/jwks.json')
  if (res.statusCode !== 200) throw new Error(`jwks: ${res.statusCode}`)
  return res.json()
}

const kids = async (app: App): Promise<string[]> => (await jwks(app)).keys.map((k) => String(k.kid))

async function untilTime (at: number): Promise<void> {
  const wait = at - Date.now()
  if (wait > 0) await sleep(wait)
}

async function status (app: App, token: string): Promise<number> {
  return (await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode
}

t.test('issuer keys rotate without downtime across two instances', async (t) => {
  const redis = await testRedis()
  await flushRedis(redis.url)

  // Start just after a period boundary, so that no next key is due yet (it is published
  // PREPUBLISH before its period).
  const firstBoundary = Math.ceil((Date.now() + 50) / ROTATION) * ROTATION
  await untilTime(firstBoundary + 150)

  const [one, two] = await Promise.all([instance(t, redis.url), instance(t, redis.url)])
  await Promise.all([one.ready(), two.ready()])
  t.ok(Date.now() < firstBoundary + PREPUBLISH - 500, 'started well before the next key is due')

  // Two instances, one empty store: one key, the same on both.
  const [kidsOne, kidsTwo] = await Promise.all([kids(one), kids(two)])
  t.equal(kidsOne.length, 1, 'one key published')
  t.strictSame(kidsTwo, kidsOne, 'the same kid on both instances')
  const stored = await one.issuerKeyStore.list()
  t.equal(stored.length, 1, 'exactly one key in the store')
  const k1 = kidsOne[0] as string
  t.equal(stored[0]?.kid, k1)
  const signsUntil = stored[0]?.signsUntil as number
  t.equal(signsUntil, firstBoundary + ROTATION, 'it signs until the end of its period')

  const { id, key } = await makeKey(one, ['messages:read'])
  const early = (await oauthToken(one, id, key)).access_token
  const earlyViaApi = await two.inject({ method: 'POST', url: '/api/v1/auth/token', headers: { 'x-api-key': key } })
  t.equal(decodeJwt(early).header.kid, k1, 'tokens carry the current kid')
  t.equal(decodeJwt(earlyViaApi.json().access_token).header.kid, k1, 'on either instance')
  // `seen` is used on both instances before the rotation; `unseen` is first verified after it.
  const seen = early
  const unseen = (await oauthToken(two, id, key)).access_token
  t.equal(await status(one, seen), 200)
  t.equal(await status(two, seen), 200)

  // Prepublication: the next key is in both JWKS before it signs.
  await untilTime(signsUntil - PREPUBLISH + 2 * REFRESH + 500)
  const [prepubOne, prepubTwo] = await Promise.all([kids(one), kids(two)])
  t.equal(prepubOne.length, 2, 'the next key is published ahead of its period')
  t.strictSame(prepubTwo, prepubOne, 'both instances publish the same two keys')
  const k2 = prepubOne.find((kid) => kid !== k1) as string
  t.ok(k2 !== undefined && k2 !== k1, 'a new kid')
  t.equal(prepubOne[1], k1, 'newest first: the next key, then the signing one')
  t.equal(decodeJwt((await oauthToken(two, id, key)).access_token).header.kid, k1, 'the old key still signs until its period ends')
  t.equal((await one.issuerKeyStore.list()).length, 2, 'one next key in the store, not one per instance')

  // The rotation.
  await untilTime(signsUntil + 300)
  for (const [name, app] of [['one', one], ['two', two]] as const) {
    const fresh = (await oauthToken(app, id, key)).access_token
    t.equal(decodeJwt(fresh).header.kid, k2, `instance ${name}: new tokens carry the new kid`)
    const viaApi = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: { 'x-api-key': key } })
    t.equal(decodeJwt(viaApi.json().access_token).header.kid, k2, `instance ${name}: POST /api/v1/auth/token too`)
    t.equal(await status(one, fresh), 200, `a ${name} token with the new kid works on one`)
    t.equal(await status(two, fresh), 200, `a ${name} token with the new kid works on two`)
  }
  for (const [name, app] of [['one', one], ['two', two]] as const) {
    t.equal(await status(app, seen), 200, `instance ${name}: a token issued before the rotation keeps working`)
    t.equal(await status(app, unseen), 200, `instance ${name}: also one it verifies for the first time now`)
    const introspected = await postForm(app, '/oauth/introspect', { token: unseen }, { authorization: basic(id, key) })
    t.match(introspected.json(), { active: true, sub: id }, `instance ${name}: introspection says active`)
    const set = await jwks(app)
    const published = set.keys.map((k) => String(k.kid))
    // (from signsUntil + PREPUBLISH on, the key after k2 is published too)
    t.same(published.filter((kid) => kid === k1 || kid === k2), [k2, k1], `instance ${name}: the JWKS shows both keys during the overlap, newest first`)
    t.ok(published.length <= 3, `instance ${name}: and nothing else but the next key`)
    // what a gateway does with that JWKS
    const verified = await jwtVerify(unseen, createLocalJWKSet(set), { issuer: PUBLIC_URL, audience: 'missive-api', typ: 'at+jwt' })
    t.equal(verified.protectedHeader.kid, k1, `instance ${name}: a gateway verifies the old token with the published JWKS`)
  }

  // Still there just before signsUntil + tokenTtlMs…
  await untilTime(signsUntil + TOKEN_TTL - 800)
  for (const app of [one, two]) t.ok((await kids(app)).includes(k1), 'the old key is published until its last token expires')
  t.equal(await status(two, unseen), 200, 'and its tokens work')

  // …and gone after it, on both instances, while the current key stays.
  await untilTime(signsUntil + TOKEN_TTL + 300)
  for (const [name, app] of [['one', one], ['two', two]] as const) {
    const after = await kids(app)
    t.notOk(after.includes(k1), `instance ${name}: the old key left the JWKS after signsUntil + tokenTtlMs`)
    t.ok(after.includes(k2), `instance ${name}: the signing key stays`)
    t.ok(after.length <= 2, `instance ${name}: the signing key and at most the next one (${after.length})`)
    const fresh = (await oauthToken(app, id, key)).access_token
    t.equal(decodeJwt(fresh).header.kid, k2, `instance ${name}: still signing with the new key`)
  }
  // both instances agree on the whole set (the next key, due PREPUBLISH before its period, included)
  await sleep(REFRESH + 100)
  t.strictSame(await kids(two), await kids(one), 'the two JWKS agree')
})
