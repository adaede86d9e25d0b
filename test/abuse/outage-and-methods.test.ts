import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { RedisServer } from '../../scripts/lib/redis-server.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { build, sleep } from '../helper.js'

// The failure paths of section 8's routes: the store down is a 503 with the standard body, never
// a 500, and nothing half-done; other methods are 405 with Allow; a wrong credential is 401.

const POLICY = {
  corsOrigins: [],
  rateLimits: { windowMs: 60_000, create: 30, read: 300, api: 6000 },
  maxTtlSeconds: 86_400,
  anonymousCreate: true
}

t.test('store down: the blocks, policy and events routes answer 503, not 500; serving goes on', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => { await redis.destroy() })
  const app = await buildApp(loadConfig({}, { LOG_LEVEL: 'silent', REDIS_URL: redis.url }))
  t.teardown(async () => { await app.close() })
  await app.ready()
  const headers = withKey((await makeKey(app, ['security:admin'])).key)
  // warm: the admin key's verification is cached, so the outage meets the routes themselves
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/security/blocks', headers })).statusCode, 200)

  await redis.stop()
  const checks = [
    await app.inject({ method: 'GET', url: '/api/v1/security/blocks', headers }),
    await app.inject({ method: 'POST', url: '/api/v1/security/blocks', headers, payload: { cidr: '192.0.2.0/24', durationSeconds: 60, reason: 'r' } }),
    await app.inject({ method: 'DELETE', url: '/api/v1/security/blocks/blk_AAAAAAAAAAAA', headers }),
    await app.inject({ method: 'GET', url: '/api/v1/security/policy', headers }),
    await app.inject({ method: 'PUT', url: '/api/v1/security/policy', headers, payload: POLICY }),
    await app.inject({ method: 'DELETE', url: '/api/v1/security/policy', headers }),
    await app.inject({ method: 'GET', url: '/api/v1/security/events', headers })
  ]
  for (const res of checks) {
    t.equal(res.statusCode, 503, res.body)
    t.equal(res.json().code, 'SERVICE_UNAVAILABLE')
    t.ok(Number(res.headers['retry-after']) >= 1, 'with Retry-After')
    t.notMatch(res.body, /stack|redis|ECONNREFUSED/i, 'the store is not named')
  }
  // Offences during the outage are kept for the next sync; the request itself is answered as before.
  const miss = await app.inject({ method: 'GET', url: '/msg/AAAAAAAAAAAAAAAAAAAAAA', remoteAddress: '203.0.113.5' })
  t.equal(miss.statusCode, 503, 'a read during the outage: 503 as before')

  await redis.start()
  const deadline = Date.now() + 10_000
  while ((await app.inject('/ready')).statusCode !== 200 && Date.now() < deadline) await sleep(100)
  // (this throwaway Redis keeps nothing across its restart: a key made again)
  const again = withKey((await makeKey(app, ['security:admin'])).key)
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/security/blocks', headers: again })).statusCode, 200, 'back once the store is')
})

t.test('other methods on the section 8 routes: 405 with Allow; wrong or missing credentials: 401', async (t) => {
  // (more failed authentications than the default lockout allows, all from 127.0.0.1)
  const app = await build(t, { config: { AUTH_FAILURE_MAX: 100 } })
  const headers = withKey((await makeKey(app, ['security:admin'])).key)
  const cases: Array<[string, string, RegExp]> = [
    ['PUT', '/api/v1/security/blocks', /^GET, HEAD, OPTIONS, POST$/],
    ['PUT', '/api/v1/security/blocks/blk_AAAAAAAAAAAA', /^DELETE, GET, HEAD, OPTIONS$/],
    ['POST', '/api/v1/security/policy', /^DELETE, GET, HEAD, OPTIONS, PUT$/],
    ['PATCH', '/api/v1/security/policy', /^DELETE, GET, HEAD, OPTIONS, PUT$/],
    ['POST', '/api/v1/security/events', /^GET, HEAD, OPTIONS$/]
  ]
  for (const [method, url, allow] of cases) {
    const res = await app.inject({ method: method as 'PUT', url, headers })
    t.equal(res.statusCode, 405, `${method} ${url}`)
    t.match(res.headers.allow, allow, `${method} ${url}: Allow ${String(res.headers.allow)}`)
    t.equal(res.json().code, 'METHOD_NOT_ALLOWED')
  }
  const routes = [
    ['GET', '/api/v1/security/blocks', undefined], ['POST', '/api/v1/security/blocks', { cidr: '192.0.2.1', durationSeconds: 60, reason: 'r' }],
    ['GET', '/api/v1/security/blocks/blk_AAAAAAAAAAAA', undefined], ['DELETE', '/api/v1/security/blocks/blk_AAAAAAAAAAAA', undefined], ['GET', '/api/v1/security/policy', undefined],
    ['PUT', '/api/v1/security/policy', POLICY], ['DELETE', '/api/v1/security/policy', undefined], ['GET', '/api/v1/security/events', undefined]
  ] as const
  for (const [method, url, payload] of routes) {
    for (const credential of [{}, withKey(`msk_abcdefabcdef_${'z'.repeat(43)}`), { authorization: 'Bearer not.a.token' }]) {
      const res = await app.inject({ method, url, headers: credential, ...(payload === undefined ? {} : { payload }) })
      t.equal(res.statusCode, 401, `${method} ${url} with ${Object.keys(credential).join() || 'nothing'}`)
      t.ok(res.headers['www-authenticate'] !== undefined)
      t.equal(res.json().code, 'UNAUTHORIZED')
    }
  }
})
