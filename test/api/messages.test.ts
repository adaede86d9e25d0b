import t from 'tap'
import { build } from '../helper.js'
import { makeKey, tokenFor, withKey, withToken } from './api-helper.js'

const RW = ['messages:read', 'messages:write', 'messages:delete'] as const

t.test('POST /api/v1/messages creates a message owned by the key', async (t) => {
  const app = await build(t, { store: 'redis' })
  const { id: keyId, key } = await makeKey(app, [...RW])
  const res = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(key), payload: { content: 'for a service', maxViews: 2, ttl: 600 } })
  t.equal(res.statusCode, 201)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['createdAt', 'deleteToken', 'expiresAt', 'id', 'maxViews', 'owner', 'url'])
  t.match(body, { id: /^[A-Za-z0-9_-]{22}$/, owner: keyId, maxViews: 2, url: `/msg/${body.id}` })
  t.equal(res.headers.location, `/msg/${body.id}`)
  t.equal(Date.parse(body.expiresAt) - Date.parse(body.createdAt), 600_000)

  const read = await app.inject({ url: `/msg/${body.id}` })
  t.equal(read.json().content, 'for a service', 'readable through the public route too')
})

t.test('POST /api/v1/messages: limits and validation', async (t) => {
  const app = await build(t, { store: 'memory', config: { API_MESSAGE_MAX_BYTES: 100, MESSAGE_MAX_BYTES: 10 } })
  const { key } = await makeKey(app, [...RW])
  const post = async (payload: unknown, headers: Record<string, string> = {}): Promise<number> =>
    (await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { ...withKey(key), ...headers }, payload: payload as string })).statusCode
  t.equal(await post({ content: 'x'.repeat(100) }), 201, 'API_MESSAGE_MAX_BYTES, not MESSAGE_MAX_BYTES')
  t.equal(await post({ content: 'x'.repeat(101) }), 413)
  t.equal(await post({ content: '' }), 400)
  t.equal(await post({ content: 'x', ttl: 59 }), 400)
  t.equal(await post({ content: 'x', ttl: 3_000_000 }), 400)
  t.equal(await post({ content: 'x', maxViews: 0 }), 400)
  t.equal(await post({ content: 'x', owner: 'someone' }), 400, 'unknown properties are refused')
  t.equal(await post('{"content":"x","__proto__":{"a":1}}', { 'content-type': 'application/json' }), 400)
  t.equal(await post('raw text', { 'content-type': 'text/plain' }), 415)
  t.equal(await post('{"content":"x"}', { 'content-type': 'application/json', 'content-encoding': 'gzip' }), 415, 'a compressed body')
  t.equal(await post(Buffer.from('{"content":"x"}', 'utf16le') as unknown as string, { 'content-type': 'application/json; charset=utf-16le' }), 415, 'another charset')
  t.equal(await post('{"content":"x"}', { 'content-type': 'application/json; charset=utf-8' }), 201)
  // A wrong credential is refused before the body is looked at: 401, not 415.
  const anonymous = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-api-key': 'msk_aaaaaaaaaaaa_wrong' }, payload: '{}' })
  t.equal(anonymous.statusCode, 401)
})

t.test('GET /api/v1/messages lists only the caller\'s live messages, newest first, with a cursor', async (t) => {
  const app = await build(t, { store: 'redis' })
  const mine = await makeKey(app, [...RW])
  const theirs = await makeKey(app, [...RW])
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(mine.key), payload: { content: `m${i}`, maxViews: 3 } })
    ids.push(res.json().id)
  }
  await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(theirs.key), payload: { content: 'not yours' } })
  await app.inject({ method: 'POST', url: '/', payload: { content: 'anonymous' } })
  await app.inject({ url: `/msg/${ids[0] ?? ''}` })

  const first = await app.inject({ url: '/api/v1/messages?limit=2', headers: withKey(mine.key) })
  t.equal(first.statusCode, 200)
  const page1 = first.json()
  t.same(page1.items.map((m: { id: string }) => m.id), [ids[4], ids[3]])
  t.same(Object.keys(page1.items[0]).sort(), ['createdAt', 'expiresAt', 'id', 'remainingViews'])
  t.type(page1.nextCursor, 'string')
  const page2 = (await app.inject({ url: `/api/v1/messages?limit=2&cursor=${encodeURIComponent(page1.nextCursor)}`, headers: withKey(mine.key) })).json()
  t.same(page2.items.map((m: { id: string }) => m.id), [ids[2], ids[1]])
  const page3 = (await app.inject({ url: `/api/v1/messages?limit=2&cursor=${encodeURIComponent(page2.nextCursor)}`, headers: withKey(mine.key) })).json()
  t.same(page3.items.map((m: { id: string, remainingViews: number }) => [m.id, m.remainingViews]), [[ids[0], 2]])
  t.equal(page3.nextCursor, null)

  const all = (await app.inject({ url: '/api/v1/messages', headers: withKey(theirs.key) })).json()
  t.equal(all.items.length, 1, 'another key sees only its own')

  for (const query of ['limit=0', 'limit=101', 'limit=x', 'cursor=not-a-cursor', 'other=1']) {
    t.equal((await app.inject({ url: `/api/v1/messages?${query}`, headers: withKey(mine.key) })).statusCode, 400, query)
  }
})

