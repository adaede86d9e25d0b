import t from 'tap'
import { formatKey, newSecret } from '../../src/api-keys.js'
import { ALL_SCOPES, makeKey, tokenFor, withKey, withToken } from '../api/api-helper.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { build, sleep } from '../helper.js'
import { RedisServer } from '../helpers/redis-server.js'
import {
  assertOAuthError, assertStandardError, basic, decodeJwt, FORM_TYPE, oauthToken, percentEncodeAll, postForm
} from './oauth-helper.js'

/** POST /oauth/token (API.md section 6, RFC 6749 §4.4 and §5), the metadata and the JWKS. */

const TOKEN = '/oauth/token'
const GRANT = { grant_type: 'client_credentials' }
const RFC_6749_ERROR_CODES = ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope']
// RFC 9449 §5 adds one for a token request whose DPoP proof does not hold (API.md section 7).
const OAUTH_ERROR_CODES = [...RFC_6749_ERROR_CODES, 'invalid_dpop_proof']

t.test('every RFC 6749 §5.2 error the token endpoint produces, with its status', async (t) => {
  const app = await build(t, { store: 'memory' })
  const { id, key } = await makeKey(app, ['messages:read', 'messages:write'])
  const auth = { authorization: basic(id, key) }
  const wrongKey = formatKey(id, newSecret())

  assertOAuthError(t, await postForm(app, TOKEN, {}, auth), 400, 'invalid_request', 'missing grant_type')
  assertOAuthError(t, await postForm(app, TOKEN, { scope: 'messages:read' }, auth), 400, 'invalid_request', 'missing grant_type, other parameters present')
  assertOAuthError(t, await postForm(app, TOKEN, { grant_type: 'password', username: 'u', password: 'p' }, auth), 400, 'unsupported_grant_type', 'grant_type=password')
  assertOAuthError(t, await postForm(app, TOKEN, { grant_type: 'authorization_code', code: 'x' }, auth), 400, 'unsupported_grant_type', 'grant_type=authorization_code')
  assertOAuthError(t, await postForm(app, TOKEN, { grant_type: 'refresh_token', refresh_token: 'x' }, auth), 400, 'unsupported_grant_type', 'grant_type=refresh_token')

  assertOAuthError(t, await postForm(app, TOKEN, GRANT), 401, 'invalid_client', 'no client authentication')
  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, client_id: id }), 401, 'invalid_client', 'client_id alone (a public client)')
  assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: basic(id, wrongKey) }), 401, 'invalid_client', 'Basic, wrong secret')
  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, client_id: id, client_secret: wrongKey }), 401, 'invalid_client', 'post, wrong secret')
  assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: basic('aaaaaaaaaaaa', formatKey('aaaaaaaaaaaa', newSecret())) }), 401, 'invalid_client', 'unknown client')
  const other = await makeKey(app, ['messages:read'])
  assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: basic(id, other.key) }), 401, 'invalid_client', 'Basic, another client\'s key as the secret')
  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, client_id: id, client_secret: other.key }), 401, 'invalid_client', 'post, another client\'s key as the secret')
  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, client_id: other.id }, auth), 401, 'invalid_client', 'Basic, and a form client_id that differs')
  assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: `Bearer ${key}` }), 401, 'invalid_client', 'another scheme')
  assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: `Basic ${Buffer.from(key).toString('base64')}` }), 401, 'invalid_client', 'Basic without a colon')

  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, client_id: id, client_secret: key }, auth), 400, 'invalid_request', 'Basic and client_secret in the form')
  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, client_secret: key }), 400, 'invalid_request', 'client_secret without client_id')

  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, scope: 'keys:admin' }, auth), 400, 'invalid_scope', 'a scope the key lacks')
  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, scope: 'messages:read keys:admin' }, auth), 400, 'invalid_scope', 'widening is refused')
  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, scope: 'openid' }, auth), 400, 'invalid_scope', 'an unknown scope')
  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, scope: 'messages:read messages:READ' }, auth), 400, 'invalid_scope', 'scopes are case-sensitive')

  assertOAuthError(t, await postForm(app, TOKEN, 'grant_type=client_credentials&grant_type=client_credentials', auth), 400, 'invalid_request', 'grant_type repeated')
  assertOAuthError(t, await postForm(app, TOKEN, 'grant_type=client_credentials&scope=messages%3Aread&scope=messages%3Awrite', auth), 400, 'invalid_request', 'scope repeated')
  assertOAuthError(t, await postForm(app, TOKEN, `grant_type=client_credentials&client_id=${id}&client_id=${id}&client_secret=${key}`), 400, 'invalid_request', 'client_id repeated')

  const json = await app.inject({ method: 'POST', url: TOKEN, headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(GRANT) })
  assertOAuthError(t, json, 400, 'invalid_request', 'a JSON body')
  const text = await app.inject({ method: 'POST', url: TOKEN, headers: { ...auth, 'content-type': 'text/plain' }, payload: 'grant_type=client_credentials' })
  assertOAuthError(t, text, 400, 'invalid_request', 'a text/plain body')
  const none = await app.inject({ method: 'POST', url: TOKEN, headers: auth })
  assertOAuthError(t, none, 400, 'invalid_request', 'no body at all')

  const big = await postForm(app, TOKEN, { ...GRANT, padding: 'a'.repeat(9000) }, auth)
  assertOAuthError(t, big, 413, 'invalid_request', 'a body over 8192 bytes')
  const justUnder = await postForm(app, TOKEN, `grant_type=client_credentials&padding=${'a'.repeat(8192 - 'grant_type=client_credentials&padding='.length)}`, auth)
  t.equal(justUnder.statusCode, 200, 'a body of exactly 8192 bytes is read (unknown parameters are ignored, RFC 6749 §3.2)')
  const longField = await postForm(app, TOKEN, { ...GRANT, scope: 'a'.repeat(5000) }, auth)
  assertOAuthError(t, longField, 400, 'invalid_request', 'a parameter over 4096 characters')

  // invalid_grant and unauthorized_client are not produced by this grant, but the contract's
  // error schema (and so the document clients generate from) lists every §5.2 code.
  const doc = (await app.inject('/docs/json')).json()
  for (const path of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
    for (const status of ['400', '401']) {
      const schema = doc.paths[path]?.post?.responses?.[status]?.content?.['application/json']?.schema
      t.ok(schema !== undefined, `${path} documents its ${status}`)
      const error = schema?.properties?.error
      const codes: unknown[] = error?.enum ?? (error?.anyOf ?? error?.oneOf ?? []).flatMap((s: { enum?: unknown[], const?: unknown }) => s.enum ?? [s.const])
      t.same([...codes].sort(), [...OAUTH_ERROR_CODES].sort(), `${path} ${status}: the error enum is RFC 6749 §5.2's six codes and RFC 9449's invalid_dpop_proof`)
      t.same(schema?.required, ['error'])
    }
  }
})

