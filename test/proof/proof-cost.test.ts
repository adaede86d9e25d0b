import t from 'tap'
import type { App } from '../../src/app.js'
import { generateSigningKey } from '../../src/auth/http-signatures/sign.js'
import { sleep, stopBackgroundWork, testRedis } from '../helper.js'
import { withKey, withToken } from '../api/api-helper.js'
import { createRequest, redisCallsDuring, send, settledBuild, signedHeaders, signedInject, signer, signingService, type SignedRequest } from './proof-helper.js'

/**
 * What proof of possession costs in store commands, on Redis (README "What it costs"): nothing
 * for a request that uses none of it, one `SET … NX` (the nonce) for a signed request once
 * warm, and no replay write for a refused signature.
 *
 * The commands of a warm plain request, observed the same way (poll stopped, warm, MONITOR) at
 * the commit before the feature (eb2ca50) and with it, are the same:
 *   API key: GET authfail:{ip} (the lockout), EVALSHA msg:{id} (the message),
 *            EVALSHA owner:{keyId}:msgs (the owner index), EVALSHA rl:api-key:<keyId> (rate limit)
 *   bearer:  MGET authfail:{ip} jwt:deny:{jti} (lockout and deny list together), then the same
 *            three EVALSHAs.
 *
 * Things run in the background and would land in a measured window by chance: the key
 * epoch poll (GET apikeys:epoch, every second), the blocks' and the policy's version polls (one
 * GET a second each) and the issuer-key refresh (every minute). The polls are stopped here (ApiKeys.close() clears its timer; the caches keep working), after the
 * setup, so that the command lists are exact; the refresh is not due within this file's run.
 */

/**
 * The rate-limit count of a warm key is kept locally and added to Redis every 100 ms (the
 * EVALSHA on rl:api-key:<keyId>; src/storage/redis/rate-limit-store.ts), not on the request's
 * path: each measured operation waits this long after its request, so that the sync of its
 * count falls inside the window every time.
 */
const SYNC_WAIT_MS = 250

const PLAIN_KEY = ['get', 'evalsha', 'evalsha', 'evalsha']
const PLAIN_BEARER = ['mget', 'evalsha', 'evalsha', 'evalsha']

const json = (credential: Record<string, string>): Record<string, string> => ({ ...credential, 'content-type': 'application/json' })

/** The first argument naming a key, for readable assertions: EVALSHA's first key, else args[1]. */
const keyOf = (call: string[]): string => (call[0] === 'evalsha' || call[0] === 'eval' ? call[3] : call[1]) ?? ''
// Sorted: the owner index's write and the limiter's sync are sent from timers of their own, so
// under load their order against each other varies; what is counted is which commands run.
const shape = (calls: string[][]): string[] => calls.map((call) => `${call[0] ?? ''} ${keyOf(call).replace(/\{[^}]*\}/, '{…}').replace(/^rl:api-key:.*/, 'rl:api-key:…')}`).sort()

const isReplayWrite = (call: string[]): boolean => call[0] === 'set' && (call.some((arg) => arg.toUpperCase() === 'NX') || (call[1] ?? '').startsWith('replay:'))
const isSigningRead = (call: string[]): boolean => call.slice(1).some((arg) => /^apikey:\{[a-z0-9]{12}\}:signing$/.test(arg))

/** The commands `operation` runs, in full and by name, from one MONITOR window. */
async function measure (t: Parameters<typeof redisCallsDuring>[0], url: string, request: () => Promise<unknown>): Promise<{ names: string[], calls: string[][] }> {
  const calls = await redisCallsDuring(t, url, async () => { await request(); await sleep(SYNC_WAIT_MS) })
  return { names: calls.map((call) => String(call[0]).toLowerCase()), calls }
}

async function ready (app: App): Promise<void> {
  // Let the setup's epoch bumps reach this instance, then stop the poll (see above).
  await sleep(1200)
  // the blocks' and the runtime policy's version polls too (issue 17), the webhook relay and queue (issue 19)
  await stopBackgroundWork(app)
}

