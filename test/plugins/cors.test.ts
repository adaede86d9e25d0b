import t from 'tap'
import type { PolicySnapshot } from '../../src/abuse/policy.js'
import { build } from '../helper.js'

const allowed = 'https://app.example.com'
const refused = 'https://evil.example.net'

t.test('CORS: only listed origins get Access-Control-* headers', async (t) => {
  const app = await build(t, { store: 'memory', config: { CORS_ORIGINS: `${allowed}, https://other.example.org` } })
  const preflight = (origin: string) => app.inject({
    method: 'OPTIONS',
    url: '/',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' }
  })

  const ok = await preflight(allowed)
  t.equal(ok.statusCode, 204)
  t.equal(ok.headers['access-control-allow-origin'], allowed)
  t.match(ok.headers['access-control-allow-methods'], /POST/)
  t.match(ok.headers['access-control-allow-headers'], /Content-Type/i)
  t.equal(ok.headers['access-control-allow-credentials'], undefined, 'never credentials')
  t.match(ok.headers.vary, /Origin/)

  const no = await preflight(refused)
  t.notOk(Object.keys(no.headers).some((h) => h.startsWith('access-control-')), 'refused preflight: no Access-Control-* header')
  t.match(no.headers.vary, /Origin/)

  const simpleOk = await app.inject({ url: '/', headers: { origin: allowed } })
  t.equal(simpleOk.headers['access-control-allow-origin'], allowed)
  t.match(simpleOk.headers['access-control-expose-headers'], /Location/)
  t.match(simpleOk.headers.vary, /Origin/)
  // the runtime policy from a browser: PUT with If-Match, and the ETag to send back
  t.match(ok.headers['access-control-allow-methods'], /\bPUT\b/)
  t.match(ok.headers['access-control-allow-headers'], /\bIf-Match\b/i)
  t.match(ok.headers['access-control-allow-headers'], /\bX-Read-Token\b/i, 'a key-gated read from another origin')
  t.match(simpleOk.headers['access-control-expose-headers'], /\bETag\b/)

  const simpleNo = await app.inject({ url: '/', headers: { origin: refused } })
  t.equal(simpleNo.statusCode, 200, 'the request itself is served; the browser withholds it')
  t.notOk(Object.keys(simpleNo.headers).some((h) => h.startsWith('access-control-')))

  const errorOk = await app.inject({ url: '/msg/AAAAAAAAAAAAAAAAAAAAAA', headers: { origin: allowed } })
  t.equal(errorOk.statusCode, 404)
  t.equal(errorOk.headers['access-control-allow-origin'], allowed, 'errors readable by allowed origins too')
})

t.test('CORS: a URL Fastify cannot decode gets the same CORS headers as any error', async (t) => {
  const app = await build(t, { store: 'memory', config: { CORS_ORIGINS: allowed } })
  const cors = (headers: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('access-control-') || name === 'vary'))
  for (const origin of [allowed, refused]) {
    const notFound = await app.inject({ url: '/nowhere', headers: { origin } })
    for (const url of ['/msg/%ff', `/msg/${'a'.repeat(300)}`]) {
      const malformed = await app.inject({ url, headers: { origin } })
      t.equal(malformed.statusCode, 400, url)
      t.same(cors(malformed.headers), cors(notFound.headers), `${origin} ${url}: as on a 404`)
    }
  }
  const readable = await app.inject({ url: '/msg/%ff', headers: { origin: allowed } })
  t.equal(readable.headers['access-control-allow-origin'], allowed, 'an allowed origin can read the 400')
})

t.test('CORS preflights: 204 with Allow on a known path, the 404 error on an unknown one', async (t) => {
  const app = await build(t, { store: 'memory', config: { CORS_ORIGINS: allowed } })
  const options = async (url: string, headers: Record<string, string>) => await app.inject({ method: 'OPTIONS', url, headers })
  const preflight = { origin: allowed, 'access-control-request-method': 'POST' }

  const known = await options('/msg/AAAAAAAAAAAAAAAAAAAAAA', { ...preflight, 'access-control-request-method': 'DELETE' })
  t.equal(known.statusCode, 204)
  t.equal(known.headers.allow, 'DELETE, GET, OPTIONS')
  t.equal(known.headers['access-control-allow-origin'], allowed)
  t.match(known.headers['access-control-allow-methods'], /DELETE/)

  for (const url of ['/nope', '/msg/AAAAAAAAAAAAAAAAAAAAAA/extra', '/api/v1/nothing']) {
    const unknown = await options(url, preflight)
    t.equal(unknown.statusCode, 404, `${url}: 404`)
    t.same(unknown.json(), { statusCode: 404, error: 'Not Found', message: 'Route not found', code: 'NOT_FOUND' })
    t.equal(unknown.headers['x-content-type-options'], 'nosniff', 'with the security headers')
    t.equal(unknown.headers['access-control-allow-origin'], allowed, 'readable by the listed origin')
  }

  // OPTIONS from a listed origin without Access-Control-Request-Method is a plain OPTIONS,
  // not the plugin's text/plain "Invalid Preflight Request".
  const plain = await options('/', { origin: allowed })
  t.equal(plain.statusCode, 204)
  t.match(plain.headers.allow, /POST/)
  t.equal(plain.body, '')
  const plainUnknown = await options('/nope', { origin: allowed })
  t.equal(plainUnknown.statusCode, 404)
  t.equal(plainUnknown.json().statusCode, 404)

  const refusedUnknown = await options('/nope', { ...preflight, origin: refused })
  t.equal(refusedUnknown.statusCode, 404)
  t.notOk(Object.keys(refusedUnknown.headers).some((h) => h.startsWith('access-control-')))
})

