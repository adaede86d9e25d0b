import t from 'tap'
import { makeKey, withKey } from '../api/api-helper.js'
import { build, createMessage } from '../helper.js'
import type { App } from '../../src/app.js'

const POLICY = '/api/v1/security/policy'
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'

/** A whole policy, as PUT takes it. */
function policy (overrides: Record<string, unknown> = {}, rateLimits: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    corsOrigins: ['https://app.example.com'],
    rateLimits: { windowMs: 60_000, create: 100_000, read: 100_000, api: 6000, ...rateLimits },
    maxTtlSeconds: 604_800,
    anonymousCreate: true,
    ...overrides
  }
}

/** the lifetimes the page's ttl select offers */
function lifetimesOffered (page: string): number[] {
  const select = /<select id="ttl"[^>]*>([\s\S]*?)<\/select>/.exec(page)?.[1] ?? ''
  return [...select.matchAll(/<option value="(\d+)"/g)].map((m) => Number(m[1]))
}

async function admin (app: App): Promise<Record<string, string>> {
  return withKey((await makeKey(app)).key)
}

async function put (app: App, headers: Record<string, string>, body: unknown, ifMatch?: string): Promise<Awaited<ReturnType<App['inject']>>> {
  return await app.inject({ method: 'PUT', url: POLICY, headers: ifMatch === undefined ? headers : { ...headers, 'if-match': ifMatch }, payload: body as Record<string, unknown> })
}

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: GET gives the environment's policy, version "env", with its ETag`, async (t) => {
    const app = await build(t, { store, config: { CORS_ORIGINS: 'https://a.example.com', RATE_LIMIT_WINDOW_MS: 30_000, RATE_LIMIT_API_MAX: 500, MESSAGE_MAX_TTL_SECONDS: 172_800 } })
    const res = await app.inject({ url: POLICY, headers: await admin(app) })
    t.equal(res.statusCode, 200)
    t.equal(res.headers.etag, '"env"')
    t.strictSame(res.json(), {
      version: 'env',
      corsOrigins: ['https://a.example.com'],
      rateLimits: { windowMs: 30_000, create: 100_000, read: 100_000, api: 500 },
      maxTtlSeconds: 172_800,
      anonymousCreate: true,
      updatedAt: null,
      updatedBy: null
    })
  })

  t.test(`${store}: PUT replaces it (200, the new policy), If-Match is honoured (412 when it moved), DELETE resets`, async (t) => {
    const app = await build(t, { store })
    const { id, key } = await makeKey(app)
    const headers = withKey(key)
    const first = await put(app, headers, policy(), '"env"')
    t.equal(first.statusCode, 200, first.body)
    const v1 = first.json().version
    t.match(v1, /^[A-Za-z0-9_-]{16}$/)
    t.equal(first.headers.etag, `"${v1}"`)
    t.match(first.json(), { ...policy(), updatedBy: id })
    t.ok(Date.now() - Date.parse(first.json().updatedAt) < 5000, 'updatedAt is now')
    t.strictSame((await app.inject({ url: POLICY, headers })).json(), first.json(), 'GET shows it')
    t.equal(app.policy.current().version, v1, 'in force on this instance at once')

    const stale = await put(app, headers, policy({ maxTtlSeconds: 86_400 }), '"env"')
    t.equal(stale.statusCode, 412)
    t.match(stale.json(), { statusCode: 412, code: 'PRECONDITION_FAILED', message: /changed/ })
    t.equal((await put(app, headers, policy(), 'W/"' + v1 + '"')).statusCode, 412, 'a weak tag never matches')
    t.equal((await put(app, headers, policy(), `"other", "${v1}"`)).statusCode, 200, 'a list matches when it holds the version')
    const v2 = app.policy.current().version
    t.not(v2, v1, 'every write is a new version, even with the same values')
    const bare = await put(app, headers, policy({ anonymousCreate: false }), v2)
    t.equal(bare.statusCode, 200, 'the version bare')
    t.equal((await put(app, headers, policy(), '*')).statusCode, 200, '* matches any')
    t.equal((await put(app, headers, policy({ maxTtlSeconds: 90_000 }))).statusCode, 200, 'without If-Match: unconditional')
    const v5 = app.policy.current().version

    t.equal((await app.inject({ method: 'DELETE', url: POLICY, headers: { ...headers, 'if-match': `"${v1}"` } })).statusCode, 412, 'DELETE honours If-Match too')
    const reset = await app.inject({ method: 'DELETE', url: POLICY, headers })
    t.equal(reset.statusCode, 200)
    const after = reset.json()
    t.match(after, { corsOrigins: [], rateLimits: { windowMs: 60_000, create: 100_000, read: 100_000, api: 6000 }, maxTtlSeconds: 2_592_000, anonymousCreate: true, updatedBy: id })
    t.not(after.version, 'env', 'a reset is a change of its own: a version taken before it never matches again')
    t.not(after.version, v5)
    t.equal(reset.headers.etag, `"${after.version}"`)
    t.equal((await put(app, headers, policy(), `"${v5}"`)).statusCode, 412)
    t.equal((await put(app, headers, policy(), '"env"')).statusCode, 412, '"env" only matches a policy never changed')
  })

  t.test(`${store}: changes are security events`, async (t) => {
    const app = await build(t, { store })
    const { id, key } = await makeKey(app)
    const changed = (await put(app, withKey(key), policy())).json()
    const reset = (await app.inject({ method: 'DELETE', url: POLICY, headers: withKey(key) })).json()
    await app.securityEvents.flush()
    const { items } = await app.eventLog.list(null, 1000)
    const policyEvents = items.filter((event) => event.type.startsWith('policy.'))
    t.match(policyEvents, [
      { type: 'policy.changed', keyId: id, ip: '127.0.0.1', requestId: /./, detail: { version: changed.version, by: id } },
      { type: 'policy.reset', keyId: id, ip: '127.0.0.1', requestId: /./, detail: { version: reset.version, by: id } }
    ])
    const refused = await put(app, withKey(key), policy(), '"stale"')
    t.equal(refused.statusCode, 412)
    await app.securityEvents.flush()
    t.equal((await app.eventLog.list(null, 1000)).items.filter((event) => event.type.startsWith('policy.')).length, 2, 'a refused change is no event')
  })
}

