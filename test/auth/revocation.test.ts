import t from 'tap'
import type { App } from '../../src/app.js'
import { build, sleep } from '../helper.js'
import { makeKey, tokenFor, withKey, withToken } from '../api/api-helper.js'

/** ms until `headers` get a 401 from `app`, polling; fails the test after 5 s. */
async function msUntilRefused (t: { fail: (message: string) => void }, app: App, headers: Record<string, string>): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < 5000) {
    const res = await app.inject({ url: '/api/v1/messages', headers })
    if (res.statusCode === 401) return Date.now() - started
    if (res.statusCode !== 200) t.fail(`unexpected ${res.statusCode}`)
    await sleep(50)
  }
  t.fail('still accepted after 5 s')
  return Infinity
}

async function twoInstances (t: Parameters<typeof build>[0]): Promise<[App, App]> {
  const a = await build(t, { store: 'redis' })
  const b = await build(t, { store: 'redis', flush: false })
  return [a, b]
}

t.test('a key revoked on one instance is refused by another within 5 s, with its tokens', async (t) => {
  const [a, b] = await twoInstances(t)
  const admin = await makeKey(a, ['keys:admin'])
  const target = await makeKey(a, ['messages:read'])
  const token = await tokenFor(b, target.key)
  // Both warm: b has verified the key and the token's key state is cached.
  t.equal((await b.inject({ url: '/api/v1/messages', headers: withKey(target.key) })).statusCode, 200)
  t.equal((await b.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200)

  t.equal((await a.inject({ method: 'DELETE', url: `/api/v1/keys/${target.id}`, headers: withKey(admin.key) })).statusCode, 204)
  const keyMs = await msUntilRefused(t, b, withKey(target.key))
  const tokenMs = await msUntilRefused(t, b, withToken(token))
  t.ok(keyMs < 5000 && tokenMs < 5000, `refused after ${keyMs} ms (key) and ${tokenMs} ms (token)`)
})

t.test('a rotation on one instance ends the old secret on another within 5 s', async (t) => {
  const [a, b] = await twoInstances(t)
  const admin = await makeKey(a, ['keys:admin'])
  const target = await makeKey(a, ['messages:read'])
  t.equal((await b.inject({ url: '/api/v1/messages', headers: withKey(target.key) })).statusCode, 200)
  const rotated = (await a.inject({ method: 'POST', url: `/api/v1/keys/${target.id}/rotate`, headers: withKey(admin.key) })).json()
  const ms = await msUntilRefused(t, b, withKey(target.key))
  t.ok(ms < 5000, `old secret refused after ${ms} ms`)
  t.equal((await b.inject({ url: '/api/v1/messages', headers: withKey(rotated.key) })).statusCode, 200, 'the new secret works there')
})

t.test('a revoked key cannot be used on any instance to mint new tokens', async (t) => {
  const [a, b] = await twoInstances(t)
  const target = await makeKey(a, ['messages:read'])
  t.equal((await b.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(target.key) })).statusCode, 200)
  await a.apiKeys.revoke(target.id)
  await sleep(1500)
  t.equal((await b.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(target.key) })).statusCode, 401)
})