t.test('CORS: with CORS_ORIGINS empty nobody gets them, and * never appears', async (t) => {
  const app = await build(t, { store: 'memory' })
  for (const origin of [allowed, 'null', '*']) {
    const res = await app.inject({ method: 'OPTIONS', url: '/', headers: { origin, 'access-control-request-method': 'POST' } })
    t.notOk(Object.keys(res.headers).some((h) => h.startsWith('access-control-')), origin)
    const get = await app.inject({ url: '/', headers: { origin } })
    t.notOk(Object.keys(get.headers).some((h) => h.startsWith('access-control-')), origin)
    t.notMatch(String(get.headers.vary ?? ''), /origin/i, `${origin}: nothing varies by origin`)
    t.notMatch(String(res.headers.vary ?? ''), /origin/i, `${origin}: not the preflight either`)
  }
})

t.test('CORS_ORIGINS accepts exact origins and one-label subdomain wildcards, nothing looser', async (t) => {
  const { loadConfig } = await import('../../src/config.js')
  for (const bad of ['*', 'null', 'https://app.example.com/', 'app.example.com', 'https://*.com', 'https://*.co.uk', 'https://a*.example.com', 'https://*.example.com/']) {
    t.throws(() => loadConfig({}, { CORS_ORIGINS: bad }), /^Invalid configuration: CORS_ORIGINS/, bad)
  }
  t.same(loadConfig({}, { CORS_ORIGINS: 'https://*.example.com' }).corsOrigins, ['https://*.example.com'])
})

const accessControl = (headers: Record<string, unknown>): string[] => Object.keys(headers).filter((h) => h.startsWith('access-control-'))
const variesByOrigin = (headers: Record<string, unknown>): boolean => /(^|,)\s*origin\s*(,|$)/i.test(String(headers.vary ?? ''))

t.test('CORS wildcards: one label of the domain gets the headers, look-alikes none', async (t) => {
  const app = await build(t, { store: 'memory', config: { CORS_ORIGINS: 'https://*.example.com' } })
  const origin = 'https://app.example.com'

  const preflight = await app.inject({ method: 'OPTIONS', url: '/', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], origin, 'the origin itself, never the pattern or *')
  t.match(preflight.headers['access-control-allow-methods'], /POST/)
  t.match(preflight.headers['access-control-allow-headers'], /Content-Type/i)
  t.equal(preflight.headers['access-control-max-age'], '600')
  t.equal(preflight.headers['access-control-allow-credentials'], undefined, 'never credentials')
  t.ok(variesByOrigin(preflight.headers))

  const simple = await app.inject({ url: '/', headers: { origin } })
  t.equal(simple.statusCode, 200)
  t.equal(simple.headers['access-control-allow-origin'], origin)
  t.match(simple.headers['access-control-expose-headers'], /Location/)
  t.equal(simple.headers['access-control-allow-credentials'], undefined, 'never credentials')
  t.ok(variesByOrigin(simple.headers))

  const malformed = await app.inject({ url: '/msg/%ff', headers: { origin } })
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.headers['access-control-allow-origin'], origin, 'the answer no hook sees uses the same matcher')

  for (const lookAlike of ['https://example.com', 'https://a.b.example.com', 'http://app.example.com', 'https://app.example.com:8443',
    'https://example.com.evil.net', 'https://app.example.com.evil.net', 'https://evilexample.com', 'https://app.example.com.', 'https://APP.example.com', 'null']) {
    const no = await app.inject({ method: 'OPTIONS', url: '/', headers: { origin: lookAlike, 'access-control-request-method': 'POST' } })
    t.same(accessControl(no.headers), [], `${lookAlike}: no Access-Control-* header on a preflight`)
    t.ok(variesByOrigin(no.headers), `${lookAlike}: Vary: Origin`)
    const get = await app.inject({ url: '/', headers: { origin: lookAlike } })
    t.same(accessControl(get.headers), [], `${lookAlike}: none on a simple request`)
    const bad = await app.inject({ url: '/msg/%ff', headers: { origin: lookAlike } })
    t.same(accessControl(bad.headers), [], `${lookAlike}: none on the answer no hook sees`)
  }
})

