import t from 'tap'
import type { App } from '../../src/app.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { build, sleep } from '../helper.js'

// Manual blocks (API.md section 8): guards, lift, on two instances; a blocked address is
// answered before any other work. The operator calls from 127.0.0.1.

async function admin (app: App): Promise<Record<string, string>> {
  return withKey((await makeKey(app, ['security:admin'])).key)
}

async function block (app: App, headers: Record<string, string>, body: Record<string, unknown>, remoteAddress = '127.0.0.1') {
  return await app.inject({ method: 'POST', url: '/api/v1/security/blocks', headers, payload: body, remoteAddress })
}

t.test('a manual block: 201 with the item, the network refused at once, listed, lifted', async (t) => {
  const app = await build(t)
  const headers = await admin(app)
  const created = await block(app, headers, { cidr: '198.51.100.0/24', durationSeconds: 3600, reason: 'scraping from this range' })
  t.equal(created.statusCode, 201)
  const item = created.json()
  t.match(item, { cidr: '198.51.100.0/24', reason: 'scraping from this range', level: 0, manual: true })
  t.match(item.id, /^blk_[A-Za-z0-9_-]{12}$/)
  t.equal(created.headers.location, `/api/v1/security/blocks/${item.id as string}`)
  t.equal(Date.parse(item.until) - Date.parse(item.since), 3_600_000)

  const refused = await app.inject({ method: 'POST', url: '/', remoteAddress: '198.51.100.77', payload: { content: 'x' } })
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().code, 'BLOCKED')
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(retryAfter > 3590 && retryAfter <= 3600, `Retry-After ${retryAfter}`)
  t.equal((await app.inject({ method: 'GET', url: '/health', remoteAddress: '198.51.100.77' })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/', remoteAddress: '198.51.101.1', payload: { content: 'x' } })).statusCode, 201, 'outside the /24')

  const list = (await app.inject({ method: 'GET', url: '/api/v1/security/blocks', headers })).json()
  t.same(list.items, [item])
  const located = await app.inject({ method: 'GET', url: created.headers.location as string, headers })
  t.equal(located.statusCode, 200, 'the Location answers')
  t.same(located.json(), item)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/security/blocks/${item.id as string}`, headers })).statusCode, 204)
  t.equal((await app.inject({ method: 'POST', url: '/', remoteAddress: '198.51.100.77', payload: { content: 'x' } })).statusCode, 201, 'lifted')
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/security/blocks/${item.id as string}`, headers })).statusCode, 404, 'a second lift: 404')
  t.same((await app.inject({ method: 'GET', url: '/api/v1/security/blocks', headers })).json(), { items: [] })
  const gone = await app.inject({ method: 'GET', url: created.headers.location as string, headers })
  t.equal(gone.statusCode, 404, 'a lifted block is gone')
  t.equal(gone.json().code, 'NOT_FOUND')

  // both are security events, with who did it
  const feed = (await app.inject({ method: 'GET', url: '/api/v1/security/events?limit=1000', headers })).json()
  const added = feed.items.find((e: { type: string }) => e.type === 'block.added')
  t.match(added, { type: 'block.added', ip: '127.0.0.1', keyId: /^[a-z0-9]{12}$/, requestId: /./, detail: { id: item.id, cidr: '198.51.100.0/24', level: 0, manual: true, reason: 'scraping from this range', until: item.until } })
  t.match(feed.items.find((e: { type: string }) => e.type === 'block.lifted'), { type: 'block.lifted', ip: '127.0.0.1', keyId: added.keyId, detail: { id: item.id } })
})

t.test('the guards: the caller\'s own address, too wide a network, an exempt address, bad values', async (t) => {
  const app = await build(t, { config: { PENALTY_EXEMPT_IPS: '127.0.0.1,10.9.0.0/24' } })
  const headers = await admin(app)
  const refusals: Array<[Record<string, unknown>, RegExp, string?]> = [
    [{ cidr: '203.0.113.0/24' }, /body\/cidr: .*covers the address this request comes from/, '203.0.113.5'],
    [{ cidr: '2001:db8::/48' }, /body\/cidr: .*covers the address this request comes from/, '2001:db8:0:1::9'],
    [{ cidr: '10.0.0.0/8' }, /body\/cidr: 10\.0\.0\.0\/8 is wider than \/16/],
    [{ cidr: '0.0.0.0/0' }, /wider than \/16/],
    [{ cidr: '2001:db8::/31' }, /wider than \/32/],
    [{ cidr: '10.9.0.0/16' }, /PENALTY_EXEMPT_IPS/],
    [{ cidr: '10.9.0.7' }, /PENALTY_EXEMPT_IPS/],
    [{ cidr: '10.0.0.1/8' }, /body\/cidr: .*host bits/],
    [{ cidr: 'example.com' }, /body\/cidr: /],
    [{ cidr: '192.0.2.1', durationSeconds: 59 }, /body\/durationSeconds/],
    [{ cidr: '192.0.2.1', durationSeconds: 2_592_001 }, /body\/durationSeconds/],
    [{ cidr: '192.0.2.1', reason: '' }, /body\/reason/],
    [{ cidr: '192.0.2.1', extra: true }, /./]
  ]
  for (const [body, message, from] of refusals) {
    const response = await block(app, headers, { durationSeconds: 600, reason: 'r', ...body }, from)
    t.equal(response.statusCode, 400, JSON.stringify(body))
    t.match(response.json(), { code: 'VALIDATION_ERROR', message }, JSON.stringify(body))
  }
  t.same((await app.inject({ method: 'GET', url: '/api/v1/security/blocks', headers })).json(), { items: [] }, 'nothing was blocked')
  const ok = await block(app, headers, { cidr: '2001:db8:5:6:7::1', durationSeconds: 60, reason: 'one host' })
  t.equal(ok.json().cidr, '2001:db8:5:6::/64', 'an IPv6 address is its /64')
})