t.test('warm plain requests cost what they did before the feature; signed ones one SET NX more', async (t) => {
  const app = await settledBuild(t, { store: 'redis', config: { AUTH_FAILURE_MAX: 1000, PENALTY_EXEMPT_IPS: '' } })
  const { url } = await testRedis()
  const svc = await signingService(app)
  const strict = await signingService(app, { requireSignature: true })
  const token = (await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(svc.key) })).json().access_token as string
  const strictToken = (await signedInject(app, { method: 'POST', url: '/api/v1/auth/token', headers: withKey(strict.key) }, signer(strict.pair))).json().access_token as string
  await ready(app)

  const plainKey = async (): Promise<unknown> => await send(app, createRequest(withKey(svc.key)), json(withKey(svc.key)))
  const plainBearer = async (): Promise<unknown> => await send(app, createRequest(withToken(token)), json(withToken(token)))
  const signedKey = async (): Promise<unknown> => await signedInject(app, createRequest(withKey(strict.key)), signer(strict.pair))
  const signedBearer = async (): Promise<unknown> => await signedInject(app, createRequest(withToken(strictToken)), signer(strict.pair))
  const signedOptional = async (): Promise<unknown> => await signedInject(app, createRequest(withKey(svc.key)), signer(svc.pair))
  // warm: verified keys, policies, tokens and client keys cached
  for (let i = 0; i < 2; i++) for (const operation of [plainKey, plainBearer, signedKey, signedBearer, signedOptional]) await operation()
  const statuses = await Promise.all([plainKey, plainBearer, signedKey, signedBearer, signedOptional].map(async (operation) => ((await operation()) as { statusCode: number }).statusCode))
  t.same(statuses, [201, 201, 201, 201, 201], 'every request works')

  const key = await measure(t, url, plainKey)
  t.same(key.names, PLAIN_KEY, `plain API key: ${key.names.join(' ')}`)
  t.same(shape(key.calls), ['get authfail:{…}', 'evalsha msg:{…}', 'evalsha owner:{…}:msgs', 'evalsha rl:api-key:…'].sort(), 'the lockout read, the message write, the owner index, the rate limit')

  const bearer = await measure(t, url, plainBearer)
  t.same(bearer.names, PLAIN_BEARER, `plain bearer: ${bearer.names.join(' ')}`)
  t.same(shape(bearer.calls), ['mget authfail:{…}', 'evalsha msg:{…}', 'evalsha owner:{…}:msgs', 'evalsha rl:api-key:…'].sort(), 'the lockout and deny-list read, then the same writes')
  t.same(bearer.calls[0]?.slice(1).map((k) => k.replace(/\{[^}]*\}/, '{…}')), ['authfail:{…}', 'jwt:deny:{…}'])

  for (const [what, calls] of [['plain API key', key.calls], ['plain bearer', bearer.calls]] as const) {
    t.notOk(calls.some(isReplayWrite), `${what}: no SET … NX (replay) command`)
    t.notOk(calls.some(isSigningRead), `${what}: no read of apikey:{…}:signing`)
    t.notOk(calls.some((call) => call.some((arg) => arg.startsWith('replay:'))), `${what}: no replay key touched`)
  }

  for (const [what, operation, plain] of [
    ['signed API key (requireSignature)', signedKey, PLAIN_KEY],
    ['signed bearer (requireSignature)', signedBearer, PLAIN_BEARER],
    ['signed API key (signature optional)', signedOptional, PLAIN_KEY]
  ] as const) {
    const signed = await measure(t, url, operation)
    t.same(signed.names, [plain[0], 'set', ...plain.slice(1)], `${what}: the plain commands and one SET (${signed.names.join(' ')})`)
    const sets = signed.calls.filter((call) => call[0] === 'set')
    t.equal(sets.length, 1, `${what}: exactly one SET`)
    t.match(sets[0], ['set', /^replay:sig:\{[A-Za-z0-9_-]{43}\}$/, '1', 'PX', /^\d+$/, 'NX'], `${what}: the nonce, SET … PX … NX`)
    // remembered at least while the signature's created (now) is not too old, at most twice that window
    const px = Number(sets[0]?.[4])
    t.ok(px >= 298_000 && px <= 2 * 300_000 + 10_000, `${what}: a TTL from about PROOF_MAX_AGE_SECONDS to twice it (${px} ms)`)
    t.notOk(signed.calls.some(isSigningRead), `${what}: the client keys come from the cache`)
    t.same(shape(signed.calls.filter((call) => call[0] !== 'set')), shape(plain === PLAIN_KEY ? key.calls : bearer.calls), `${what}: otherwise what the plain request does`)
  }
})