t.test('success: the RFC 6749 §5.1 response', async (t) => {
  const app = await build(t, { store: 'memory', config: { PUBLIC_URL: 'https://missive.example.com' } })
  const { id, key } = await makeKey(app, ['messages:read', 'messages:write'])

  for (const [method, res] of [
    ['client_secret_basic', await postForm(app, TOKEN, GRANT, { authorization: basic(id, key) })],
    ['client_secret_post', await postForm(app, TOKEN, { ...GRANT, client_id: id, client_secret: key })]
  ] as const) {
    t.equal(res.statusCode, 200, method)
    t.equal(res.headers['cache-control'], 'no-store', `${method}: Cache-Control: no-store`)
    t.equal(res.headers.pragma, 'no-cache', `${method}: Pragma: no-cache`)
    t.match(res.headers['content-type'], /^application\/json; charset=utf-8$/)
    const body = res.json()
    t.strictSame(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'], `${method}: exactly the four fields, no refresh_token`)
    t.equal(body.token_type, 'Bearer')
    t.equal(body.expires_in, 900, 'JWT_TTL_SECONDS')
    t.equal(body.scope, 'messages:read messages:write', 'no scope asked: every scope of the key')
    const { header, payload } = decodeJwt(body.access_token)
    t.match(header, { typ: 'at+jwt', alg: 'ES256', kid: String })
    t.equal(payload.iss, 'https://missive.example.com')
    t.equal(payload.aud, 'missive-api')
    t.equal(payload.sub, id)
    t.equal(payload.client_id, id)
    t.equal(payload.scope, 'messages:read messages:write')
    t.equal((payload.exp as number) - (payload.iat as number), 900)
    const use = await app.inject({ url: '/api/v1/messages', headers: withToken(body.access_token) })
    t.equal(use.statusCode, 200, `${method}: the token works`)
  }

  // Unknown parameters are ignored (RFC 6749 §3.2); the client_id may accompany Basic when it agrees.
  const extra = await postForm(app, TOKEN, { ...GRANT, client_id: id, resource: 'https://x.example', audience: 'y' }, { authorization: basic(id, key) })
  t.equal(extra.statusCode, 200, 'unknown parameters and an agreeing client_id are fine')
})

t.test('scope narrows, never widens', async (t) => {
  const app = await build(t, { store: 'memory' })
  const { id, key } = await makeKey(app, ['messages:read', 'messages:write', 'messages:delete'])

  const narrowed = await oauthToken(app, id, key, 'messages:read')
  t.equal(narrowed.scope, 'messages:read', 'the body says what was granted')
  t.equal(decodeJwt(narrowed.access_token).payload.scope, 'messages:read', 'and so does the token')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(narrowed.access_token) })).statusCode, 200)
  const write = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withToken(narrowed.access_token), payload: { content: 'x' } })
  t.equal(write.statusCode, 403, 'a narrowed token cannot do what it was not granted')
  t.match(write.headers['www-authenticate'], /error="insufficient_scope"/)

  const two = await oauthToken(app, id, key, 'messages:write messages:read')
  t.same(two.scope.split(' ').sort(), ['messages:read', 'messages:write'])
  t.same(String(decodeJwt(two.access_token).payload.scope).split(' ').sort(), ['messages:read', 'messages:write'])

  const dup = await oauthToken(app, id, key, 'messages:read  messages:read')
  t.equal(dup.scope, 'messages:read', 'duplicates and extra spaces collapse')

  // '+' is a space in a form body: a hand-written form works like an encoder's.
  const plus = await postForm(app, TOKEN, 'grant_type=client_credentials&scope=messages%3Aread+messages%3Adelete', { authorization: basic(id, key) })
  t.equal(plus.statusCode, 200)
  t.same(plus.json().scope.split(' ').sort(), ['messages:delete', 'messages:read'], "'+' in the form is a space")

  const all = await oauthToken(app, id, key)
  t.equal(all.scope, 'messages:read messages:write messages:delete', 'absent scope: all the key holds')

  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, scope: 'messages:read metrics:read' }, { authorization: basic(id, key) }), 400, 'invalid_scope', 'widening')
})

