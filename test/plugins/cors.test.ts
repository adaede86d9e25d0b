import t from 'tap'
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
  }
})

t.test('CORS_ORIGINS accepts only exact origins', async (t) => {
  const { loadConfig } = await import('../../src/config.js')
  for (const bad of ['*', 'https://app.example.com/', 'app.example.com', 'https://*.example.com']) {
    t.throws(() => loadConfig({}, { CORS_ORIGINS: bad }), /^Invalid configuration: CORS_ORIGINS/, bad)
  }
})
