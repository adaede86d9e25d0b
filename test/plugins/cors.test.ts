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
