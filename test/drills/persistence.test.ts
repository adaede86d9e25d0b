import t from 'tap'
import { makeKey, withKey } from '../api/api-helper.js'
import { RedisServer } from '../helpers/redis-server.js'
import { build, createMessage, sleep } from '../helper.js'

// With `appendonly yes` and `appendfsync everysec` (as docker-compose.yml runs Redis), a Redis
// killed with SIGKILL and started again keeps every write older than the fsync window. A
// write is normally in the AOF file (the kernel's page cache) before Redis replies, but while
// a background fsync is slow (a busy disk: this test failed once in CI that way) Redis may
// hold writes back for up to 2 s, so the last 2 s before a kill can be lost. The test waits
// that window out before the kill; what it checks is what the configuration promises.
t.test('appendonly yes: messages, view counts and API keys survive a Redis restart', async (t) => {
  const redis = await RedisServer.start(['--appendonly', 'yes'])
  t.teardown(async () => { await redis.destroy() })
  const config = { REDIS_URL: redis.url }
  const app = await build(t, { store: 'redis', config })

  const unlimited = await createMessage(app, { content: 'still here' })
  const counted = await createMessage(app, { content: 'three views', maxViews: 3 })
  t.equal((await app.inject(`/msg/${counted.id}`)).json().remainingViews, 2)
  const burned = await createMessage(app, { content: 'one view', maxViews: 1 })
  t.equal((await app.inject(`/msg/${burned.id}`)).statusCode, 200)
  const key = await makeKey(app, ['messages:read', 'messages:write'])
  const owned = (await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(key.key), payload: { content: 'owned' } })).json()

  await sleep(2500)
  await redis.restart()

  // The same instance reconnects by itself; poll until it does (bounded).
  let ready = 503
  for (let i = 0; i < 50 && ready !== 200; i++) {
    ready = (await app.inject('/ready')).statusCode
    if (ready !== 200) await sleep(100)
  }
  t.equal(ready, 200)
  const plain = await app.inject({ url: `/msg/${unlimited.id}`, headers: { accept: 'text/plain' } })
  t.same([plain.statusCode, plain.body], [200, 'still here'])
  const views = (await app.inject(`/msg/${counted.id}`)).json()
  t.same([views.content, views.remainingViews], ['three views', 1], 'the view count went on from where it was')
  t.equal((await app.inject(`/msg/${burned.id}`)).statusCode, 404, 'a burned message stays burned')

  // A fresh instance (no caches) sees the key and its messages from the reloaded AOF.
  const fresh = await build(t, { store: 'redis', flush: false, config })
  const listed = await fresh.inject({ url: '/api/v1/messages', headers: withKey(key.key) })
  t.equal(listed.statusCode, 200, 'the API key survived')
  t.same(listed.json().items.map((item: { id: string }) => item.id), [owned.id])
  t.equal((await fresh.inject({ method: 'DELETE', url: `/msg/${unlimited.id}`, headers: { 'x-delete-token': unlimited.deleteToken } })).statusCode, 204, 'the delete token hash survived')
})