t.test('a refused signature writes no nonce; a cold signed request reads the client keys once', async (t) => {
  const app = await settledBuild(t, { store: 'redis', config: { AUTH_FAILURE_MAX: 1000, PENALTY_EXEMPT_IPS: '' } })
  const { url } = await testRedis()
  const svc = await signingService(app, { requireSignature: true })
  const stranger = generateSigningKey('ed25519')
  await ready(app)
  // warm
  for (let i = 0; i < 2; i++) t.equal((await signedInject(app, createRequest(withKey(svc.key)), signer(svc.pair))).statusCode, 201)

  // from another address than the requests below, whose lockout read stays a bare GET
  const refused: SignedRequest = { ...createRequest(withKey(svc.key)), remoteAddress: '198.51.100.9' }
  const refusals: Array<[string, () => Promise<{ statusCode: number }>]> = [
    ['an unregistered key', async () => await signedInject(app, refused, { jwk: stranger.privateJwk })],
    ['bytes that do not verify', async () => {
      const headers = signedHeaders(app, refused, signer(svc.pair))
      headers.signature = `sig1=:${Buffer.alloc(64, 3).toString('base64')}:`
      return await send(app, refused, headers)
    }],
    ['a stale created', async () => await signedInject(app, refused, signer(svc.pair), { created: Math.floor(Date.now() / 1000) - 3600 })],
    ['the path changed', async () => await send(app, refused, signedHeaders(app, { ...refused, url: '/api/v1/keys' }, signer(svc.pair)))],
    ['no signature at all', async () => await send(app, refused, json(withKey(svc.key)))]
  ]
  for (const [what, operation] of refusals) {
    let status = 0
    const calls = await redisCallsDuring(t, url, async () => { status = (await operation()).statusCode })
    t.equal(status, 401, `${what}: 401`)
    t.notOk(calls.some(isReplayWrite), `${what}: no replay write`)
    t.notOk(calls.some((call) => call.some((arg) => arg.startsWith('replay:'))), `${what}: no replay key touched`)
    t.notOk(calls.some(isSigningRead), `${what}: no client-key read (cached)`)
    // Issue 17: a failure is also a security event (one XADD to the feed) and an offence, whose
    // score goes to the store in a script on abuse:{<address>} (at the next sync, or at once
    // near the threshold): failure-path work, never a clean request's.
    t.equal(calls.filter((call) => call[0] === 'xadd').length, 1, `${what}: one security event`)
    const isAbuseScore = (call: string[]): boolean => (call[0] === 'evalsha' || call[0] === 'eval') && (call[3] ?? '').startsWith('abuse:{')
    const failureWork = calls.filter((call) => call[0] !== 'xadd' && !isAbuseScore(call))
    // the failure count is a script (EVAL the first time it runs on this Redis); once the address has failed, its read adds a PTTL
    t.same(failureWork.map((call) => call[0] === 'eval' ? 'evalsha' : call[0]).filter((name) => name !== 'pttl'), ['get', 'evalsha'], `${what}: the lockout read and the failure count only (${calls.map((c) => c[0]).join(' ')})`)
  }

  // The refusals' offences are sent now, so that the once-a-second score sync cannot land in
  // the windows below (it did on a loaded CI machine: one more EVALSHA on abuse:{…}).
  await app.abuse.scores.flush()

  // cold: once the client keys are forgotten (a change to the key), the next signed request reads them once
  const other = generateSigningKey('p-256')
  t.equal((await app.inject({ method: 'POST', url: `/api/v1/keys/${svc.id}/signing-keys`, headers: withKey(svc.admin.key), payload: { jwk: other.publicJwk } })).statusCode, 201)
  const cold = await redisCallsDuring(t, url, async () => { await signedInject(app, createRequest(withKey(svc.key)), signer(other)); await sleep(SYNC_WAIT_MS) })
  t.equal(cold.filter(isSigningRead).length, 1, `cold: one read of the client keys (${shape(cold).join(', ')})`)
  t.equal(cold.filter(isReplayWrite).length, 1, 'cold: one nonce')
  const warm = await redisCallsDuring(t, url, async () => { await signedInject(app, createRequest(withKey(svc.key)), signer(other)); await sleep(SYNC_WAIT_MS) })
  t.equal(warm.filter(isSigningRead).length, 0, 'warm again: no read')
  t.same(warm.map((call) => call[0]), ['get', 'set', 'evalsha', 'evalsha', 'evalsha'], 'warm again: the plain commands and the nonce')
})
