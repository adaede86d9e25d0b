import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { makeKey, withKey } from '../api/api-helper.js'
import { build, createMessage } from '../helper.js'

/**
 * Receipts over HTTP (API.md sections 1 and 2, issue 19): GET /msg/:id/receipt with the
 * creator's delete token, GET /api/v1/messages/:id/receipt for the owner. Neither counts a
 * view; a wrong token, another key and an unknown id get the same 404. (The store rules, racing
 * readers and retention included, are in test/storage/message-store.contract.ts on memory,
 * Redis and the Cluster.)
 */

const notFound = { statusCode: 404, error: 'Not Found', message: 'Message not found', code: 'NOT_FOUND' }
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: the creator's receipt follows a message from live to burned, and asking counts no view`, async (t) => {
    const app = await build(t, { store })
    const created = await createMessage(app, { content: 'receipted', maxViews: 2 })
    const receipt = async (token: string | undefined = created.deleteToken): Promise<LightMyRequestResponse> =>
      await app.inject({ url: `/msg/${created.id}/receipt`, headers: token === undefined ? {} : { 'x-delete-token': token } })

    const fresh = await receipt()
    t.equal(fresh.statusCode, 200)
    t.equal(fresh.headers['cache-control'], 'no-store')
    t.same(fresh.json(), {
      id: created.id,
      state: 'live',
      createdAt: created.createdAt,
      expiresAt: created.expiresAt,
      maxViews: 2,
      views: 0,
      firstViewedAt: null,
      lastViewedAt: null,
      endedAt: null
    })
    for (let i = 0; i < 3; i++) await receipt()

    const first = await app.inject(`/msg/${created.id}`)
    t.equal(first.json().remainingViews, 1, 'four receipts later, both views are still there')
    const once = (await receipt()).json()
    t.match(once, { state: 'live', views: 1, firstViewedAt: ISO, endedAt: null })
    t.equal(once.lastViewedAt, once.firstViewedAt)

    t.equal((await app.inject(`/msg/${created.id}`)).statusCode, 200)
    const burned = (await receipt()).json()
    t.match(burned, { state: 'burned', views: 2, firstViewedAt: once.firstViewedAt, lastViewedAt: ISO, endedAt: ISO })
    t.equal(burned.endedAt, burned.lastViewedAt)
    t.equal((await app.inject(`/msg/${created.id}`)).statusCode, 404, 'the message itself is gone')
    t.equal((await receipt()).statusCode, 200, 'its receipt is not')
  })

  t.test(`${store}: a wrong, empty or missing delete token and an unknown id get the same 404`, async (t) => {
    const app = await build(t, { store })
    const created = await createMessage(app, { content: 'receipted' })
    const other = await createMessage(app, { content: 'another' })
    for (const headers of [{}, { 'x-delete-token': '' }, { 'x-delete-token': 'wrong' }, { 'x-delete-token': other.deleteToken }, { 'x-delete-token': 'x'.repeat(5000) }]) {
      const res = await app.inject({ url: `/msg/${created.id}/receipt`, headers })
      t.equal(res.statusCode, 404, JSON.stringify(headers).slice(0, 40))
      t.same(res.json(), notFound)
    }
    const unknown = await app.inject({ url: '/msg/AAAAAAAAAAAAAAAAAAAAAA/receipt', headers: { 'x-delete-token': created.deleteToken } })
    t.equal(unknown.statusCode, 404)
    t.same(unknown.json(), notFound)
    t.equal((await app.inject('/msg/not-an-id/receipt')).statusCode < 500, true, 'a malformed id is a 4xx')
  })

  t.test(`${store}: a deleted message's receipt says deleted, with the views it had`, async (t) => {
    const app = await build(t, { store })
    const created = await createMessage(app, { content: 'to delete' })
    await app.inject(`/msg/${created.id}`)
    const del = await app.inject({ method: 'DELETE', url: `/msg/${created.id}`, headers: { 'x-delete-token': created.deleteToken } })
    t.equal(del.statusCode, 204)
    const res = await app.inject({ url: `/msg/${created.id}/receipt`, headers: { 'x-delete-token': created.deleteToken } })
    t.match(res.json(), { state: 'deleted', views: 1, maxViews: null, endedAt: ISO })
  })

  t.test(`${store}: the owner's receipt: only the owner sees it, with messages:read`, async (t) => {
    const app = await build(t, { store })
    const owner = withKey((await makeKey(app, ['messages:read', 'messages:write', 'messages:delete'])).key)
    const stranger = withKey((await makeKey(app, ['messages:read', 'messages:write'])).key)
    const writeOnly = withKey((await makeKey(app, ['messages:write'])).key)
    const created = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: owner, payload: { content: 'owned', maxViews: 3 } })
    const { id, deleteToken } = created.json()
    await app.inject({ url: `/api/v1/messages/${id}`, headers: stranger })

    const mine = await app.inject({ url: `/api/v1/messages/${id}/receipt`, headers: owner })
    t.equal(mine.statusCode, 200)
    t.match(mine.json(), { id, state: 'live', views: 1, maxViews: 3 })
    const theirs = await app.inject({ url: `/api/v1/messages/${id}/receipt`, headers: stranger })
    t.equal(theirs.statusCode, 404, 'another key, even one that read it')
    t.same(theirs.json(), notFound)
    t.equal((await app.inject({ url: `/api/v1/messages/${id}/receipt`, headers: writeOnly })).statusCode, 403)
    t.equal((await app.inject({ url: `/api/v1/messages/${id}/receipt` })).statusCode, 401)
    t.same((await app.inject({ url: '/api/v1/messages/AAAAAAAAAAAAAAAAAAAAAA/receipt', headers: owner })).json(), notFound)
    t.equal((await app.inject({ url: `/msg/${id}/receipt`, headers: { 'x-delete-token': deleteToken } })).json().views, 1, 'the creator\'s token works for an owned message too')

    await app.inject({ method: 'DELETE', url: `/api/v1/messages/${id}`, headers: owner })
    t.match((await app.inject({ url: `/api/v1/messages/${id}/receipt`, headers: owner })).json(), { state: 'deleted', views: 1 })
    const anonymous = await createMessage(app, { content: 'anonymous' })
    t.equal((await app.inject({ url: `/api/v1/messages/${anonymous.id}/receipt`, headers: owner })).statusCode, 404, 'an anonymous message has no owner')
  })

  t.test(`${store}: RECEIPT_RETENTION_SECONDS=0 keeps no receipts`, async (t) => {
    const app = await build(t, { store, config: { RECEIPT_RETENTION_SECONDS: 0 } })
    const created = await createMessage(app, { content: 'no receipt', maxViews: 2 })
    t.equal((await app.inject(`/msg/${created.id}`)).json().remainingViews, 1)
    const res = await app.inject({ url: `/msg/${created.id}/receipt`, headers: { 'x-delete-token': created.deleteToken } })
    t.equal(res.statusCode, 404)
    t.same(res.json(), notFound)
  })
}

t.test('other methods on /msg/:id/receipt get 405 with Allow; the route is in /docs/json', async (t) => {
  const app = await build(t)
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'] as const) {
    const res = await app.inject({ method, url: '/msg/AAAAAAAAAAAAAAAAAAAAAA/receipt' })
    t.equal(res.statusCode, 405, method)
    t.match(res.headers.allow, /GET/)
  }
  const docs = (await app.inject('/docs/json')).json()
  t.ok(docs.paths['/msg/{id}/receipt']?.get, 'GET /msg/{id}/receipt')
  t.ok(docs.paths['/api/v1/messages/{id}/receipt']?.get, 'GET /api/v1/messages/{id}/receipt')
  t.ok(docs.paths['/msg/{id}/receipt'].get.responses['200'], 'its 200 schema')
})

t.test('a receipt read is rate-limited like a read', async (t) => {
  const app = await build(t, { config: { RATE_LIMIT_READ_MAX: 2 } })
  const created = await createMessage(app, { content: 'limited' })
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await app.inject({ url: `/msg/${created.id}/receipt`, headers: { 'x-delete-token': created.deleteToken } })).statusCode)
  t.same(statuses, [200, 200, 429])
})