t.test('Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1)', async (t) => {
  const app = await build(t, { store: 'memory', config: { AUTH_FAILURE_MAX: 100 } })
  const { id, key } = await makeKey(app, ['messages:read'])

  const ok = async (authorization: string, what: string): Promise<void> => {
    const res = await postForm(app, TOKEN, GRANT, { authorization })
    t.equal(res.statusCode, 200, what)
    if (res.statusCode === 200) t.equal(decodeJwt(res.json().access_token).payload.sub, id, `${what}: the right client`)
  }
  await ok(basic(id, key), 'as is (curl -u, most clients: the alphabet needs no encoding)')
  await ok(basic(percentEncodeAll(id), percentEncodeAll(key)), 'every character as %XX')
  await ok(basic(percentEncodeAll(id, true), percentEncodeAll(key, true)), 'every character as lowercase %xx')
  await ok(basic(id, key.replace(/-/g, '%2D').replace(/_/g, '%5F')), "'-' and '_' encoded, as oauth4webapi and Spring do")
  await ok(`basic ${basic(id, key).slice(6)}`, 'the scheme is case-insensitive')

  const fails = async (authorization: string, what: string): Promise<void> => {
    assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization }), 401, 'invalid_client', what)
  }
  await fails(basic(id, `${key}%`), "a raw '%' at the end")
  await fails(basic(id, `${key.slice(0, 10)}%zz${key.slice(10)}`), "a raw '%' that starts no escape")
  await fails(basic(`${id}%`, key), "a raw '%' in the client id")
  await fails(basic(id, `${key}+`), "a '+' is a space once decoded, not part of the secret")
  await fails(basic(id, key.replace(/^msk_/, 'msk+')), "'+' decodes to a space: not the key")
  await fails(basic(id, `${key}%00`), 'an encoded NUL')
  await fails(`Basic ${Buffer.from(`${id}:${key}`).toString('base64url')}=!`, 'not base64')
})

