import t, { type Test } from 'tap'
import { main as keyTool } from '../../scripts/keys.js'
import type { App } from '../../src/app.js'
import type { ConfigOverrides } from '../../src/config.js'
import { makeKey, tokenFor, withKey, withToken } from '../api/api-helper.js'
import { assertExactViewsUnderRace, build, createMessage, sleep } from '../helper.js'
import { testCluster } from './cluster.js'

// The whole service on a real 3-master Redis Cluster (REDIS_CLUSTER_NODES), through the
// production app factory: every route that touches the store, on keys spread over all masters.

async function onCluster (t: Test, config: ConfigOverrides = {}, flush = true): Promise<App> {
  const cluster = await testCluster()
  if (flush) await cluster.flushAll()
  return await build(t, { store: 'redis', config: { REDIS_CLUSTER_NODES: cluster.nodes, ...config } })
}

t.test('create, read, delete', async (t) => {
  const app = await onCluster(t)
  const created = await app.inject({ method: 'POST', url: '/', payload: { content: 'on a cluster' } })
  t.equal(created.statusCode, 201)
  const { id, deleteToken } = created.json()
  const read = await app.inject(`/msg/${id}`)
  t.same([read.statusCode, read.json().content, read.json().remainingViews], [200, 'on a cluster', null])
  t.equal((await app.inject({ method: 'DELETE', url: `/msg/${id}`, headers: { 'x-delete-token': 'x'.repeat(43) } })).statusCode, 404, 'wrong token')
  t.equal((await app.inject({ method: 'DELETE', url: `/msg/${id}`, headers: { 'x-delete-token': deleteToken } })).statusCode, 204)
  t.equal((await app.inject(`/msg/${id}`)).statusCode, 404)

  // Many messages, so their keys land on every master.
  const many = await Promise.all(Array.from({ length: 30 }, async (_, i) => await createMessage(app, { content: `m${i}` })))
  const reads = await Promise.all(many.map(async ({ id }) => await app.inject({ url: `/msg/${id}`, headers: { accept: 'text/plain' } })))
  t.same(reads.map((r) => r.body), many.map((_, i) => `m${i}`))
})

t.test('maxViews: exactly N reads succeed under 50 racing readers', async (t) => {
  const app = await onCluster(t)
  await assertExactViewsUnderRace(t, app)
})

t.test('rate limit: 429 from counters in the cluster, shared by two instances', async (t) => {
  const config = { RATE_LIMIT_CREATE_MAX: 4 }
  const a = await onCluster(t, config)
  const b = await onCluster(t, config, false)
  const codes = []
  for (const app of [a, b, a, b, a, b]) codes.push((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode)
  t.same(codes, [201, 201, 201, 201, 429, 429])
  const limited = await a.inject({ method: 'POST', url: '/', payload: { content: 'x' } })
  t.same(Object.keys(limited.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.ok(Number(limited.headers['retry-after']) > 0)
})

t.test('/ready: 200 while the cluster answers, 503 fast while it is down, 200 again within 5 s of its return', async (t) => {
  const app = await onCluster(t)
  const { id } = await createMessage(app, { content: 'before the outage' })
  t.same([(await app.inject('/ready')).statusCode, (await app.inject('/ready')).json()], [200, { status: 'ready' }])

  const cluster = await testCluster()
  await cluster.stop()
  for (const request of [{ url: '/ready' }, { url: `/msg/${id}` }, { method: 'POST' as const, url: '/', payload: { content: 'during' } }]) {
    const started = Date.now()
    const res = await app.inject(request)
    t.equal(res.statusCode, 503, `${request.url} while the cluster is down`)
    t.ok(Date.now() - started < 2000, `answered in ${Date.now() - started} ms`)
    t.equal(res.json().code, 'SERVICE_UNAVAILABLE')
  }

  for (const server of cluster.servers) await server.start()
  const back = Date.now()
  let ready = 503
  while (Date.now() - back < 5000 && ready !== 200) {
    await sleep(100)
    ready = (await app.inject('/ready')).statusCode
  }
  t.equal(ready, 200, `ready again ${Date.now() - back} ms after the cluster returned`)
  await cluster.waitUntilOk(5000)
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'after' } })).statusCode, 201)
})

