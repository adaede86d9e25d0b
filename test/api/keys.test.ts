import t from 'tap'
import { DPOP_ALGS } from '../../src/auth/dpop.js'
import { build, sleep } from '../helper.js'
import { makeKey, tokenFor, withKey, withToken } from './api-helper.js'

// Key items also carry rateLimit, allowedIps and requireSignature (API.md section 2, issue 16).
const ITEM_FIELDS = ['allowedIps', 'createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'rateLimit', 'requireSignature', 'revokedAt', 'scopes']
const ISSUED_FIELDS = ['allowedIps', 'createdAt', 'expiresAt', 'id', 'key', 'name', 'rateLimit', 'requireSignature', 'scopes']

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
  t.same(Object.keys(created).sort(), ISSUED_FIELDS)
  t.match(created, { id: /^[a-z0-9]{12}$/, name: 'billing', scopes: ['messages:read', 'messages:write'] })
  t.strictSame({ rateLimit: created.rateLimit, allowedIps: created.allowedIps, requireSignature: created.requireSignature }, { rateLimit: null, allowedIps: [], requireSignature: false }, 'the defaults')
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
  t.same(Object.keys(rotated).sort(), ISSUED_FIELDS)
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
  t.equal(res.headers.allow, 'DELETE, GET, HEAD, OPTIONS, PATCH')
})

/** The 401 challenges of a route that takes keys and access tokens (API.md sections 2 and 7). */
const NO_CREDENTIAL_CHALLENGE = `ApiKey realm="missive", Bearer realm="missive", DPoP algs="${DPOP_ALGS.join(' ')}"`

t.test('PATCH /api/v1/keys/:id changes each field and answers the updated item', async (t) => {
  const app = await build(t, { store: 'redis' })
  const admin = await makeKey(app, ['keys:admin'])
  const target = await makeKey(app, ['messages:read', 'messages:write'], { name: 'svc', expiresInDays: 10 })
  const before = await app.apiKeys.get(target.id)
  const patch = async (payload: unknown): Promise<Awaited<ReturnType<typeof app.inject>>> =>
    await app.inject({ method: 'PATCH', url: `/api/v1/keys/${target.id}`, headers: withKey(admin.key), payload: payload as Record<string, unknown> })

  const renamed = await patch({ name: 'billing' })
  t.equal(renamed.statusCode, 200)
  t.same(Object.keys(renamed.json()).sort(), ITEM_FIELDS)
  t.strictSame(renamed.json(), { ...before, name: 'billing' }, 'only the name changed')
  t.equal((await app.apiKeys.get(target.id)).name, 'billing', 'and it is stored')

  const narrowed = await patch({ scopes: ['messages:read'] })
  t.equal(narrowed.statusCode, 200)
  t.strictSame(narrowed.json().scopes, ['messages:read'])
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(target.key), payload: { content: 'x' } })).statusCode, 403, 'a scope taken away is gone at once')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(target.key) })).statusCode, 200, 'the scope kept still works')

  const limited = await patch({ rateLimit: 50 })
  t.equal(limited.statusCode, 200)
  t.equal(limited.json().rateLimit, 50)
  const unlimited = await patch({ rateLimit: null })
  t.equal(unlimited.statusCode, 200)
  t.equal(unlimited.json().rateLimit, null, 'null: back to RATE_LIMIT_API_MAX')

  const restricted = await patch({ allowedIps: ['203.0.113.0/24', '2001:db8::1', '198.51.100.7', '203.0.113.0/24'] })
  t.equal(restricted.statusCode, 200)
  t.strictSame(restricted.json().allowedIps, ['203.0.113.0/24', '2001:db8::/64', '198.51.100.7/32'], 'canonical, duplicates removed, in order')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(target.key), remoteAddress: '203.0.113.9' })).statusCode, 200, 'inside the allow-list')
  const outside = await app.inject({ url: '/api/v1/messages', headers: withKey(target.key), remoteAddress: '192.0.2.1' })
  t.equal(outside.statusCode, 401, 'outside the allow-list, at once')
  t.equal(outside.headers['www-authenticate'], NO_CREDENTIAL_CHALLENGE, 'the uniform 401')
  const anywhere = await patch({ allowedIps: [] })
  t.equal(anywhere.statusCode, 200)
  t.strictSame(anywhere.json().allowedIps, [], '[]: any address')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(target.key), remoteAddress: '192.0.2.1' })).statusCode, 200)

  const signed = await patch({ requireSignature: true })
  t.equal(signed.statusCode, 200)
  t.equal(signed.json().requireSignature, true)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(target.key) })).statusCode, 401, 'an unsigned request of the key is refused at once')
  const unsigned = await patch({ requireSignature: false })
  t.equal(unsigned.json().requireSignature, false)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(target.key) })).statusCode, 200)

  const several = await patch({ name: 'svc', scopes: ['messages:read', 'messages:delete'], rateLimit: 7, allowedIps: ['10.0.0.0/8'], requireSignature: false })
  t.equal(several.statusCode, 200)
  t.strictSame(several.json(), { ...before, name: 'svc', scopes: ['messages:read', 'messages:delete'], rateLimit: 7, allowedIps: ['10.0.0.0/8'], requireSignature: false, lastUsedAt: several.json().lastUsedAt })
  t.strictSame((await app.inject({ url: `/api/v1/keys/${target.id}`, headers: withKey(admin.key) })).json(), several.json(), 'GET shows the same item')
  t.notMatch(several.body, /argon2|msk_|\$v=19/, 'never a hash or a secret')
})

