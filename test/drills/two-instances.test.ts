import t from 'tap'
import { makeKey, withKey } from '../api/api-helper.js'
import { build } from '../helper.js'

// Already covered elsewhere, not repeated here: messages and rate-limit counters shared by two
// instances (test/plugins/rate-limit.test.ts) and two processes (test/server.test.ts); key
// revocation, rotation and JWT revocation seen by the other instance within 5 s
// (test/auth/revocation.test.ts, test/api/auth.test.ts). What remains: the /api/v1 data a
// service writes through one instance is the same through any other.
t.test('two instances: a key made on one works on the other; owned messages listed and deleted across them', async (t) => {
  const a = await build(t, { store: 'redis' })
  const b = await build(t, { store: 'redis', flush: false })
  const admin = await makeKey(a, ['keys:admin'])
  const made = await a.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(admin.key), payload: { name: 'svc', scopes: ['messages:read', 'messages:write', 'messages:delete'] } })
  t.equal(made.statusCode, 201)
  const { key } = made.json()

  const ids: string[] = []
  for (const app of [a, b, a]) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(key), payload: { content: 'owned', maxViews: 2 } })
    t.equal(res.statusCode, 201)
    ids.push(res.json().id)
  }
  const listedOnB = (await b.inject({ url: '/api/v1/messages', headers: withKey(key) })).json()
  t.same(listedOnB.items.map((item: { id: string }) => item.id), [...ids].reverse(), 'b lists what a and b created')

  t.equal((await b.inject({ url: `/api/v1/messages/${ids[0]}`, headers: withKey(key) })).json().remainingViews, 1, 'a view on b')
  t.equal((await a.inject({ method: 'DELETE', url: `/api/v1/messages/${ids[1]}`, headers: withKey(key) })).statusCode, 204, 'made on b, deleted on a')
  const listedOnA = (await a.inject({ url: '/api/v1/messages', headers: withKey(key) })).json()
  t.same(listedOnA.items.map((item: { id: string; remainingViews: number }) => [item.id, item.remainingViews]), [[ids[2], 2], [ids[0], 1]])
  t.equal((await b.inject({ url: `/api/v1/messages/${ids[1]}`, headers: withKey(key) })).statusCode, 404)

  const keysOnB = (await b.inject({ url: '/api/v1/keys', headers: withKey(admin.key) })).json()
  t.equal(keysOnB.items.length, 2, 'the key list is the same on b')
})
