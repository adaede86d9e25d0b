import { createHmac } from 'node:crypto'
import t from 'tap'
import { formatKey, newSecret, parseKey } from '../../src/api-keys.js'
import { build, sleep } from '../helper.js'
import { makeKey, tokenFor, withKey, withToken } from '../api/api-helper.js'

const JWT_SECRET = 'a-test-secret-that-is-long-enough-0123456789'
// Many failures on purpose: the lockout is tested in abuse.test.ts.
const config = { JWT_SECRET, AUTH_FAILURE_MAX: 1000 }

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
function forge (header: Record<string, unknown>, claims: Record<string, unknown>, secret = JWT_SECRET): string {
  const input = `${b64(header)}.${b64(claims)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

t.test('every forged or broken credential is the same 401', async (t) => {
  const app = await build(t, { store: 'redis', config })
  const { id, key } = await makeKey(app, ['messages:read'])
  const now = Math.floor(Date.now() / 1000)
  const good = { iss: app.config.publicUrl, aud: 'missive-api', sub: id, scope: 'messages:read', jti: 'j1', iat: now, exp: now + 600 }
  const hs256 = { alg: 'HS256', typ: 'JWT' }
  const real = await tokenFor(app, key)
  const [head, body, signature] = real.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString())

  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(forge(hs256, good)) })).statusCode, 200, 'a well-made token is accepted (the forgeries below differ in one thing)')
  // Decided (README): iat is informational; only the instances sign, so a future one is clock skew.
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(forge(hs256, { ...good, jti: 'j2', iat: now + 120 })) })).statusCode, 200, 'an iat ahead of this clock is accepted')

  const cases: Array<[string, Record<string, string>]> = [
    ['alg none', withToken(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(good)}.`)],
    ['alg none without the dot', withToken(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(good)}`)],
    ['HS256 with a wrong secret', withToken(forge(hs256, good, 'another-secret-that-is-long-enough-012345'))],
    ['HS512 with the right secret', withToken(forge({ alg: 'HS512', typ: 'JWT' }, good))],
    ['a tampered payload', withToken(`${head}.${b64({ ...claims, scope: 'messages:read keys:admin' })}.${signature}`)],
    ['a tampered signature', withToken(`${head}.${body}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`)],
    ['expired', withToken(forge(hs256, { ...good, iat: now - 700, exp: now - 100 }))],
    ['wrong iss', withToken(forge(hs256, { ...good, iss: 'someone-else' }))],
    ['wrong aud', withToken(forge(hs256, { ...good, aud: 'another-api' }))],
    ['no aud', withToken(forge(hs256, { ...good, aud: undefined }))],
    ['no jti', withToken(forge(hs256, { ...good, jti: undefined }))],
    ['not yet valid', withToken(forge(hs256, { ...good, nbf: now + 300 }))],
    ['a sub that is no key', withToken(forge(hs256, { ...good, sub: 'aaaaaaaaaaaa' }))],
    ['a sub that is not a key id', withToken(forge(hs256, { ...good, sub: 'admin' }))],
    ['empty Bearer', { authorization: 'Bearer ' }],
    ['Bearer alone', { authorization: 'Bearer' }],
    ['garbage Bearer', { authorization: 'Bearer not.a.jwt' }],
    ['Basic scheme', { authorization: `Basic ${Buffer.from(`${id}:${key}`).toString('base64')}` }],
    ['the key as a bearer token', { authorization: `Bearer ${key}` }],
    ['malformed key: empty', { 'x-api-key': '' }],
    ['malformed key: wrong prefix', { 'x-api-key': key.replace('msk_', 'sk_') }],
    ['malformed key: truncated', { 'x-api-key': key.slice(0, -1) }],
    ['malformed key: too long', { 'x-api-key': `${key}A` }],
    ['malformed key: upper-case id', { 'x-api-key': key.replace(id, id.toUpperCase()) }],
    ['right keyId, wrong secret', withKey(formatKey(id, newSecret()))],
    ['unknown keyId', withKey(formatKey('zzzzzzzzzzzz', newSecret()))],
    ['two credentials at once', { ...withKey(key), ...withToken(real) }]
  ]
  // The real token once first: verified tokens are remembered by the token itself, and a
  // token differing from it in one character must still be checked in full.
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(real) })).statusCode, 200, 'the real token (now remembered)')
  const bodies = new Set<string>()
  for (const [name, headers] of cases) {
    const res = await app.inject({ url: '/api/v1/messages', headers })
    t.equal(res.statusCode, 401, name)
    t.equal(res.headers['www-authenticate'], 'ApiKey realm="missive", Bearer realm="missive"', `${name}: challenge`)
    bodies.add(res.body)
  }
  t.equal(bodies.size, 1, 'one body for every case: nothing says which part was wrong')
  t.same(JSON.parse([...bodies][0] ?? '{}'), { statusCode: 401, error: 'Unauthorized', message: 'Authentication required: a valid API key or bearer token', code: 'UNAUTHORIZED' })
})

t.test('revoked and expired keys, and a rotated key after its grace, are 401', async (t) => {
  const app = await build(t, { store: 'redis', config })
  const revoked = await makeKey(app, ['messages:read'])
  await app.apiKeys.revoke(revoked.id)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(revoked.key) })).statusCode, 401, 'revoked key')

  // A key that has expired: the record of a live key, stored again under a new id with an
  // expiry in the past (the secret still matches its hash).
  const live = await makeKey(app, ['messages:read'])
  const record = await app.keyStore.get(live.id)
  if (record === null) throw new Error('no record')
  await app.keyStore.create({ ...record, id: 'expiredkey00', expiresAt: Date.now() - 1000 })
  const expiredKey = formatKey('expiredkey00', parseKey(live.key)?.secret ?? '')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(live.key) })).statusCode, 200, 'the live twin works')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(expiredKey) })).statusCode, 401, 'expired key')

  const rotated = await makeKey(app, ['messages:read'])
  await app.apiKeys.rotate(rotated.id, 1)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(rotated.key) })).statusCode, 200, 'within the grace')
  await sleep(1100)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(rotated.key) })).statusCode, 401, 'rotated key after its grace')
})

t.test('an expired token is refused even when the clock only just passed it', async (t) => {
  const app = await build(t, { store: 'memory', config: { ...config, JWT_TTL_SECONDS: 30 } })
  const { key } = await makeKey(app, ['messages:read'])
  const token = await tokenFor(app, key)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200)
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  Date.now = () => realNow() + 31_000
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 401)
})

t.test('a token accepted once (and so remembered by the verifier cache) is refused once it expires', async (t) => {
  const app = await build(t, { store: 'redis', config })
  const { id } = await makeKey(app, ['messages:read'])
  const now = Math.floor(Date.now() / 1000)
  const token = forge({ alg: 'HS256', typ: 'JWT' }, { iss: app.config.publicUrl, aud: 'missive-api', sub: id, scope: 'messages:read', jti: 'short-lived', iat: now, exp: now + 2 })
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200)
  await sleep((now + 2) * 1000 - Date.now() + 300)
  const res = await app.inject({ url: '/api/v1/messages', headers: withToken(token) })
  t.equal(res.statusCode, 401)
  t.ok(res.headers['www-authenticate'])
})
