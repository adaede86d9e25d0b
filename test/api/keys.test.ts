import t from 'tap'
import { build, sleep } from '../helper.js'
import { makeKey, tokenFor, withKey, withToken } from './api-helper.js'

const ITEM_FIELDS = ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'revokedAt', 'scopes']

t.test('POST /api/v1/keys creates a key that works, shown once', async (t) => {
  const app = await build(t, { store: 'redis' })
  const admin = await makeKey(app, ['keys:admin'])
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/keys',
    headers: withKey(admin.key),
    payload: { name: 'billing', scopes: ['messages:read', 'messages:write'], expiresInDays: 30 }
  })
  t.equal(res.statusCode, 201)
  const created = res.json()
  t.same(Object.keys(created).sort(), ['createdAt', 'expiresAt', 'id', 'key', 'name', 'scopes'])
  t.match(created, { id: /^[a-z0-9]{12}$/, name: 'billing', scopes: ['messages:read', 'messages:write'] })
  t.match(created.key, new RegExp(`^msk_${created.id as string}_[A-Za-z0-9_-]{43}$`))
  t.equal(Date.parse(created.expiresAt) - Date.parse(created.createdAt), 30 * 86_400_000)
  t.equal(res.headers.location, `/api/v1/keys/${created.id as string}`)

  t.equal((await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(created.key), payload: { content: 'x' } })).statusCode, 201)
  const shown = await app.inject({ url: `/api/v1/keys/${created.id as string}`, headers: withKey(admin.key) })
  // The secret is the rest after msk_<id>_ (base64url: it may itself contain '_').
  const secret = (created.key as string).slice(`msk_${created.id as string}_`.length)
  t.equal(secret.length, 43)
  t.notOk(shown.body.includes(secret), 'the secret is never shown again')
  t.equal(shown.json().expiresAt, created.expiresAt)

  const forever = (await app.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(admin.key), payload: { name: 'n', scopes: ['metrics:read'] } })).json()
  t.equal(forever.expiresAt, null, 'no expiresInDays: never expires')
})

t.test('POST /api/v1/keys validation', async (t) => {
  const app = await build(t, { store: 'memory' })
  const admin = await makeKey(app, ['keys:admin'])
  const bad = [
    {}, { name: 'n' }, { scopes: ['messages:read'] }, { name: '', scopes: ['messages:read'] },
    { name: 'x'.repeat(65), scopes: ['messages:read'] }, { name: 'n', scopes: [] }, { name: 'n', scopes: ['root'] },
    { name: 'n', scopes: ['messages:read', 'messages:read'] }, { name: 'n', scopes: ['messages:read'], expiresInDays: 0 },
    { name: 'n', scopes: ['messages:read'], expiresInDays: 3651 }, { name: 'n', scopes: ['messages:read'], rateLimit: 0 },
    { name: 'n', scopes: ['messages:read'], hash: 'x' }
  ]
  for (const payload of bad) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(admin.key), payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
  }
})

t.test('GET /api/v1/keys and /api/v1/keys/:id never show a hash or a secret', async (t) => {
  const app = await build(t, { store: 'redis' })
  const admin = await makeKey(app, ['keys:admin', 'messages:read'], { name: 'admin' })
  const other = await makeKey(app, ['messages:read'], { name: 'other' })
  await app.inject({ url: '/api/v1/messages', headers: withKey(other.key) })
  await app.inject({ method: 'DELETE', url: `/api/v1/keys/${other.id}`, headers: withKey(admin.key) })

  const res = await app.inject({ url: '/api/v1/keys', headers: withKey(admin.key) })
  t.equal(res.statusCode, 200)
  const { items } = res.json()
  t.same(items.map((k: { name: string }) => k.name), ['admin', 'other'], 'revoked keys stay listed')
  for (const item of items) t.same(Object.keys(item).sort(), ITEM_FIELDS)
  const revoked = items.find((k: { id: string }) => k.id === other.id)
  t.type(revoked.revokedAt, 'string')
  t.type(revoked.lastUsedAt, 'string', 'lastUsedAt is recorded')
  t.notMatch(res.body, /argon2|msk_|\$v=19/)

  const one = await app.inject({ url: `/api/v1/keys/${admin.id}`, headers: withKey(admin.key) })
  t.equal(one.statusCode, 200)
  t.same(Object.keys(one.json()).sort(), ITEM_FIELDS)
  t.equal(one.json().revokedAt, null)
  t.equal((await app.inject({ url: '/api/v1/keys/aaaaaaaaaaaa', headers: withKey(admin.key) })).statusCode, 404)
  t.equal((await app.inject({ url: '/api/v1/keys/NOT-AN-ID', headers: withKey(admin.key) })).statusCode, 400)
})