t.test('/api/v1: a key from the key store, create and list own messages, revoke', async (t) => {
  const app = await onCluster(t)
  const admin = await makeKey(app, ['keys:admin'])
  const made = await app.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(admin.key), payload: { name: 'svc', scopes: ['messages:read', 'messages:write'] } })
  t.equal(made.statusCode, 201)
  const { id: keyId, key } = made.json()
  const ids: string[] = []
  for (let i = 0; i < 25; i++) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(key), payload: { content: `api ${i}`, maxViews: 3 } })
    t.equal(res.statusCode, 201)
    t.equal(res.json().owner, keyId)
    ids.push(res.json().id)
  }
  const token = await tokenFor(app, key)
  const first = await app.inject({ url: '/api/v1/messages?limit=20', headers: withToken(token) })
  t.equal(first.statusCode, 200)
  const second = await app.inject({ url: `/api/v1/messages?limit=20&cursor=${encodeURIComponent(first.json().nextCursor)}`, headers: withToken(token) })
  const listed = [...first.json().items, ...second.json().items].map((item: { id: string }) => item.id)
  t.same(listed, [...ids].reverse(), 'newest first, across pages, messages from every master')
  t.equal(second.json().nextCursor, null)

  const keys = await app.inject({ url: '/api/v1/keys', headers: withKey(admin.key) })
  t.same(keys.json().items.map((k: { id: string }) => k.id).sort(), [admin.id, keyId].sort())
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/keys/${keyId}`, headers: withKey(admin.key) })).statusCode, 204)
  let status = 200
  for (let waited = 0; waited < 5000 && status !== 401; waited += 100) {
    status = (await app.inject({ url: '/api/v1/messages', headers: withKey(key) })).statusCode
    if (status !== 401) await sleep(100)
  }
  t.equal(status, 401, 'the revoked key is refused')
})

t.test('the key tool makes the first admin key on the cluster', async (t) => {
  const app = await onCluster(t)
  const out: string[] = []
  const err: string[] = []
  const code = await keyTool(['create', '--name', 'first admin', '--scopes', 'keys:admin'], { REDIS_CLUSTER_NODES: (await testCluster()).nodes }, { out: (line) => out.push(line), err: (line) => err.push(line) })
  t.equal(code, 0, err.join('\n'))
  const { key } = JSON.parse(out[0] ?? '{}')
  t.equal((await app.inject({ url: '/api/v1/keys', headers: withKey(key) })).statusCode, 200)
})

t.test('OAuth on a cluster: one issuer key for two instances, tokens from either work on both, revocation too', async (t) => {
  const [a, b] = await Promise.all([onCluster(t), (async () => { await sleep(1); return await onCluster(t, {}, false) })()])
  const jwksA = (await a.inject('/.well-known/jwks.json')).json().keys
  t.equal(jwksA.length, 1, 'one key')
  t.same((await b.inject('/.well-known/jwks.json')).json().keys, jwksA, 'the same on both')
  const { id, key } = await makeKey(a, ['messages:read'])
  const basic = `Basic ${Buffer.from(`${id}:${key}`).toString('base64')}`
  const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic }
  const issued = await b.inject({ method: 'POST', url: '/oauth/token', headers: form, payload: 'grant_type=client_credentials' })
  t.equal(issued.statusCode, 200)
  const token = issued.json().access_token as string
  for (const app of [a, b]) t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200)
  t.same((await a.inject({ method: 'POST', url: '/oauth/introspect', headers: form, payload: `token=${token}` })).json().active, true)
  t.equal((await a.inject({ method: 'POST', url: '/oauth/revoke', headers: form, payload: `token=${token}` })).statusCode, 200)
  for (const app of [a, b]) t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 401, 'revoked everywhere')
})
