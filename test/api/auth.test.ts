import t from 'tap'
import { deniedTokenKey } from '../../src/storage/redis/keys.js'
import { build } from '../helper.js'
import { makeKey, tokenFor, withKey, withToken } from './api-helper.js'

const JWT_SECRET = 'a-test-secret-that-is-long-enough-0123456789'
const config = { JWT_SECRET, JWT_TTL_SECONDS: 120 }

const decode = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())

t.test('POST /api/v1/auth/token exchanges a key for a token with the claims of API.md', async (t) => {
  const app = await build(t, { store: 'redis', config })
  const { id, key } = await makeKey(app, ['messages:read', 'messages:write'])
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(key) })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 120)
  t.equal(body.scope, 'messages:read messages:write')
  const header = JSON.parse(Buffer.from(body.access_token.split('.')[0], 'base64url').toString())
  t.equal(header.alg, 'HS256')
  const claims = decode(body.access_token)
  t.match(claims, { iss: app.config.publicUrl, aud: 'missive-api', sub: id, scope: 'messages:read messages:write', jti: String })
  t.equal((claims.exp as number) - (claims.iat as number), 120)

  const list = await app.inject({ url: '/api/v1/messages', headers: withToken(body.access_token) })
  t.equal(list.statusCode, 200, 'the token works')
})

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
  const app = await build(t, { store: 'redis', config: { JWT_SECRET, JWT_TTL_SECONDS: 86400 } })
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
  const res = await other.inject({ url: '/api/v1/messages', headers: withToken(token) })
  t.equal(res.statusCode, 401, 'same secret and store, another issuer')
  t.ok(res.headers['www-authenticate'])
})
