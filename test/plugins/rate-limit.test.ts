import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import t from 'tap'
import { makeKey, withKey } from '../api/api-helper.js'
import { build, sleep } from '../helper.js'

t.test('create limit: 429 with Retry-After and x-ratelimit-* headers, per IP', async (t) => {
  const app = await build(t, { store: 'redis', config: { RATE_LIMIT_CREATE_MAX: 3, RATE_LIMIT_WINDOW_MS: 60_000 } })
  const post = async (ip = '203.0.113.7') => await app.inject({ method: 'POST', url: '/', payload: { content: 'x' }, remoteAddress: ip })
  for (let i = 1; i <= 3; i++) {
    const res = await post()
    t.equal(res.statusCode, 201)
    t.equal(res.headers['x-ratelimit-limit'], '3')
    t.equal(res.headers['x-ratelimit-remaining'], String(3 - i))
    const reset = Number(res.headers['x-ratelimit-reset'])
    t.ok(reset > 0 && reset <= 60, `reset is seconds until the window ends (${reset})`)
  }
  const limited = await post()
  t.equal(limited.statusCode, 429)
  t.match(limited.json(), { statusCode: 429, error: 'Too Many Requests', code: 'RATE_LIMITED', message: /Rate limit exceeded/ })
  t.same(Object.keys(limited.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After in seconds (${retryAfter})`)
  t.equal(limited.headers['x-ratelimit-remaining'], '0')
  t.equal(limited.headers['x-content-type-options'], 'nosniff', 'security headers on 429 too')

  t.equal((await post('198.51.100.1')).statusCode, 201, 'another IP has its own budget')
})

t.test('counters live in Redis under rl:<route>-<client>', async (t) => {
  const app = await build(t, { store: 'redis', config: { RATE_LIMIT_READ_MAX: 2 } })
  const { key } = await makeKey(app, ['messages:read'])
  await app.inject({ url: '/msg/AAAAAAAAAAAAAAAAAAAAAA', remoteAddress: '203.0.113.5' })
  await app.inject({ url: '/msg/AAAAAAAAAAAAAAAAAAAAAA', remoteAddress: '203.0.113.5' })
  await app.inject({ url: '/api/v1/messages', headers: withKey(key) })
  const keys = (await app.redisClient?.keys('rl:*')) ?? []
  t.ok(keys.includes('rl:read-203.0.113.5'), keys.join(' '))
  t.ok(keys.some((k) => /^rl:api-key:[a-z0-9]{12}$/.test(k)), 'one budget per API key, across routes')
  t.same(((await app.redisClient?.keys('*')) ?? []).filter((k) => k.includes('object') || k.includes('undefined')), [])
})

t.test('reads, deletes, 404s and 405s share one read budget per client IP; creates have their own', async (t) => {
  for (const store of ['redis', 'memory'] as const) {
    const app = await build(t, { store, config: { RATE_LIMIT_READ_MAX: 4, RATE_LIMIT_CREATE_MAX: 2 } })
    const ip = { remoteAddress: '198.51.100.20' }
    const id = 'AAAAAAAAAAAAAAAAAAAAAA'
    const codes = [
      (await app.inject({ url: `/msg/${id}`, ...ip })).statusCode,
      (await app.inject({ url: '/', ...ip })).statusCode,
      (await app.inject({ method: 'DELETE', url: `/msg/${id}`, ...ip })).statusCode,
      (await app.inject({ url: '/nope', ...ip })).statusCode,
      (await app.inject({ method: 'PUT', url: '/', ...ip })).statusCode,
      (await app.inject({ url: '/', ...ip })).statusCode
    ]
    t.same(codes, [404, 200, 404, 404, 429, 429], `${store}: the fifth read of any kind is limited`)
    t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' }, ...ip })).statusCode, 201, `${store}: creates count apart`)
    t.equal((await app.inject({ url: '/', remoteAddress: '198.51.100.21' })).statusCode, 200, `${store}: another IP has its own budget`)
  }
})

t.test('an IPv6 client is counted by its /64 network: one host owns many addresses', async (t) => {
  const app = await build(t, { store: 'redis', config: { RATE_LIMIT_CREATE_MAX: 2 } })
  const post = async (ip: string) => (await app.inject({ method: 'POST', url: '/', payload: { content: 'x' }, remoteAddress: ip })).statusCode
  t.equal(await post('2001:db8:aa:bb00::1'), 201)
  t.equal(await post('2001:db8:aa:bb00:1234::2'), 201)
  t.equal(await post('2001:db8:aa:bb00:ffff::3'), 429, 'a third address of that /64 shares the budget')
  t.equal(await post('2001:db8:aa:bb01::1'), 201, 'another /64 is another client')
  t.equal(await post('::ffff:203.0.113.9'), 201)
  t.equal(await post('203.0.113.9'), 201)
  t.equal(await post('::ffff:203.0.113.9'), 429, 'an IPv4-mapped address is its IPv4 client')
})

t.test('read limit covers reads, deletes, 404s and 405s; /health and /ready are never limited', async (t) => {
  const app = await build(t, { store: 'redis', config: { RATE_LIMIT_READ_MAX: 2 } })
  const id = 'AAAAAAAAAAAAAAAAAAAAAA'
  for (const [method, url] of [['GET', `/msg/${id}`], ['DELETE', `/msg/${id}`], ['GET', '/nope'], ['PUT', '/'], ['GET', '/']] as const) {
    const codes = []
    for (let i = 0; i < 3; i++) codes.push((await app.inject({ method, url })).statusCode)
    t.equal(codes[2], 429, `${method} ${url}: ${codes.join(',')}`)
  }
  for (let i = 0; i < 10; i++) {
    const health = await app.inject('/health')
    const ready = await app.inject('/ready')
    t.equal(health.statusCode, 200)
    t.equal(ready.statusCode, 200)
    t.equal(health.headers['x-ratelimit-limit'], undefined)
    const wrongMethod = await app.inject({ method: 'POST', url: i % 2 === 0 ? '/health' : '/ready?x=1' })
    t.equal(wrongMethod.statusCode, 405, 'a wrong method on them is a 405, never a 429')
    t.equal(wrongMethod.headers['x-ratelimit-limit'], undefined)
  }
})

t.test('the docs and /api/v1 without a usable credential are anonymous reads: they use the read budget', async (t) => {
  for (const store of ['redis', 'memory'] as const) {
    const cases = [
      ['GET', '/docs/json', {}, 200],
      ['GET', '/docs', {}, 200],
      ['GET', '/api/v1/messages', {}, 401],
      // a bearer token where only an API key is taken: not a failed attempt, still a request
      ['POST', '/api/v1/auth/token', { authorization: 'Bearer a.b.c' }, 401]
    ] as const
    for (const [method, url, headers, status] of cases) {
      const app = await build(t, { store, config: { RATE_LIMIT_READ_MAX: 2 } })
      const responses = []
      for (let i = 0; i < 3; i++) responses.push(await app.inject({ method, url, headers, remoteAddress: '198.51.100.70' }))
      t.same(responses.map((res) => res.statusCode), [status, status, 429], `${store}: ${method} ${url}`)
      t.equal(responses[0]?.headers['x-ratelimit-limit'], '2', 'the read budget, in the headers')
      t.ok(Number(responses[2]?.headers['retry-after']) > 0, 'the 429 says when to retry')
    }
  }
})

t.test('a URL Fastify cannot decode is an anonymous read too: counted, and 429 past the budget', async (t) => {
  for (const store of ['redis', 'memory'] as const) {
    const app = await build(t, { store, config: { RATE_LIMIT_READ_MAX: 2 } })
    const responses = []
    for (const url of ['/msg/%ff', `/msg/${'a'.repeat(300)}`, '/msg/%ff', '/msg/AAAAAAAAAAAAAAAAAAAAAA']) {
      responses.push(await app.inject({ url, remoteAddress: '198.51.100.71' }))
    }
    t.same(responses.map((res) => res.statusCode), [400, 400, 429, 429], `${store}: one budget with every other read`)
    t.equal(responses[0]?.headers['x-ratelimit-limit'], '2')
    t.equal(responses[0]?.headers['x-ratelimit-remaining'], '1')
    t.ok(Number(responses[2]?.headers['retry-after']) > 0, 'the 429 says when to retry')
    t.equal(responses[2]?.headers['x-content-type-options'], 'nosniff', 'and has the security headers')
  }
})

t.test('the window passes and the budget comes back', async (t) => {
  const app = await build(t, { store: 'redis', config: { RATE_LIMIT_CREATE_MAX: 1, RATE_LIMIT_WINDOW_MS: 1000 } })
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode, 429)
  await sleep(1100)
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode, 201)
})

t.test('two instances on one Redis share the counters (and the messages)', async (t) => {
  const config = { RATE_LIMIT_CREATE_MAX: 4 }
  const a = await build(t, { store: 'redis', config })
  const b = await build(t, { store: 'redis', config, flush: false })
  const codes = []
  let id = ''
  for (const app of [a, b, a, b, a, b]) {
    const res = await app.inject({ method: 'POST', url: '/', payload: { content: 'shared', maxViews: 2 } })
    codes.push(res.statusCode)
    if (res.statusCode === 201) id = res.json().id
  }
  t.same(codes, [201, 201, 201, 201, 429, 429])
  t.equal((await b.inject(`/msg/${id}`)).json().remainingViews, 1, 'made on one instance, read on the other')
  t.equal((await a.inject(`/msg/${id}`)).json().remainingViews, 0)
  t.equal((await b.inject(`/msg/${id}`)).statusCode, 404)
})

t.test('memory store: the limits work in-process', async (t) => {
  const app = await build(t, { store: 'memory', config: { RATE_LIMIT_CREATE_MAX: 1 } })
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode, 201)
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode, 429)
})

t.test('TRUST_PROXY: the client IP comes from X-Forwarded-For only when trusted', async (t) => {
  const trusting = await build(t, { store: 'memory', config: { RATE_LIMIT_CREATE_MAX: 1, TRUST_PROXY: 'true' } })
  const viaProxy = async (app: typeof trusting, client: string) => (await app.inject({ method: 'POST', url: '/', payload: { content: 'x' }, headers: { 'x-forwarded-for': client } })).statusCode
  t.equal(await viaProxy(trusting, '192.0.2.1'), 201)
  t.equal(await viaProxy(trusting, '192.0.2.2'), 201, 'a different client behind the proxy')
  t.equal(await viaProxy(trusting, '192.0.2.1'), 429)

  const direct = await build(t, { store: 'memory', config: { RATE_LIMIT_CREATE_MAX: 1 } })
  t.equal(await viaProxy(direct, '192.0.2.1'), 201)
  t.equal(await viaProxy(direct, '192.0.2.2'), 429, 'a spoofed header does not buy a new budget')
})

t.test('TRUST_PROXY as a hop count trusts that many proxies (Fastify 5 alone ignores a number)', async (t) => {
  const app = await build(t, { store: 'memory', config: { RATE_LIMIT_CREATE_MAX: 1, TRUST_PROXY: '1' } })
  const via = async (forwardedFor: string) => (await app.inject({ method: 'POST', url: '/', payload: { content: 'x' }, headers: { 'x-forwarded-for': forwardedFor } })).statusCode
  t.equal(await via('192.0.2.1'), 201)
  t.equal(await via('192.0.2.2'), 201, 'another client behind the one proxy has its own budget')
  t.equal(await via('192.0.2.1'), 429)
  // One hop trusted: the address the proxy saw (the last in the list) is the client; what the
  // client itself wrote to the left of it is not believed.
  t.equal(await via('203.0.113.9, 192.0.2.1'), 429, 'a forged address before the real one buys nothing')
})

t.test('@fastify/rate-limit is pinned to the exact version installed (plugins/rate-limit.ts uses its internals)', async (t) => {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }
  const installed = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('@fastify/rate-limit/package.json'), 'utf8')) as { version: string }
  t.match(manifest.dependencies['@fastify/rate-limit'], /^\d+\.\d+\.\d+$/, 'an exact version, no range')
  t.equal(manifest.dependencies['@fastify/rate-limit'], installed.version)
})