t.test('scope and credentials: 401 without, 403 without security:admin, 404 for an unknown id', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/security/blocks' })).statusCode, 401)
  const other = withKey((await makeKey(app, ['keys:admin', 'messages:read'])).key)
  for (const [method, url] of [['GET', '/api/v1/security/blocks'], ['POST', '/api/v1/security/blocks'], ['GET', '/api/v1/security/blocks/blk_AAAAAAAAAAAA'], ['DELETE', '/api/v1/security/blocks/blk_AAAAAAAAAAAA']] as const) {
    t.equal((await app.inject({ method, url, headers: other, ...(method === 'POST' ? { payload: { cidr: '192.0.2.1', durationSeconds: 60, reason: 'r' } } : {}) })).statusCode, 403, `${method} ${url}`)
  }
  const headers = await admin(app)
  t.equal((await app.inject({ method: 'DELETE', url: '/api/v1/security/blocks/blk_AAAAAAAAAAAA', headers })).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: '/api/v1/security/blocks/nope', headers })).statusCode, 404, 'whatever the id looks like')
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/security/blocks/blk_AAAAAAAAAAAA', headers })).statusCode, 404)
})

t.test('a blocked address never reaches argon2, nor has its body read', async (t) => {
  const app = await build(t)
  const headers = await admin(app)
  const service = await makeKey(app, ['messages:write'])
  t.equal((await block(app, headers, { cidr: '192.0.2.0/24', durationSeconds: 600, reason: 'stuffing' })).statusCode, 201)
  const before = app.apiKeys.verifications
  for (let i = 0; i < 5; i++) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/messages', remoteAddress: '192.0.2.44', headers: { ...withKey(service.key), 'content-type': 'application/json' }, payload: '{"content": "x"' })
    t.equal(response.json().code, 'BLOCKED', 'a malformed body is not even parsed')
  }
  t.equal(app.apiKeys.verifications, before, 'no argon2 run')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { ...withKey(service.key) }, payload: { content: 'x' } })).statusCode, 201, 'the same key from elsewhere works')
})

t.test('redis: a manual block and its lift reach the other instance within 5 s', async (t) => {
  const a = await build(t, { store: 'redis' })
  const b = await build(t, { store: 'redis', flush: false })
  const headers = await admin(a)
  const created = (await block(a, headers, { cidr: '203.0.113.0/28', durationSeconds: 600, reason: 'r' })).json()
  const code = async (): Promise<number> => (await b.inject({ method: 'POST', url: '/', remoteAddress: '203.0.113.3', payload: { content: 'x' } })).statusCode
  let started = Date.now()
  while (await code() !== 429 && Date.now() - started < 5000) await sleep(100)
  t.equal(await code(), 429, `blocked on b after ${Date.now() - started} ms`)
  t.same((await b.inject({ method: 'GET', url: '/api/v1/security/blocks', headers })).json().items.map((i: { id: string }) => i.id), [created.id])
  t.equal((await b.inject({ method: 'DELETE', url: `/api/v1/security/blocks/${created.id as string}`, headers })).statusCode, 204)
  started = Date.now()
  while (a.abuse.blocks.blockedFor('203.0.113.3') > 0 && Date.now() - started < 5000) await sleep(100)
  t.equal(a.abuse.blocks.blockedFor('203.0.113.3'), 0, `lifted on a after ${Date.now() - started} ms`)
})

t.test('metrics: missive_blocked_addresses and missive_adaptive_limit_factor', async (t) => {
  const app = await build(t)
  const headers = withKey((await makeKey(app, ['security:admin', 'metrics:read'])).key)
  await block(app, headers, { cidr: '192.0.2.9', durationSeconds: 600, reason: 'r' })
  await block(app, headers, { cidr: '192.0.3.0/24', durationSeconds: 600, reason: 'r' })
  const metrics = (await app.inject({ method: 'GET', url: '/metrics', headers })).body
  t.match(metrics, /^missive_blocked_addresses 2$/m)
  t.match(metrics, /^missive_adaptive_limit_factor 1$/m)
})