t.test('PATCH /api/v1/keys/:id validation and refusals', async (t) => {
  const app = await build(t, { store: 'memory' })
  const admin = await makeKey(app, ['keys:admin'])
  const reader = await makeKey(app, ['messages:read'])
  const target = await makeKey(app, ['messages:read'])
  const url = `/api/v1/keys/${target.id}`
  const before = await app.apiKeys.get(target.id)

  const bad: unknown[] = [
    {}, { other: 1 }, { name: 'n', hash: 'x' }, { name: '' }, { name: 'x'.repeat(65) }, { scopes: [] }, { scopes: ['root'] },
    { scopes: ['messages:read', 'messages:read'] }, { rateLimit: 0 }, { rateLimit: 1.5 }, { rateLimit: 'default' },
    { allowedIps: '10.0.0.0/8' }, { allowedIps: [''] }, { allowedIps: Array.from({ length: 33 }, (_, i) => `10.0.${i}.0/24`) },
    { requireSignature: 'yes' }, { requireSignature: null }, { name: null }, [], 'name'
  ]
  for (const payload of bad) {
    const res = await app.inject({ method: 'PATCH', url, headers: { ...withKey(admin.key), 'content-type': 'application/json' }, payload: JSON.stringify(payload) })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.equal(res.json().code, 'VALIDATION_ERROR', `${JSON.stringify(payload)}: VALIDATION_ERROR`)
  }
  const empty = await app.inject({ method: 'PATCH', url, headers: withKey(admin.key), payload: {} })
  t.match(empty.json().message, /fewer than 1 properties/, '{}: at least one field (minProperties)')

  for (const [entry, problem] of [
    ['10.0.0.1/8', 'host bits set beyond /8 (the network is 10.0.0.0/8)'],
    ['example.com', 'not an IP address or CIDR (hostnames are not supported)'],
    ['10.0.0.0/33', 'an IPv4 prefix is at most /32'],
    ['010.0.0.1', 'leading zeros in an IPv4 address (octal to some parsers)'],
    ['10.0.0.1-10.0.0.9', 'ranges are not supported: use CIDRs']
  ] as const) {
    const res = await app.inject({ method: 'PATCH', url, headers: withKey(admin.key), payload: { allowedIps: ['192.0.2.0/24', entry] } })
    t.equal(res.statusCode, 400, entry)
    t.strictSame(res.json(), { statusCode: 400, error: 'Bad Request', message: `body/allowedIps: ${JSON.stringify(entry)}: ${problem}`, code: 'VALIDATION_ERROR' }, `${entry}: the message names the entry`)
  }
  t.strictSame(await app.apiKeys.get(target.id), before, 'nothing refused was written')
  const thirtyTwo = await app.inject({ method: 'PATCH', url, headers: withKey(admin.key), payload: { allowedIps: Array.from({ length: 32 }, (_, i) => `10.0.${i}.0/24`) } })
  t.equal(thirtyTwo.statusCode, 200, '32 entries are fine')
  t.equal(thirtyTwo.json().allowedIps.length, 32)

  const unknown = await app.inject({ method: 'PATCH', url: '/api/v1/keys/aaaaaaaaaaaa', headers: withKey(admin.key), payload: { name: 'n' } })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'NOT_FOUND')
  t.equal((await app.inject({ method: 'PATCH', url: '/api/v1/keys/NOT-AN-ID', headers: withKey(admin.key), payload: { name: 'n' } })).statusCode, 400)

  const forbidden = await app.inject({ method: 'PATCH', url, headers: withKey(reader.key), payload: { name: 'n' } })
  t.equal(forbidden.statusCode, 403, 'without keys:admin')
  t.equal(forbidden.json().code, 'FORBIDDEN')
  const self = await app.inject({ method: 'PATCH', url: `/api/v1/keys/${reader.id}`, headers: withKey(reader.key), payload: { scopes: ['keys:admin'] } })
  t.equal(self.statusCode, 403, 'a key cannot widen itself')
  t.strictSame((await app.apiKeys.get(reader.id)).scopes, ['messages:read'])
  const anonymous = await app.inject({ method: 'PATCH', url, payload: { name: 'n' } })
  t.equal(anonymous.statusCode, 401, 'without a credential')
  t.equal(anonymous.headers['www-authenticate'], NO_CREDENTIAL_CHALLENGE)
  t.equal((await app.apiKeys.get(target.id)).name, before.name, 'nothing was written')

  await app.apiKeys.revoke(target.id)
  const revoked = await app.inject({ method: 'PATCH', url, headers: withKey(admin.key), payload: { name: 'n' } })
  t.equal(revoked.statusCode, 409, 'a revoked key cannot be changed')
  t.equal(revoked.json().code, 'KEY_NOT_ACTIVE')
})