t.test('a policy as GET answered it can be edited and PUT back: its version is the If-Match', async (t) => {
  const app = await build(t)
  const headers = await admin(app)
  const read = (await app.inject({ method: 'GET', url: POLICY, headers })).json()
  const changed = await put(app, headers, { ...read, maxTtlSeconds: 172_800 })
  t.equal(changed.statusCode, 200, changed.body)
  t.equal(changed.json().maxTtlSeconds, 172_800)
  t.not(changed.json().version, read.version)
  t.equal(changed.json().updatedBy === read.updatedBy, false, 'updatedBy is the server\'s, not the body\'s')
  const stale = await put(app, headers, { ...read, maxTtlSeconds: 259_200 })
  t.equal(stale.statusCode, 412, 'the old version in the body: the policy moved since')
  const explicit = await put(app, headers, { ...read, maxTtlSeconds: 259_200 }, '*')
  t.equal(explicit.statusCode, 200, 'an If-Match header wins over the body\'s version')
})

t.test('a policy at its schema\'s largest (100 long origins) is taken: the body limit fits it', async (t) => {
  const app = await build(t)
  const headers = await admin(app)
  const origins = Array.from({ length: 100 }, (_, i) => `https://${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.n${i}.example.com:8443`)
  const big = await put(app, headers, policy({ corsOrigins: origins }))
  t.ok(JSON.stringify(policy({ corsOrigins: origins })).length > 16 * 1024, 'larger than the server\'s default body limit')
  t.equal(big.statusCode, 200, big.body)
  t.equal(big.json().corsOrigins.length, 100)
})

