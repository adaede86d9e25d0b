import t from 'tap'
import { makeKey, withKey } from '../api/api-helper.js'
import { build } from '../helper.js'
import { assertPolicyReachesEveryInstance } from './two-instances.js'

t.test('two instances on one Redis: a change reaches the other within 5 s', async (t) => {
  const a = await build(t, { store: 'redis' })
  const b = await build(t, { store: 'redis', flush: false })
  await assertPolicyReachesEveryInstance(t, a, b)
})

t.test('an instance started after a change starts with it', async (t) => {
  const a = await build(t, { store: 'redis' })
  const headers = withKey((await makeKey(a)).key)
  const put = await a.inject({
    method: 'PUT',
    url: '/api/v1/security/policy',
    headers,
    payload: { corsOrigins: [], rateLimits: { windowMs: 60_000, create: 7, read: 100_000, api: 6000 }, maxTtlSeconds: 2_592_000, anonymousCreate: false }
  })
  t.equal(put.statusCode, 200)
  const b = await build(t, { store: 'redis', flush: false })
  t.equal(b.policy.current().version, put.json().version, 'read when the app is ready, before it serves')
  t.equal((await b.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode, 403)
})
