import t from 'tap'
import { formatKey, newSecret } from '../../src/api-keys.js'
import { build, sleep } from '../helper.js'
import { makeKey, tokenFor, withKey, withToken } from '../api/api-helper.js'

t.test('brute force: more than AUTH_FAILURE_MAX failures lock the IP out on every instance, valid credentials included', async (t) => {
  const app = await build(t, { store: 'redis', config: { AUTH_FAILURE_MAX: 3 } })
  const other = await build(t, { store: 'redis', flush: false, config: { AUTH_FAILURE_MAX: 3 } })
  const { id, key } = await makeKey(app, ['messages:read'])
  const token = await tokenFor(app, key)
  const attacker = '203.0.113.7'
  const wrong = withKey(formatKey(id, newSecret()))
  const attempt = async (headers: Record<string, string>, instance = app, remoteAddress = attacker) =>
    await instance.inject({ url: '/api/v1/messages', headers, remoteAddress })

  for (let i = 1; i <= 3; i++) t.equal((await attempt(wrong)).statusCode, 401, `failure ${i}`)
  t.equal((await attempt(withKey(key))).statusCode, 200, 'AUTH_FAILURE_MAX failures are not yet a lockout')
  const fourth = await attempt(withToken('forged.token.here'), other)
  t.equal(fourth.statusCode, 429, 'one more failure, on another instance: locked')

  for (const [name, headers] of [['the valid key', withKey(key)], ['a valid token', withToken(token)], ['a wrong key', wrong]] as const) {
    const res = await attempt(headers, other)
    t.equal(res.statusCode, 429, `${name} while locked`)
    t.match(res.headers['retry-after'], /^\d+$/)
    t.ok(Number(res.headers['retry-after']) > 800 && Number(res.headers['retry-after']) <= 900, 'until the 15-minute window passes')
    t.equal(res.json().code, 'RATE_LIMITED')
  }
  t.equal((await attempt(withKey(key), app)).statusCode, 429, 'the first instance agrees')
  t.equal((await attempt(withKey(key), app, '198.51.100.1')).statusCode, 200, 'other IPs are not affected')
  t.equal((await app.inject({ url: '/health', remoteAddress: attacker })).statusCode, 200, 'health is never limited')
})

t.test('a locked IP never makes the server run argon2', async (t) => {
  const app = await build(t, { store: 'memory', config: { AUTH_FAILURE_MAX: 2 } })
  const { id } = await makeKey(app, ['messages:read'])
  for (let i = 0; i < 3; i++) await app.inject({ url: '/api/v1/messages', headers: withKey(formatKey(id, newSecret())) })
  const before = app.apiKeys.verifications
  for (let i = 0; i < 20; i++) {
    t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(formatKey(id, newSecret())) })).statusCode, 429)
  }
  t.equal(app.apiKeys.verifications, before)
})

t.test('malformed credentials are failures: counted toward the lockout', async (t) => {
  const app = await build(t, { store: 'redis', config: { AUTH_FAILURE_MAX: 2 } })
  const { key } = await makeKey(app, ['messages:read'])
  const codes = []
  for (const headers of [{ authorization: 'Basic Zm9vOmJhcg==' }, { 'x-api-key': 'msk_nonsense' }, { authorization: 'Bearer' }]) {
    codes.push((await app.inject({ url: '/api/v1/messages', headers })).statusCode)
  }
  t.same(codes, [401, 401, 429])
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(key) })).statusCode, 429, 'then locked, valid key included')
})

t.test('requests without any credential are 401 and are not counted as failures', async (t) => {
  const app = await build(t, { store: 'memory', config: { AUTH_FAILURE_MAX: 1 } })
  const { key } = await makeKey(app, ['messages:read'])
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ url: '/api/v1/messages' })).statusCode, 401)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(key) })).statusCode, 200)
})

t.test('per-key rate limit: RATE_LIMIT_API_MAX per keyId, shared by the key and its tokens and by every instance', async (t) => {
  const config = { RATE_LIMIT_API_MAX: 4, RATE_LIMIT_WINDOW_MS: 2000 }
  const app = await build(t, { store: 'redis', config })
  const other = await build(t, { store: 'redis', flush: false, config })
  const limited = await makeKey(app, ['messages:read'])
  const neighbour = await makeKey(app, ['messages:read'])
  const token = await tokenFor(app, limited.key) // the exchange is the first call of four

  const second = await app.inject({ url: '/api/v1/messages', headers: withKey(limited.key) })
  t.equal(second.statusCode, 200)
  t.equal(second.headers['x-ratelimit-limit'], '4')
  t.equal(second.headers['x-ratelimit-remaining'], '2')
  t.ok(second.headers['x-ratelimit-reset'])
  t.equal((await other.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(limited.key), remoteAddress: '198.51.100.9' })).statusCode, 200, 'counted per key, not per IP')
  const over = await other.inject({ url: '/api/v1/messages', headers: withToken(token) })
  t.equal(over.statusCode, 429)
  t.match(over.headers['retry-after'], /^\d+$/)
  t.equal(over.headers['x-ratelimit-remaining'], '0')
  t.equal(over.json().code, 'RATE_LIMITED')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(neighbour.key) })).statusCode, 200, 'other keys have their own budget')
  await sleep(2100)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(limited.key) })).statusCode, 200, 'the next window')
})

t.test('a key\'s own rateLimit overrides RATE_LIMIT_API_MAX', async (t) => {
  const app = await build(t, { store: 'redis', config: { RATE_LIMIT_API_MAX: 100 } })
  const admin = await makeKey(app, ['keys:admin'])
  const created = (await app.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(admin.key), payload: { name: 'slow', scopes: ['messages:read'], rateLimit: 2 } })).json()
  const codes: number[] = []
  for (let i = 0; i < 3; i++) codes.push((await app.inject({ url: '/api/v1/messages', headers: withKey(created.key) })).statusCode)
  t.same(codes, [200, 200, 429])
  t.equal((await app.inject({ url: '/api/v1/keys', headers: withKey(admin.key) })).headers['x-ratelimit-limit'], '100')
})

t.test('on the in-memory store too, one key has one budget across routes', async (t) => {
  const app = await build(t, { store: 'memory', config: { RATE_LIMIT_API_MAX: 3 } })
  const { key } = await makeKey(app, ['messages:read', 'keys:admin'])
  const codes = [
    (await app.inject({ url: '/api/v1/messages', headers: withKey(key) })).statusCode,
    (await app.inject({ url: '/api/v1/keys', headers: withKey(key) })).statusCode,
    (await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(key) })).statusCode,
    (await app.inject({ url: '/api/v1/messages', headers: withKey(key) })).statusCode
  ]
  t.same(codes, [200, 200, 200, 429])
})