t.test('a revoked key is an invalid_client, on memory and on Redis', async (t) => {
  for (const store of ['memory', 'redis'] as const) {
    const app = await build(t, { store })
    const admin = await makeKey(app, ['keys:admin'])
    const { id, key } = await makeKey(app, ['messages:read'])
    const token = (await oauthToken(app, id, key)).access_token // a success first: the key is cached

    const del = await app.inject({ method: 'DELETE', url: `/api/v1/keys/${id}`, headers: withKey(admin.key) })
    t.equal(del.statusCode, 204, `${store}: DELETE /api/v1/keys/:id`)
    assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: basic(id, key) }), 401, 'invalid_client', `${store}: revoked key, Basic`)
    assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, client_id: id, client_secret: key }), 401, 'invalid_client', `${store}: revoked key, post`)
    const use = await app.inject({ url: '/api/v1/messages', headers: withToken(token) })
    t.equal(use.statusCode, 401, `${store}: its earlier token is refused`)
    t.match(use.headers['www-authenticate'], /error="invalid_token"/)

    const second = await makeKey(app, ['messages:read'])
    await oauthToken(app, second.id, second.key)
    await app.apiKeys.revoke(second.id)
    assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: basic(second.id, second.key) }), 401, 'invalid_client', `${store}: revoked by app.apiKeys.revoke`)
  }
})

t.test('a rotated key: the old secret works during its grace only, and its tokens do not outlive it', async (t) => {
  const app = await build(t, { store: 'memory' })
  const admin = await makeKey(app, ['keys:admin'])
  const { id, key: oldKey } = await makeKey(app, ['messages:read'])
  const rotate = async (graceSeconds: number): Promise<string> => {
    const res = await app.inject({ method: 'POST', url: `/api/v1/keys/${id}/rotate`, headers: withKey(admin.key), payload: { graceSeconds } })
    t.equal(res.statusCode, 200, `rotated with a grace of ${graceSeconds} s`)
    return res.json().key
  }
  const newKey = await rotate(60)
  const old = await oauthToken(app, id, oldKey)
  t.ok(old.expires_in <= 60 && old.expires_in >= 58, `the old secret's token ends with the grace (${old.expires_in} s)`)
  const fresh = await oauthToken(app, id, newKey)
  t.equal(fresh.expires_in, 900, 'the new secret\'s token lives JWT_TTL_SECONDS')
  const newest = await rotate(0)
  assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: basic(id, newKey) }), 401, 'invalid_client', 'a secret rotated without grace')
  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, client_id: id, client_secret: oldKey }), 401, 'invalid_client', 'the first secret, its grace ended by the second rotation')
  t.equal((await oauthToken(app, id, newest)).scope, 'messages:read', 'the newest secret works')
})

t.test('an expired key is an invalid_client', async (t) => {
  const app = await build(t, { store: 'memory' })
  const { id, key } = await makeKey(app, ['messages:read'], { expiresInDays: 1 })
  const token = await oauthToken(app, id, key)
  t.ok(token.expires_in <= 900, 'a token never outlives its key')
  const realNow = Date.now
  Date.now = () => realNow() + 2 * 24 * 3600 * 1000
  t.teardown(() => { Date.now = realNow })
  // the cache of verified keys and the clock both say: expired
  assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: basic(id, key) }), 401, 'invalid_client', 'expired key')
})