t.test('CORS follows the runtime policy: an origin allowed, then refused, without a restart', async (t) => {
  const app = await build(t, { store: 'memory' })
  const original = app.policy.current()
  const current = app.policy.current.bind(app.policy)
  t.teardown(() => { app.policy.current = current })
  let inForce = original
  app.policy.current = () => inForce
  const withOrigins = (version: string, corsOrigins: string[]): PolicySnapshot => Object.freeze({ ...original, version, corsOrigins: Object.freeze(corsOrigins) })
  const origin = 'https://app.example.com'
  const get = async () => await app.inject({ url: '/', headers: { origin } })
  const preflight = async () => await app.inject({ method: 'OPTIONS', url: '/', headers: { origin, 'access-control-request-method': 'POST' } })

  const before = await get()
  t.same(accessControl(before.headers), [], 'the environment lists nobody')
  t.notOk(variesByOrigin(before.headers), 'and nothing varies by origin')

  inForce = withOrigins('v1', ['https://*.example.com'])
  const allowed = await get()
  t.equal(allowed.headers['access-control-allow-origin'], origin, 'allowed once the policy lists it')
  t.ok(variesByOrigin(allowed.headers))
  t.equal((await preflight()).headers['access-control-allow-origin'], origin)
  t.equal((await app.inject({ url: '/msg/%ff', headers: { origin } })).headers['access-control-allow-origin'], origin, 'outside the hooks too')

  inForce = withOrigins('v2', ['https://other.example.org'])
  const refused = await get()
  t.same(accessControl(refused.headers), [], 'refused once the policy no longer lists it')
  t.ok(variesByOrigin(refused.headers), 'Vary: Origin while the list is not empty')
  t.same(accessControl((await preflight()).headers), [])
  t.same(accessControl((await app.inject({ url: '/msg/%ff', headers: { origin } })).headers), [])
  t.equal((await app.inject({ url: '/', headers: { origin: 'https://other.example.org' } })).headers['access-control-allow-origin'], 'https://other.example.org')

  inForce = original
  const after = await get()
  t.same(accessControl(after.headers), [], 'back to the environment: nobody')
  t.notOk(variesByOrigin(after.headers), 'and no Vary: Origin')
})

t.test('CORS compiles each policy snapshot once, not per request', async (t) => {
  const app = await build(t, { store: 'memory' })
  const original = app.policy.current()
  const current = app.policy.current.bind(app.policy)
  t.teardown(() => { app.policy.current = current })
  const reads = { a: 0, b: 0 }
  const counted = (name: 'a' | 'b', corsOrigins: readonly string[]): PolicySnapshot => Object.freeze({
    ...original,
    version: name,
    get corsOrigins () { reads[name]++; return corsOrigins }
  })
  const a = counted('a', Object.freeze(['https://*.example.com']))
  const b = counted('b', Object.freeze(['https://*.example.org']))
  let inForce = a
  app.policy.current = () => inForce
  for (let i = 0; i < 6; i++) {
    inForce = i % 2 === 0 ? a : b
    const res = await app.inject({ url: '/', headers: { origin: 'https://x.example.com' } })
    t.equal(res.headers['access-control-allow-origin'], inForce === a ? 'https://x.example.com' : undefined)
  }
  t.same(reads, { a: 1, b: 1 }, 'each snapshot\'s list read once, however often it comes back')
})

t.test('CORS fails closed on a policy snapshot with an invalid origin', async (t) => {
  const logs: string[] = []
  const app = await build(t, { store: 'memory', logs })
  const original = app.policy.current()
  const current = app.policy.current.bind(app.policy)
  t.teardown(() => { app.policy.current = current })
  const broken: PolicySnapshot = Object.freeze({ ...original, version: 'broken', corsOrigins: Object.freeze(['https://app.example.com', '*']) })
  app.policy.current = () => broken
  for (const origin of ['https://app.example.com', 'https://evil.example.net']) {
    const res = await app.inject({ url: '/', headers: { origin } })
    t.equal(res.statusCode, 200, 'requests are still served')
    t.same(accessControl(res.headers), [], `${origin}: no Access-Control-* header`)
  }
  t.equal(logs.filter((line) => line.includes('invalid CORS origin')).length, 1, 'logged once for the snapshot')
})
