import type { Test } from 'tap'
import type { App } from '../../src/app.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { sleep } from '../helper.js'

const ORIGIN = 'https://runtime.example.com'
const POLICY = '/api/v1/security/policy'

/** Polls `check` every 50 ms until true; the ms it took, or null after `limitMs`. */
async function within (limitMs: number, check: () => Promise<boolean>): Promise<number | null> {
  const started = Date.now()
  while (Date.now() - started <= limitMs) {
    if (await check()) return Date.now() - started
    await sleep(50)
  }
  return null
}

const allowed = async (app: App): Promise<boolean> =>
  (await app.inject({ url: '/', headers: { origin: ORIGIN } })).headers['access-control-allow-origin'] === ORIGIN

/**
 * Two instances on one store: a policy PUT on `a` is in force on `a` at once and on `b`
 * within 5 s (a CORS origin added, then removed; anonymous creation closed, then reset).
 */
export async function assertPolicyReachesEveryInstance (t: Test, a: App, b: App): Promise<void> {
  const headers = withKey((await makeKey(a)).key)
  const base = { rateLimits: { windowMs: 60_000, create: 100_000, read: 100_000, api: 6000 }, maxTtlSeconds: 2_592_000, anonymousCreate: true }
  t.equal(await allowed(a), false, 'not allowed before')
  t.equal(await allowed(b), false)

  const added = await a.inject({ method: 'PUT', url: POLICY, headers, payload: { ...base, corsOrigins: [ORIGIN] } })
  t.equal(added.statusCode, 200, added.body)
  t.equal(await allowed(a), true, 'allowed on the instance that made the change at once')
  const tookAdd = await within(5000, async () => await allowed(b))
  t.ok(tookAdd !== null, `allowed on the other instance within 5 s (${tookAdd} ms)`)
  t.equal(b.policy.current().version, added.json().version)

  const removed = await a.inject({ method: 'PUT', url: POLICY, headers: { ...headers, 'if-match': added.headers.etag as string }, payload: { ...base, corsOrigins: [] } })
  t.equal(removed.statusCode, 200, removed.body)
  t.equal(await allowed(a), false, 'removed here at once')
  const tookRemove = await within(5000, async () => !await allowed(b))
  t.ok(tookRemove !== null, `removed on the other instance within 5 s (${tookRemove} ms)`)

  // A version read on b after it followed is current: b can make the next change with it.
  const seen = await b.inject({ url: POLICY, headers })
  t.equal(seen.json().version, removed.json().version)
  const closed = await b.inject({ method: 'PUT', url: POLICY, headers: { ...headers, 'if-match': seen.headers.etag as string }, payload: { ...base, corsOrigins: [], anonymousCreate: false } })
  t.equal(closed.statusCode, 200)
  const tookClose = await within(5000, async () => (await a.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode === 403)
  t.ok(tookClose !== null, `anonymous creation closed on the first instance within 5 s (${tookClose} ms)`)
  t.equal((await a.inject({ method: 'PUT', url: POLICY, headers: { ...headers, 'if-match': removed.headers.etag as string }, payload: { ...base, corsOrigins: [] } })).statusCode, 412,
    'a stale version is refused on either instance')

  t.equal((await a.inject({ method: 'DELETE', url: POLICY, headers })).statusCode, 200)
  const tookReset = await within(5000, async () => (await b.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode === 201)
  t.ok(tookReset !== null, `the reset reaches the other instance within 5 s (${tookReset} ms)`)
}