t.test('a locked-out IP gets 429 with the standard body, the right secret included', async (t) => {
  for (const store of ['memory', 'redis'] as const) {
    const app = await build(t, { store, config: { AUTH_FAILURE_MAX: 2 } })
    const { id, key } = await makeKey(app, ['messages:read'])
    const attacker = '203.0.113.9'
    const wrong = { authorization: basic(id, formatKey(id, newSecret())), remoteAddress: attacker }

    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await postForm(app, TOKEN, GRANT, wrong)).statusCode)
    t.same(statuses, [401, 401, 429], `${store}: more than AUTH_FAILURE_MAX failures lock the IP`)

    const right = await postForm(app, TOKEN, GRANT, { authorization: basic(id, key), remoteAddress: attacker })
    assertStandardError(t, right, 429, 'RATE_LIMITED', `${store}: the right secret while locked`)
    t.equal(right.json().error, 'Too Many Requests')
    t.match(right.headers['retry-after'], /^\d+$/, 'Retry-After in seconds')
    t.ok(Number(right.headers['retry-after']) > 800 && Number(right.headers['retry-after']) <= 900, 'until the 15-minute window passes')
    t.equal(right.headers['www-authenticate'], undefined, 'no Basic challenge on a 429')
    t.notOk('error_description' in right.json(), 'not a §5.2 body')

    const post = await postForm(app, TOKEN, { ...GRANT, client_id: id, client_secret: key }, { remoteAddress: attacker })
    assertStandardError(t, post, 429, 'RATE_LIMITED', `${store}: client_secret_post while locked`)
    for (const path of ['/oauth/revoke', '/oauth/introspect']) {
      const res = await postForm(app, path, { token: 'x' }, { authorization: basic(id, key), remoteAddress: attacker })
      assertStandardError(t, res, 429, 'RATE_LIMITED', `${store}: ${path} while locked`)
    }
    const api = await app.inject({ url: '/api/v1/messages', headers: withKey(key), remoteAddress: attacker })
    t.equal(api.statusCode, 429, `${store}: /api/v1 is locked for that IP too`)

    const elsewhere = await postForm(app, TOKEN, GRANT, { authorization: basic(id, key), remoteAddress: '198.51.100.20' })
    t.equal(elsewhere.statusCode, 200, `${store}: another IP is not affected`)
  }
})

t.test('a locked IP costs no hash', async (t) => {
  const app = await build(t, { store: 'memory', config: { AUTH_FAILURE_MAX: 1 } })
  const { id } = await makeKey(app, ['messages:read'])
  for (let i = 0; i < 2; i++) await postForm(app, TOKEN, GRANT, { authorization: basic(id, formatKey(id, newSecret())) })
  const before = app.apiKeys.verifications
  for (let i = 0; i < 10; i++) {
    t.equal((await postForm(app, TOKEN, GRANT, { authorization: basic(id, formatKey(id, newSecret())) })).statusCode, 429)
  }
  t.equal(app.apiKeys.verifications, before, 'no argon2 run while locked')
})

t.test('failed client authentications and failed API authentications count toward one lockout', async (t) => {
  for (const store of ['memory', 'redis'] as const) {
    const app = await build(t, { store, config: { AUTH_FAILURE_MAX: 3 } })
    const { id, key } = await makeKey(app, ['messages:read'])
    const ip = '203.0.113.44'
    const wrongKey = formatKey(id, newSecret())

    t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(wrongKey), remoteAddress: ip })).statusCode, 401, `${store}: 1, a bad X-API-Key`)
    assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: basic(id, wrongKey), remoteAddress: ip }), 401, 'invalid_client', `${store}: 2, a bad Basic secret`)
    assertOAuthError(t, await postForm(app, TOKEN, GRANT, { authorization: basic(id, `${key}%`), remoteAddress: ip }), 401, 'invalid_client', `${store}: 3, malformed Basic`)
    const fourth = await postForm(app, '/oauth/introspect', { token: 'x', client_id: id, client_secret: wrongKey }, { remoteAddress: ip })
    assertStandardError(t, fourth, 429, 'RATE_LIMITED', `${store}: 4, a bad client_secret_post on introspection: over the limit`)
    t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(key), remoteAddress: ip })).statusCode, 429, `${store}: the valid key is locked out on /api/v1`)
    assertStandardError(t, await postForm(app, TOKEN, GRANT, { authorization: basic(id, key), remoteAddress: ip }), 429, 'RATE_LIMITED', `${store}: and on /oauth/token`)
  }
})