t.test('invalid values: 400 naming the field, and nothing changes', async (t) => {
  const app = await build(t, { store: 'memory' })
  const headers = await admin(app)
  const { anonymousCreate: _omitted, ...missing } = policy()
  const cases: Array<[string, unknown, RegExp]> = [
    ['windowMs 999', policy({}, { windowMs: 999 }), /rateLimits.windowMs/],
    ['create 0', policy({}, { create: 0 }), /rateLimits.create/],
    ['read 1.5', policy({}, { read: 1.5 }), /rateLimits.read/],
    ['api as a string', policy({}, { api: '10' }), /rateLimits.api/],
    ['maxTtlSeconds 59', policy({ maxTtlSeconds: 59 }), /maxTtlSeconds/],
    ['maxTtlSeconds below the default TTL', policy({ maxTtlSeconds: 3600 }), /^body\/maxTtlSeconds: must be at least MESSAGE_DEFAULT_TTL_SECONDS \(86400\)/],
    ['a CORS entry on a public suffix', policy({ corsOrigins: ['https://a.example.com', 'https://b.example.com', 'https://*.co.uk'] }), /^body\/corsOrigins\/2: "https:\/\/\*\.co\.uk"/],
    ['a CORS *', policy({ corsOrigins: ['*'] }), /^body\/corsOrigins\/0: "\*"/],
    ['a CORS entry with a path', policy({ corsOrigins: ['https://app.example.com/'] }), /^body\/corsOrigins\/0: /],
    ['a missing field', missing, /anonymousCreate/],
    ['a missing rate limit', { ...policy(), rateLimits: { windowMs: 60_000, create: 1, read: 1 } }, /api/],
    ['an extra field', policy({ extra: 1 }), /unknown property "extra"/],
    ['an extra rate limit', policy({}, { burst: 5 }), /unknown property "burst"/],
    ['anonymousCreate as a string', policy({ anonymousCreate: 'false' }), /anonymousCreate/]
  ]
  for (const [name, body, message] of cases) {
    const res = await put(app, headers, body)
    t.equal(res.statusCode, 400, name)
    t.match(res.json(), { statusCode: 400, code: 'VALIDATION_ERROR', message }, name)
  }
  t.equal(app.policy.current().version, 'env', 'nothing was written')
})

