import t from 'tap'
import { RedisServer } from '../helpers/redis-server.js'
import { formatKey, newSecret } from '../../src/api-keys.js'
import { build, createMessage } from '../helper.js'
import { makeKey, withKey } from '../api/api-helper.js'

// Redis as compose runs it (maxmemory, noeviction), made tiny so it fills in a second.
t.test('storage full: creates get 507 with the standard body; what was stored stays readable', async (t) => {
  const redis = await RedisServer.start(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'])
  t.teardown(async () => { await redis.destroy() })
  const app = await build(t, { store: 'redis', config: { REDIS_URL: redis.url, MESSAGE_MAX_BYTES: 65536, AUTH_FAILURE_MAX: 2 } })
  const { id: keyId, key } = await makeKey(app, ['messages:read'])

  const unlimited = await createMessage(app, { content: 'kept, unlimited views' })
  const counted = await createMessage(app, { content: 'kept, three views', maxViews: 3 })
  const once = await createMessage(app, { content: 'kept, one view', maxViews: 1 })
  t.equal((await app.inject(`/msg/${counted.id}`)).json().remainingViews, 2)

  const big = 'x'.repeat(60_000)
  let full = null
  let stored = 0
  for (let i = 0; i < 200 && full === null; i++) {
    const res = await app.inject({ method: 'POST', url: '/', payload: { content: big, maxViews: i % 2 === 0 ? 5 : undefined } })
    if (res.statusCode === 201) stored++
    else full = res
  }
  t.ok(full !== null, `refused after ${stored} large messages`)
  if (full === null) return
  t.equal(full.statusCode, 507)
  t.same(full.json(), { statusCode: 507, error: 'Insufficient Storage', message: 'The message store is full, try again later', code: 'INSUFFICIENT_STORAGE' })
  t.notMatch(full.body, /redis|OOM|maxmemory/i, 'the store is not named')
  // A refused 60 KB write frees its buffer, so small messages still fit for a while: fill
  // those too, until Redis is at its limit for any write.
  const small = 'y'.repeat(1000)
  let smallRefused = 0
  for (let i = 0; i < 3000 && smallRefused === 0; i++) {
    const res = await app.inject({ method: 'POST', url: '/', payload: { content: small, maxViews: i % 2 === 0 ? 2 : undefined } })
    if (res.statusCode === 507) smallRefused++
    else t.equal(res.statusCode, 201, 'only 201 or 507')
  }
  t.equal(smallRefused, 1, 'small creates are refused once the store is at its limit')

  const plain = await app.inject({ url: `/msg/${unlimited.id}`, headers: { accept: 'text/plain' } })
  t.same([plain.statusCode, plain.body], [200, 'kept, unlimited views'])
  const views = await app.inject(`/msg/${counted.id}`)
  t.same([views.statusCode, views.json().content, views.json().remainingViews], [200, 'kept, three views', 1], 'a counted view still works while full')
  const last = await app.inject(`/msg/${once.id}`)
  t.same([last.statusCode, last.json().remainingViews], [200, 0], 'the last view is served (and frees its keys)')
  t.equal((await app.inject(`/msg/${once.id}`)).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: `/msg/${unlimited.id}`, headers: { 'x-delete-token': unlimited.deleteToken } })).statusCode, 204, 'deleting works while full')
  const wrongKey = withKey(formatKey(keyId, newSecret()))
  const failures = []
  for (let i = 0; i < 3; i++) failures.push((await app.inject({ url: '/api/v1/messages', headers: wrongKey, remoteAddress: '203.0.113.9' })).statusCode)
  t.same(failures, [401, 401, 429], 'a wrong credential is still a 401, and still counted, while full')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(key) })).statusCode, 200, 'a valid key still works while full')
  t.equal((await app.inject('/ready')).statusCode, 200, 'a full store still answers')
  t.equal((await app.inject('/health')).statusCode, 200)
})