t.test('lastUsedAt is written at most once a minute', async (t) => {
  const app = await build(t, { store: 'redis' })
  const { id, key } = await makeKey(app, ['messages:read'])
  await app.inject({ url: '/api/v1/messages', headers: withKey(key) })
  await sleep(50)
  const first = (await app.apiKeys.get(id)).lastUsedAt
  t.type(first, 'string')
  await sleep(20)
  await app.inject({ url: '/api/v1/messages', headers: withKey(key) })
  await sleep(50)
  t.equal((await app.apiKeys.get(id)).lastUsedAt, first)
})

t.test('DELETE /api/v1/keys/:id revokes the key and every token issued from it', async (t) => {
  const app = await build(t, { store: 'redis' })
  const admin = await makeKey(app, ['keys:admin'])
  const target = await makeKey(app, ['messages:read'])
  const token = await tokenFor(app, target.key)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(target.key) })).statusCode, 200)

  const res = await app.inject({ method: 'DELETE', url: `/api/v1/keys/${target.id}`, headers: withKey(admin.key) })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(target.key) })).statusCode, 401, 'the key, at once')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 401, 'its token, at once')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(target.key) })).statusCode, 401)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/keys/${target.id}`, headers: withKey(admin.key) })).statusCode, 204, 'revoking again is harmless')
  t.equal((await app.inject({ method: 'DELETE', url: '/api/v1/keys/aaaaaaaaaaaa', headers: withKey(admin.key) })).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: '/api/v1/keys/x', headers: withKey(admin.key) })).statusCode, 400)
})

t.test('POST /api/v1/keys/:id/rotate: a new secret, the old one ends after the grace', async (t) => {
  const app = await build(t, { store: 'redis' })
  const admin = await makeKey(app, ['keys:admin'])
  const target = await makeKey(app, ['messages:read'], { name: 'svc', expiresInDays: 10 })
  const before = (await app.apiKeys.get(target.id))

  const res = await app.inject({ method: 'POST', url: `/api/v1/keys/${target.id}/rotate`, headers: withKey(admin.key), payload: { graceSeconds: 1 } })
  t.equal(res.statusCode, 200)
  const rotated = res.json()
  t.same(Object.keys(rotated).sort(), ['createdAt', 'expiresAt', 'id', 'key', 'name', 'scopes'])
  t.match(rotated, { id: target.id, name: 'svc', scopes: ['messages:read'], createdAt: before.createdAt, expiresAt: before.expiresAt })
  t.not(rotated.key, target.key)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(target.key) })).statusCode, 200, 'old key during the grace')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(rotated.key) })).statusCode, 200, 'new key')
  await sleep(1100)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(target.key) })).statusCode, 401, 'old key after the grace')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(rotated.key) })).statusCode, 200)

  const noGrace = (await app.inject({ method: 'POST', url: `/api/v1/keys/${target.id}/rotate`, headers: withKey(admin.key) })).json()
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(rotated.key) })).statusCode, 401, 'graceSeconds defaults to 0')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(noGrace.key) })).statusCode, 200)

  for (const payload of [{ graceSeconds: -1 }, { graceSeconds: 604_801 }, { other: 1 }]) {
    t.equal((await app.inject({ method: 'POST', url: `/api/v1/keys/${target.id}/rotate`, headers: withKey(admin.key), payload })).statusCode, 400, JSON.stringify(payload))
  }
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/keys/aaaaaaaaaaaa/rotate', headers: withKey(admin.key) })).statusCode, 404)
  await app.inject({ method: 'DELETE', url: `/api/v1/keys/${target.id}`, headers: withKey(admin.key) })
  const revoked = await app.inject({ method: 'POST', url: `/api/v1/keys/${target.id}/rotate`, headers: withKey(admin.key) })
  t.equal(revoked.statusCode, 409, 'a revoked key cannot be brought back by rotation')
  t.equal(revoked.json().code, 'KEY_NOT_ACTIVE')
})

t.test('/api/v1/keys answers 405 for other methods', async (t) => {
  const app = await build(t, { store: 'memory' })
  const res = await app.inject({ method: 'PUT', url: '/api/v1/keys/aaaaaaaaaaaa' })
  t.equal(res.statusCode, 405)
  t.equal(res.headers.allow, 'DELETE, GET, HEAD, OPTIONS')
})