t.test('POST and GET /api/v1/keys show allowedIps and requireSignature', async (t) => {
  const app = await build(t, { store: 'redis' })
  const admin = await makeKey(app, ['keys:admin'])
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/keys',
    headers: withKey(admin.key),
    payload: { name: 'edge', scopes: ['messages:read'], rateLimit: 9, allowedIps: ['192.0.2.1', '2001:DB8::5/64', '198.51.100.0/24'], requireSignature: true }
  })
  t.equal(res.statusCode, 201)
  const created = res.json()
  t.same(Object.keys(created).sort(), ISSUED_FIELDS)
  t.strictSame({ rateLimit: created.rateLimit, allowedIps: created.allowedIps, requireSignature: created.requireSignature }, { rateLimit: 9, allowedIps: ['192.0.2.1/32', '2001:db8::/64', '198.51.100.0/24'], requireSignature: true })
  const one = (await app.inject({ url: `/api/v1/keys/${created.id as string}`, headers: withKey(admin.key) })).json()
  t.match(one, { rateLimit: 9, allowedIps: ['192.0.2.1/32', '2001:db8::/64', '198.51.100.0/24'], requireSignature: true })
  const listed = (await app.inject({ url: '/api/v1/keys', headers: withKey(admin.key) })).json().items.find((k: { id: string }) => k.id === created.id)
  t.strictSame(listed, one, 'the list shows the same item')
  const unsigned = await app.inject({ url: '/api/v1/messages', headers: withKey(created.key), remoteAddress: '192.0.2.1' })
  t.equal(unsigned.statusCode, 401, 'requireSignature: an unsigned request is refused')

  const bad = await app.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(admin.key), payload: { name: 'n', scopes: ['messages:read'], allowedIps: ['10.0.0.1/8'] } })
  t.equal(bad.statusCode, 400)
  t.strictSame(bad.json(), { statusCode: 400, error: 'Bad Request', message: 'body/allowedIps: "10.0.0.1/8": host bits set beyond /8 (the network is 10.0.0.0/8)', code: 'VALIDATION_ERROR' })
  t.equal((await app.apiKeys.list()).length, 2, 'no key was made')
})

t.test('GET /docs/json documents PATCH /api/v1/keys/{id} with its body and responses', async (t) => {
  const app = await build(t, { store: 'memory' })
  const doc = (await app.inject({ url: '/docs/json' })).json()
  const op = doc.paths['/api/v1/keys/{id}']?.patch
  t.ok(op, 'documented')
  t.same(op.security, [{ apiKey: [] }, { bearerAuth: [] }, { oauth2: ['keys:admin'] }])
  const body = op.requestBody?.content?.['application/json']?.schema
  t.same(Object.keys(body?.properties ?? {}).sort(), ['allowedIps', 'name', 'rateLimit', 'requireSignature', 'scopes'])
  t.equal(body?.additionalProperties, false)
  t.equal(body?.minProperties, 1)
  t.equal(body?.properties?.allowedIps?.maxItems, 32)
  t.notOk((body?.required ?? []).length > 0, 'every field is optional')
  t.same(Object.keys(op.responses).sort(), ['200', '400', '401', '403', '404', '409', '413', '415', '429', '500', '503', '507'])
  const item = op.responses['200'].content['application/json'].schema
  t.same(Object.keys(item.properties).sort(), ITEM_FIELDS)
})