t.test('GET /api/v1/messages/:id reads any message by id and counts a view', async (t) => {
  const app = await build(t, { store: 'redis' })
  const { key } = await makeKey(app, ['messages:read'])
  const anon = (await app.inject({ method: 'POST', url: '/', payload: { content: 'once', maxViews: 1 } })).json()
  const res = await app.inject({ url: `/api/v1/messages/${anon.id as string}`, headers: withKey(key) })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { id: anon.id, content: 'once', encrypted: false, remainingViews: 0 })
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal((await app.inject({ url: `/api/v1/messages/${anon.id as string}`, headers: withKey(key) })).statusCode, 404, 'burned')
  t.equal((await app.inject({ url: `/msg/${anon.id as string}` })).statusCode, 404)
  t.equal((await app.inject({ url: '/api/v1/messages/AAAAAAAAAAAAAAAAAAAAAA', headers: withKey(key) })).statusCode, 404)
  t.equal((await app.inject({ url: '/api/v1/messages/short', headers: withKey(key) })).statusCode, 400)
})

t.test('DELETE /api/v1/messages/:id deletes own messages; anyone else\'s is 404 (IDOR)', async (t) => {
  const app = await build(t, { store: 'redis' })
  const owner = await makeKey(app, [...RW])
  const intruder = await makeKey(app, [...RW])
  const { id } = (await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(owner.key), payload: { content: 'private' } })).json()
  const anon = (await app.inject({ method: 'POST', url: '/', payload: { content: 'anon' } })).json()

  const stolen = await app.inject({ method: 'DELETE', url: `/api/v1/messages/${id as string}`, headers: withKey(intruder.key) })
  const unknown = await app.inject({ method: 'DELETE', url: '/api/v1/messages/AAAAAAAAAAAAAAAAAAAAAA', headers: withKey(intruder.key) })
  t.equal(stolen.statusCode, 404, 'another key\'s message: 404, never 403')
  t.same(stolen.json(), unknown.json(), 'the same answer as an unknown id')
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/messages/${anon.id as string}`, headers: withKey(intruder.key) })).statusCode, 404, 'anonymous messages have no owner')
  const intruderList = (await app.inject({ url: '/api/v1/messages', headers: withKey(intruder.key) })).json()
  t.same(intruderList.items, [], 'and it does not show in another key\'s list')

  const token = await tokenFor(app, owner.key)
  const deleted = await app.inject({ method: 'DELETE', url: `/api/v1/messages/${id as string}`, headers: withToken(token) })
  t.equal(deleted.statusCode, 204)
  t.equal(deleted.body, '')
  t.equal((await app.inject({ url: `/msg/${id as string}` })).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/messages/${id as string}`, headers: withKey(owner.key) })).statusCode, 404, 'gone')
})

t.test('each route needs its scope: 401 without a credential, 403 without the scope', async (t) => {
  const app = await build(t, { store: 'memory' })
  const { id } = (await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).json()
  const routes = [
    { method: 'POST' as const, url: '/api/v1/messages', scope: 'messages:write' as const, payload: { content: 'x' } },
    { method: 'GET' as const, url: '/api/v1/messages', scope: 'messages:read' as const },
    { method: 'GET' as const, url: `/api/v1/messages/${id as string}`, scope: 'messages:read' as const },
    { method: 'DELETE' as const, url: `/api/v1/messages/${id as string}`, scope: 'messages:delete' as const },
    { method: 'GET' as const, url: '/api/v1/keys', scope: 'keys:admin' as const },
    { method: 'GET' as const, url: '/metrics', scope: 'metrics:read' as const }
  ]
  const everythingElse = await makeKey(app, ['messages:read', 'messages:write', 'messages:delete', 'keys:admin', 'metrics:read'])
  for (const route of routes) {
    const anonymous = await app.inject({ method: route.method, url: route.url, payload: route.payload })
    t.equal(anonymous.statusCode, 401, `${route.method} ${route.url} anonymous`)
    t.match(anonymous.headers['www-authenticate'], /ApiKey realm="missive", Bearer realm="missive"/)
    t.same(Object.keys(anonymous.json()).sort(), ['code', 'error', 'message', 'statusCode'])

    const others = await makeKey(app, ['messages:read', 'messages:write', 'messages:delete', 'keys:admin', 'metrics:read'].filter((s) => s !== route.scope) as never)
    const forbidden = await app.inject({ method: route.method, url: route.url, payload: route.payload, headers: withKey(others.key) })
    t.equal(forbidden.statusCode, 403, `${route.method} ${route.url} without ${route.scope}`)
    t.equal(forbidden.json().code, 'FORBIDDEN')
    const viaToken = await app.inject({ method: route.method, url: route.url, payload: route.payload, headers: withToken(await tokenFor(app, others.key)) })
    t.equal(viaToken.statusCode, 403, `${route.method} ${route.url} token without ${route.scope}`)

    const allowed = await app.inject({ method: route.method, url: route.url, payload: route.payload, headers: withKey(everythingElse.key) })
    t.ok(allowed.statusCode < 400 || allowed.statusCode === 404, `${route.method} ${route.url} with ${route.scope}: ${allowed.statusCode}`)
  }
})