t.test('the policy routes need security:admin', async (t) => {
  const app = await build(t, { store: 'memory' })
  const { key } = await makeKey(app, ['messages:read', 'messages:write', 'messages:delete', 'keys:admin', 'metrics:read'])
  for (const [method, payload] of [['GET', undefined], ['PUT', policy()], ['DELETE', undefined]] as const) {
    t.equal((await app.inject({ method, url: POLICY, headers: withKey(key), payload })).statusCode, 403, `${method} with every other scope`)
    t.equal((await app.inject({ method, url: POLICY, payload })).statusCode, 401, `${method} without a credential`)
  }
  t.equal(app.policy.current().version, 'env')
})

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: anonymousCreate false: POST / is 403, reading and the API still work, the page says so`, async (t) => {
    const app = await build(t, { store })
    const headers = await admin(app)
    const open = await createMessage(app, { content: 'made before', maxViews: 2 })
    t.equal((await put(app, headers, policy({ anonymousCreate: false }))).statusCode, 200)

    for (const request of [
      { payload: { content: 'x' } },
      { headers: { 'content-type': 'text/plain' }, payload: 'x' },
      { headers: { 'content-type': 'application/json' }, payload: '{not json' }
    ]) {
      const res = await app.inject({ method: 'POST', url: '/', ...request })
      t.equal(res.statusCode, 403)
      t.match(res.json(), { statusCode: 403, error: 'Forbidden', code: 'ANONYMOUS_CREATE_DISABLED', message: /through the API/ })
      t.equal(res.headers['x-ratelimit-limit'], '100000', 'still counted by the create limit')
    }
    t.equal((await app.inject(`/msg/${open.id}`)).statusCode, 200, 'GET /msg/:id still works')
    const viaApi = await app.inject({ method: 'POST', url: '/api/v1/messages', headers, payload: { content: 'by a service', maxViews: 1 } })
    t.equal(viaApi.statusCode, 201, 'POST /api/v1/messages still works')
    t.equal((await app.inject(`/msg/${viaApi.json().id}`)).json().content, 'by a service', 'and anyone with the link reads it')
    t.equal((await app.inject({ method: 'DELETE', url: `/msg/${open.id}`, headers: { 'x-delete-token': open.deleteToken } })).statusCode, 204, 'deleting with the token still works')

    const page = await app.inject({ url: '/', headers: { accept: BROWSER_ACCEPT } })
    t.equal(page.statusCode, 200)
    t.notMatch(page.body, /<form id="compose"/, 'no form to fail on submit')
    t.match(page.body, /id="create-closed"/)
    t.match(page.body, /Creating messages from this page is turned off on this server: messages are created through the API/)
    t.notMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'still no inline script')
    t.match(page.headers['content-security-policy'], /script-src 'self'/)

    t.equal((await app.inject({ method: 'DELETE', url: POLICY, headers })).statusCode, 200)
    t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode, 201, 'open again after a reset')
    t.match((await app.inject({ url: '/', headers: { accept: BROWSER_ACCEPT } })).body, /<form id="compose"/)
  })

  t.test(`${store}: a smaller maxTtlSeconds refuses longer lifetimes on POST / and /api/v1/messages; the page offers only shorter ones`, async (t) => {
    const app = await build(t, { store, config: { MESSAGE_DEFAULT_TTL_SECONDS: 3600 } })
    const headers = await admin(app)
    t.equal((await put(app, headers, policy({ maxTtlSeconds: 7200 }))).statusCode, 200)
    for (const [url, extra] of [['/', {}], ['/api/v1/messages', headers]] as const) {
      const tooLong = await app.inject({ method: 'POST', url, headers: extra, payload: { content: 'x', ttl: 7201 } })
      t.equal(tooLong.statusCode, 400, url)
      t.match(tooLong.json(), { code: 'VALIDATION_ERROR', message: 'ttl must be at most 7200 seconds' }, url)
      t.equal((await app.inject({ method: 'POST', url, headers: extra, payload: { content: 'x', ttl: 7200 } })).statusCode, 201, `${url}: the maximum itself`)
      t.equal((await app.inject({ method: 'POST', url, headers: extra, payload: { content: 'x' } })).statusCode, 201, `${url}: the default`)
    }
    const plain = await app.inject({ method: 'POST', url: '/?ttl=9000', headers: { 'content-type': 'text/plain' }, payload: 'x' })
    t.equal(plain.statusCode, 400, 'text/plain with ttl in the query too')

    const page = (await app.inject({ url: '/', headers: { accept: BROWSER_ACCEPT } })).body
    t.same(lifetimesOffered(page), [600, 3600, 7200], 'presets up to the maximum, and the maximum')
    t.match(page, /<option value="3600" selected>1 hour<\/option>/, 'the default preselected')

    t.equal((await app.inject({ method: 'DELETE', url: POLICY, headers })).statusCode, 200)
    t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x', ttl: 7201 } })).statusCode, 201, 'back to MESSAGE_MAX_TTL_SECONDS')
    const again = (await app.inject({ url: '/', headers: { accept: BROWSER_ACCEPT } })).body
    t.same(lifetimesOffered(again), [600, 3600, 86400, 604800])
  })

  t.test(`${store}: lowered rate limits apply to the next request; the api budget too`, async (t) => {
    const app = await build(t, { store })
    const { key } = await makeKey(app)
    const headers = withKey(key)
    const ip = { remoteAddress: '203.0.113.40' }
    t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' }, ...ip })).headers['x-ratelimit-limit'], '100000')
    t.equal((await put(app, headers, policy({}, { create: 2, read: 3, api: 4, windowMs: 30_000 }))).statusCode, 200)
    const creates = []
    for (let i = 0; i < 3; i++) creates.push(await app.inject({ method: 'POST', url: '/', payload: { content: 'x' }, remoteAddress: '203.0.113.41' }))
    t.same(creates.map((r) => r.statusCode), [201, 201, 429])
    t.equal(creates[0]?.headers['x-ratelimit-limit'], '2')
    t.ok(Number(creates[0]?.headers['x-ratelimit-reset']) <= 30, 'the new window')
    const reads = []
    for (let i = 0; i < 4; i++) reads.push((await app.inject({ url: '/msg/AAAAAAAAAAAAAAAAAAAAAA', remoteAddress: '203.0.113.42' })).statusCode)
    t.same(reads, [404, 404, 404, 429])
    const api = []
    for (let i = 0; i < 4; i++) api.push(await app.inject({ url: '/api/v1/messages', headers }))
    t.same(api.map((r) => r.statusCode), [200, 200, 200, 429], 'the PUT itself was the first of the key\'s 4')
    t.equal(api[0]?.headers['x-ratelimit-limit'], '4')
  })
}

t.test('under pressure the anonymous budgets of the policy shrink; the api budget does not', async (t) => {
  const app = await build(t, { store: 'memory' })
  const { key } = await makeKey(app)
  t.equal((await put(app, withKey(key), policy({}, { create: 40, read: 40, api: 40 }))).statusCode, 200)
  app.adaptiveLimits.observe(0.3)
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).headers['x-ratelimit-limit'], '20')
  t.equal((await app.inject({ url: '/msg/AAAAAAAAAAAAAAAAAAAAAA' })).headers['x-ratelimit-limit'], '20')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(key) })).headers['x-ratelimit-limit'], '40')
  app.adaptiveLimits.observe(0.9)
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).headers['x-ratelimit-limit'], '10')
  app.adaptiveLimits.observe(0)
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).headers['x-ratelimit-limit'], '40')
})
