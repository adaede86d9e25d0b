import { createLocalJWKSet, jwtVerify } from 'jose'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { deniedTokenKey } from '../../src/storage/redis/keys.js'
import { build } from '../helper.js'
import { makeKey, tokenFor, withKey, withToken } from './api-helper.js'

const config = { JWT_TTL_SECONDS: 120 }

const decode = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())
const decodeHeader = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString())

/**
 * The token endpoint's answer for a new key, checked against API.md section 2 and RFC 9068:
 * header `{alg, typ: at+jwt, kid}` with kid naming a key of the app's JWKS (public parts only),
 * claims iss/aud/sub = client_id/scope/jti/iat/exp and nothing else, and a signature that
 * verifies with the JWKS alone (as a gateway would). Returns the token and the JWKS key.
 */
async function checkIssuedToken (t: Test, app: App, alg: 'ES256' | 'EdDSA'): Promise<{ token: string, jwk: Record<string, unknown> }> {
  const { id, key } = await makeKey(app, ['messages:read', 'messages:write'])
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(key) })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 120)
  t.equal(body.scope, 'messages:read messages:write')
  const token: string = body.access_token

  const header = decodeHeader(token)
  t.same(Object.keys(header).sort(), ['alg', 'kid', 'typ'], 'the header is alg, typ and kid')
  t.equal(header.alg, alg)
  t.equal(header.typ, 'at+jwt', 'RFC 9068 typ')
  t.type(header.kid, 'string')
  const jwks = app.issuerKeys.jwks()
  const jwk = jwks.keys.find((k) => k.kid === header.kid) as Record<string, unknown> | undefined
  t.ok(jwk, 'the kid names a key of the JWKS')
  t.match(jwk, { kid: header.kid, alg, use: 'sig', x: String })
  for (const k of jwks.keys) {
    for (const privatePart of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) t.notOk(privatePart in k, `no private part (${privatePart}) in the JWKS`)
  }

  const claims = decode(token)
  t.same(Object.keys(claims).sort(), ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub'])
  t.match(claims, { iss: app.config.publicUrl, aud: 'missive-api', sub: id, client_id: id, scope: 'messages:read messages:write', jti: String })
  t.equal(claims.client_id, claims.sub, 'client_id = sub = keyId')
  t.equal((claims.exp as number) - (claims.iat as number), 120)
  t.ok(Math.abs((claims.iat as number) - Date.now() / 1000) < 60, 'iat is now')

  // What a gateway does with /.well-known/jwks.json: no secret needed.
  const verified = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: app.config.publicUrl, audience: 'missive-api', typ: 'at+jwt', algorithms: [alg] })
  t.equal(verified.payload.sub, id, 'the signature verifies with the published JWKS alone')

  const list = await app.inject({ url: '/api/v1/messages', headers: withToken(token) })
  t.equal(list.statusCode, 200, 'the token works')
  return { token, jwk: jwk ?? {} }
}

t.test('POST /api/v1/auth/token exchanges a key for an RFC 9068 token (ES256 by default) with the claims of API.md', async (t) => {
  const app = await build(t, { store: 'redis', config })
  t.equal(app.config.JWT_ALG, 'ES256', 'the default algorithm')
  const { jwk } = await checkIssuedToken(t, app, 'ES256')
  t.match(jwk, { kty: 'EC', crv: 'P-256', y: String })
})

for (const store of ['memory', 'redis'] as const) {
  t.test(`JWT_ALG=EdDSA (${store} store): tokens signed with an OKP Ed25519 issuer key`, async (t) => {
    const app = await build(t, { store, config: { ...config, JWT_ALG: 'EdDSA' } })
    const { token, jwk } = await checkIssuedToken(t, app, 'EdDSA')
    t.match(jwk, { kty: 'OKP', crv: 'Ed25519' })
    t.notOk('y' in jwk, 'an OKP key has no y')
    t.ok(app.issuerKeys.jwks().keys.every((k) => k.alg === 'EdDSA' && k.kty === 'OKP'), 'every published key is EdDSA')
    const signing = await app.issuerKeys.signing()
    t.equal(signing.alg, 'EdDSA')
    t.equal(signing.kid, decodeHeader(token).kid, 'the kid is that of the signing key')
  })
}