t.test('requests without any client authentication are not failures', async (t) => {
  const app = await build(t, { store: 'memory', config: { AUTH_FAILURE_MAX: 1 } })
  const { id, key } = await makeKey(app, ['messages:read'])
  for (let i = 0; i < 4; i++) assertOAuthError(t, await postForm(app, TOKEN, GRANT), 401, 'invalid_client', `anonymous ${i + 1}`)
  t.equal((await postForm(app, TOKEN, GRANT, { authorization: basic(id, key) })).statusCode, 200, 'not locked')
})

t.test('tokens from /oauth/token and from POST /api/v1/auth/token have one shape', async (t) => {
  const app = await build(t, { store: 'memory', config: { PUBLIC_URL: 'https://missive.example.com' } })
  const { id, key } = await makeKey(app, ['messages:read', 'messages:write'])
  const viaOAuth = await oauthToken(app, id, key, 'messages:read')
  const viaApi = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(key), payload: { scopes: ['messages:read'] } })
  t.equal(viaApi.statusCode, 200)
  const api = viaApi.json()
  t.strictSame(Object.keys(api).sort(), Object.keys(viaOAuth).sort(), 'the same response fields')
  t.equal(api.token_type, viaOAuth.token_type)
  t.equal(api.expires_in, viaOAuth.expires_in)
  t.equal(api.scope, viaOAuth.scope)

  const a = decodeJwt(viaOAuth.access_token)
  const b = decodeJwt(api.access_token)
  t.strictSame(Object.keys(a.header).sort(), Object.keys(b.header).sort(), 'the same header fields')
  t.strictSame(Object.keys(a.header).sort(), ['alg', 'kid', 'typ'])
  for (const field of ['alg', 'kid', 'typ']) t.equal(a.header[field], b.header[field], `header ${field}`)
  t.strictSame(Object.keys(a.payload).sort(), Object.keys(b.payload).sort(), 'the same claims')
  t.strictSame(Object.keys(a.payload).sort(), ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub'])
  for (const claim of ['iss', 'aud', 'sub', 'client_id', 'scope']) t.equal(a.payload[claim], b.payload[claim], `claim ${claim}`)
  t.equal((a.payload.exp as number) - (a.payload.iat as number), (b.payload.exp as number) - (b.payload.iat as number), 'the same lifetime')
  t.not(a.payload.jti, b.payload.jti, 'each token has its own jti')

  // each introspects the same way
  for (const token of [viaOAuth.access_token, api.access_token]) {
    const res = await postForm(app, '/oauth/introspect', { token }, { authorization: basic(id, key) })
    t.match(res.json(), { active: true, sub: id, scope: 'messages:read', iss: 'https://missive.example.com' })
  }
  const also = await tokenFor(app, key)
  t.equal(decodeJwt(also).payload.scope, 'messages:read messages:write')
})

t.test('metadata: RFC 8414, every URL under PUBLIC_URL', async (t) => {
  const publicUrl = 'https://missive.example.com/base'
  const app = await build(t, { store: 'memory', config: { PUBLIC_URL: publicUrl } })
  const res = await app.inject('/.well-known/oauth-authorization-server')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.match(res.headers['cache-control'], /^public, max-age=\d+$/)
  const metadata = res.json()

  t.equal(metadata.issuer, publicUrl, 'issuer = PUBLIC_URL')
  t.equal(metadata.token_endpoint, `${publicUrl}/oauth/token`)
  t.equal(metadata.jwks_uri, `${publicUrl}/.well-known/jwks.json`)
  t.equal(metadata.revocation_endpoint, `${publicUrl}/oauth/revoke`)
  t.equal(metadata.introspection_endpoint, `${publicUrl}/oauth/introspect`)
  t.same(metadata.grant_types_supported, ['client_credentials'])
  t.same(metadata.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post'])
  t.ok(Array.isArray(metadata.response_types_supported), 'response_types_supported (REQUIRED by RFC 8414 §2)')
  t.ok(Array.isArray(metadata.scopes_supported))
  for (const scope of ALL_SCOPES) t.ok(metadata.scopes_supported.includes(scope), `scopes_supported has ${scope}`)
  t.ok(Array.isArray(metadata.dpop_signing_alg_values_supported) && metadata.dpop_signing_alg_values_supported.length > 0, 'dpop_signing_alg_values_supported')
  for (const alg of metadata.dpop_signing_alg_values_supported) t.notMatch(alg, /^(none|HS\d+)$/, `${alg} is asymmetric`)
  for (const field of ['revocation_endpoint_auth_methods_supported', 'introspection_endpoint_auth_methods_supported']) {
    if (field in metadata) t.same(metadata[field], ['client_secret_basic', 'client_secret_post'], field)
  }
  // RFC 8414 §2: no fields with an empty or null value other than arrays, every URL absolute under the issuer
  for (const [field, value] of Object.entries(metadata)) {
    t.ok(value !== null && value !== '', `${field} has a value`)
    if (typeof value === 'string' && /^https?:/.test(value)) t.ok(value.startsWith(publicUrl), `${field} (${value}) starts with PUBLIC_URL`)
    if (/(_endpoint|_uri|documentation)$/.test(field)) t.ok(String(value).startsWith(`${publicUrl}/`), `${field} is a URL under PUBLIC_URL`)
  }

  // RFC 8414 §3.1: an issuer with a path also has its metadata at the path-inserted URL
  const inserted = await app.inject('/.well-known/oauth-authorization-server/base')
  t.equal(inserted.statusCode, 200, 'the path-inserted well-known URL')
  t.strictSame(inserted.json(), metadata, 'the same document')

  // the issuer is also what the tokens say
  const { id, key } = await makeKey(app, ['messages:read'])
  const token = await oauthToken(app, id, key)
  t.equal(decodeJwt(token.access_token).payload.iss, publicUrl, 'iss = the metadata\'s issuer')
})

t.test('JWKS: public parts only, short cache, kid/alg/use', async (t) => {
  for (const [alg, kty, crv] of [['ES256', 'EC', 'P-256'], ['EdDSA', 'OKP', 'Ed25519']] as const) {
    const app = await build(t, { store: 'memory', config: { JWT_ALG: alg } })
    const res = await app.inject('/.well-known/jwks.json')
    t.equal(res.statusCode, 200, alg)
    t.match(res.headers['content-type'], /^application\/(jwk-set\+)?json/)
    const cache = /^public, max-age=(\d+)$/.exec(String(res.headers['cache-control']))
    t.ok(cache !== null, `${alg}: Cache-Control public, max-age`)
    t.ok(Number(cache?.[1]) > 0 && Number(cache?.[1]) <= 300, `${alg}: max-age <= 300 seconds`)
    const { keys, ...rest } = res.json()
    t.strictSame(rest, {}, 'only "keys"')
    t.equal(keys.length, 1, `${alg}: a fresh deployment publishes its signing key`)
    for (const jwk of keys) {
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']) t.notOk(secret in jwk, `${alg}: no "${secret}"`)
      t.equal(jwk.kty, kty)
      t.equal(jwk.crv, crv)
      t.equal(jwk.alg, alg)
      t.equal(jwk.use, 'sig')
      t.type(jwk.kid, 'string')
      t.ok(jwk.kid.length > 0)
    }
    const { id, key } = await makeKey(app, ['messages:read'])
    const { header } = decodeJwt((await oauthToken(app, id, key)).access_token)
    t.equal(header.alg, alg, `${alg}: tokens are signed with ${alg}`)
    t.equal(header.kid, keys[0].kid, `${alg}: by the published key`)
  }
})

t.test('/docs/json: the oauth2 security scheme and the OAuth routes', async (t) => {
  const publicUrl = 'https://missive.example.com/base'
  const app = await build(t, { store: 'memory', config: { PUBLIC_URL: publicUrl } })
  const res = await app.inject('/docs/json')
  t.equal(res.statusCode, 200)
  const doc = res.json()
  const oauth2 = doc.components?.securitySchemes?.oauth2
  t.equal(oauth2?.type, 'oauth2')
  t.equal(oauth2?.flows?.clientCredentials?.tokenUrl, `${publicUrl}/oauth/token`)
  for (const scope of ALL_SCOPES) t.type(oauth2?.flows?.clientCredentials?.scopes?.[scope], 'string', `scope ${scope} is described`)
  for (const path of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
    const op = doc.paths[path]?.post
    t.ok(op !== undefined, `POST ${path} is documented`)
    t.ok(op?.requestBody?.content?.[FORM_TYPE] !== undefined, `${path} takes a form`)
    t.ok(op?.responses?.['200'] !== undefined, `${path} documents its 200`)
    t.ok(op?.responses?.['429'] !== undefined, `${path} documents its 429`)
  }
  t.ok(doc.paths['/.well-known/oauth-authorization-server']?.get !== undefined, 'the metadata is documented')
  t.ok(doc.paths['/.well-known/jwks.json']?.get !== undefined, 'the JWKS is documented')
  const tokenProps = doc.paths['/oauth/token'].post.responses['200'].content['application/json'].schema.properties
  t.strictSame(Object.keys(tokenProps).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
})

t.test('JWKS of an instance that started while the store was down: never a cacheable empty set', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => { await redis.destroy() })
  await redis.stop()
  const app = await buildApp(loadConfig({}, { LOG_LEVEL: 'silent', REDIS_URL: redis.url, RATE_LIMIT_READ_MAX: 100_000 }))
  t.teardown(async () => { await app.close() })
  await app.ready()

  const down = await app.inject('/.well-known/jwks.json')
  t.not(down.statusCode, 200, 'no key could be read or made: not a 200 with an empty set')
  assertStandardError(t, down, 503, 'SERVICE_UNAVAILABLE', 'JWKS while the store is down')
  t.match(down.headers['retry-after'], /^\d+$/)
  t.notMatch(String(down.headers['cache-control']), /public|max-age/, 'nothing a gateway or a CDN would keep')

  await redis.start()
  const deadline = Date.now() + 10_000
  while ((await app.inject('/ready')).statusCode !== 200 && Date.now() < deadline) await sleep(100)
  t.equal((await app.inject('/ready')).statusCode, 200, 'the store is back')
  const { id, key } = await makeKey(app, ['messages:read'])
  const up = await app.inject('/.well-known/jwks.json')
  t.equal(up.statusCode, 200, 'the store is back: the JWKS answers at once, not at the next periodic refresh')
  t.equal(up.json().keys.length, 1, 'with the signing key')
  t.match(up.headers['cache-control'], /^public, max-age=\d+$/)
  const { header } = decodeJwt((await oauthToken(app, id, key)).access_token)
  t.equal(header.kid, up.json().keys[0]?.kid, 'the key tokens are signed with')
})

t.test('a parameter without a value is one that was not sent (RFC 6749 §3.1)', async (t) => {
  const app = await build(t, { store: 'memory' })
  const { id, key } = await makeKey(app, ['messages:read', 'messages:write'])
  const auth = { authorization: basic(id, key) }
  assertOAuthError(t, await postForm(app, TOKEN, { grant_type: '' }, auth), 400, 'invalid_request', 'grant_type= is a missing grant_type')
  const allScopes = await postForm(app, TOKEN, { ...GRANT, scope: '' }, auth)
  t.equal(allScopes.statusCode, 200, 'scope= is no scope asked for')
  t.equal(allScopes.json().scope, 'messages:read messages:write', 'so the key\'s scopes')
  t.equal((await postForm(app, TOKEN, { ...GRANT, client_secret: '', client_id: '' }, auth)).statusCode, 200, 'empty client_secret/client_id beside Basic: not a second method')
  assertOAuthError(t, await postForm(app, TOKEN, { ...GRANT, client_id: id, client_secret: '' }), 401, 'invalid_client', 'an empty client_secret is no secret')
})