t.test('a token can carry a subset of the key\'s scopes, never more', async (t) => {
  const app = await build(t, { store: 'redis', config })
  const { key } = await makeKey(app, ['messages:read', 'messages:write'])
  const token = await tokenFor(app, key, ['messages:read'])
  t.equal(decode(token).scope, 'messages:read')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withToken(token), payload: { content: 'x' } })).statusCode, 403)

  for (const scopes of [['keys:admin'], ['messages:read', 'metrics:read'], ['root']]) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(key), payload: { scopes } })
    t.equal(res.statusCode, 403, `asking for ${scopes.join(',')}`)
    t.equal(res.json().code, 'FORBIDDEN')
  }
  for (const payload of [{ scopes: [] }, { scopes: 'messages:read' }, { other: 1 }]) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(key), payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
  }
})

t.test('POST /api/v1/auth/token takes an API key only', async (t) => {
  const app = await build(t, { store: 'redis', config })
  const { key } = await makeKey(app)
  const token = await tokenFor(app, key)
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withToken(token) })
  t.equal(res.statusCode, 401, 'a token cannot mint tokens')
  t.match(res.headers['www-authenticate'], /^ApiKey /)
  const none = await app.inject({ method: 'POST', url: '/api/v1/auth/token' })
  t.equal(none.statusCode, 401)
})

t.test('a token never outlives the key it came from', async (t) => {
  const app = await build(t, { store: 'redis', config: { JWT_TTL_SECONDS: 86400 } })
  const { id, key } = await makeKey(app, ['messages:read'], { expiresInDays: 1 })
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(key) })
  const expiresAt = Date.parse((await app.apiKeys.get(id)).expiresAt ?? '')
  t.ok((decode(res.json().access_token).exp as number) * 1000 <= expiresAt)
})

t.test('POST /api/v1/auth/revoke: the presented token is rejected from then on, on every instance', async (t) => {
  const app = await build(t, { store: 'redis', config })
  const other = await build(t, { store: 'redis', flush: false, config })
  const { id, key } = await makeKey(app, ['messages:read'])
  const token = await tokenFor(app, key)
  const second = await tokenFor(app, key)
  t.equal((await other.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200)

  const revoked = await app.inject({ method: 'POST', url: '/api/v1/auth/revoke', headers: withToken(token) })
  t.equal(revoked.statusCode, 204)
  t.equal(revoked.body, '')
  const { jti, exp } = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { jti: string, exp: number }
  const deniedFor = await app.redisClient?.pttl(deniedTokenKey(jti)) ?? 0
  t.ok(deniedFor > exp * 1000 - Date.now() - 5000, `denied until the token expires (${deniedFor} ms)`)
  for (const instance of [app, other]) {
    const res = await instance.inject({ url: '/api/v1/messages', headers: withToken(token) })
    t.equal(res.statusCode, 401)
    t.ok(res.headers['www-authenticate'])
  }
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/revoke', headers: withToken(token) })).statusCode, 401, 'revoking twice')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(second) })).statusCode, 200, 'other tokens of the key still work')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(key) })).statusCode, 200, 'and so does the key')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/revoke', headers: withKey(key) })).statusCode, 401, 'revoke takes a bearer token only')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/revoke' })).statusCode, 401)
  const another = await tokenFor(app, key)
  const withField = await app.inject({ method: 'POST', url: '/api/v1/auth/revoke', headers: withToken(another), payload: { token: 'x' } })
  t.equal(withField.statusCode, 400, 'the body takes no fields')
  t.match(withField.json(), { statusCode: 400, error: 'Bad Request' })
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/revoke', headers: withToken(another), payload: {} })).statusCode, 204, 'an empty object is fine')
  t.ok(await app.apiKeys.get(id))
})

t.test('/api/v1/auth answers 405 for other methods', async (t) => {
  const app = await build(t, { store: 'memory', config })
  const res = await app.inject({ method: 'GET', url: '/api/v1/auth/token' })
  t.equal(res.statusCode, 405)
  t.match(res.headers.allow, /POST/)
})

t.test('the issuer is PUBLIC_URL: an instance with another PUBLIC_URL refuses the token', async (t) => {
  const app = await build(t, { store: 'redis', config: { ...config, PUBLIC_URL: 'https://missive.example.com/' } })
  const { key } = await makeKey(app, ['messages:read'])
  const token = await tokenFor(app, key)
  t.equal(decode(token).iss, 'https://missive.example.com', 'the trailing slash is dropped')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200)
  const other = await build(t, { store: 'redis', flush: false, config: { ...config, PUBLIC_URL: 'https://elsewhere.example.com' } })
  t.ok(other.issuerKeys.jwks().keys.some((k) => k.kid === decodeHeader(token).kid), 'the other instance publishes the same signing key (one store)')
  const res = await other.inject({ url: '/api/v1/messages', headers: withToken(token) })
  t.equal(res.statusCode, 401, 'same signing key and store, another issuer')
  t.match(res.headers['www-authenticate'], /Bearer realm="missive", error="invalid_token"/)
})
