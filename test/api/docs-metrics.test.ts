import t from 'tap'
import { build } from '../helper.js'
import { makeKey, tokenFor, withKey, withToken } from './api-helper.js'

t.test('GET /metrics is Prometheus text for metrics:read only', async (t) => {
  const app = await build(t, { store: 'memory' })
  const reader = await makeKey(app, ['metrics:read'])
  const other = await makeKey(app, ['messages:read'])
  await app.inject({ url: '/api/v1/messages', headers: withKey(other.key) })

  t.equal((await app.inject({ url: '/metrics' })).statusCode, 401)
  t.equal((await app.inject({ url: '/metrics', headers: withKey(other.key) })).statusCode, 403)
  for (const headers of [withKey(reader.key), withToken(await tokenFor(app, reader.key))]) {
    const res = await app.inject({ url: '/metrics', headers })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
    t.match(res.body, /# TYPE process_cpu_user_seconds_total counter/)
    t.match(res.body, /http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/messages"[^}]*\} \d+/)
    t.notMatch(res.body, /msk_/)
  }
  t.equal((await app.inject({ method: 'POST', url: '/metrics', headers: withKey(reader.key) })).statusCode, 405)
})

t.test('the request-duration histogram counts requests per route, method and status class', async (t) => {
  const app = await build(t, { store: 'memory' })
  const reader = await makeKey(app, ['metrics:read'])
  const { id } = (await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).json()
  await app.inject(`/msg/${id}`)
  await app.inject(`/msg/${id}`)
  await app.inject('/msg/AAAAAAAAAAAAAAAAAAAAAA')
  await app.inject('/msg/not-an-id')
  await app.inject('/no/such/path/one')
  await app.inject('/no/such/path/two')
  await app.inject({ url: '/metrics', headers: withKey(reader.key) })
  const body = (await app.inject({ url: '/metrics', headers: withKey(reader.key) })).body
  const count = (labels: string): number => Number(new RegExp(`^http_request_duration_seconds_count\\{${labels}\\} (\\d+)$`, 'm').exec(body)?.[1] ?? 0)
  t.equal(count('method="POST",route="/",status_code="2xx"'), 1)
  t.equal(count('method="GET",route="/msg/:id",status_code="2xx"'), 2, 'by the route, not the URL')
  t.equal(count('method="GET",route="/msg/:id",status_code="4xx"'), 2, '404 and 400 share the 4xx class')
  t.match(body, /^http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/msg\/:id",status_code="2xx"\} \d+$/m, 'with buckets')
  t.notMatch(body, /no\/such\/path/, 'unknown paths add no labels')
  t.notMatch(body, /route="\/metrics"/, 'scrapes are not counted')
})

t.test('two apps in one process keep separate metrics', async (t) => {
  await build(t, { store: 'memory' })
  const second = await build(t, { store: 'memory' })
  t.ok(second.metricsRegistry)
})

t.test('GET /docs/json is the OpenAPI 3 document of every route, with both security schemes', async (t) => {
  const app = await build(t, { store: 'memory' })
  const res = await app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.match(doc.openapi, /^3\./)
  t.same(doc.components.securitySchemes.apiKey, { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'msk_<keyId>_<secret>' })
  t.match(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  const expected: Array<[string, string]> = [
    ['/api/v1/auth/token', 'post'], ['/api/v1/auth/revoke', 'post'],
    ['/api/v1/messages', 'post'], ['/api/v1/messages', 'get'], ['/api/v1/messages/{id}', 'get'], ['/api/v1/messages/{id}', 'delete'],
    ['/api/v1/keys', 'post'], ['/api/v1/keys', 'get'], ['/api/v1/keys/{id}', 'get'], ['/api/v1/keys/{id}', 'patch'], ['/api/v1/keys/{id}', 'delete'], ['/api/v1/keys/{id}/rotate', 'post'],
    ['/metrics', 'get'], ['/', 'post'], ['/', 'get'], ['/msg/{id}', 'get'], ['/msg/{id}', 'delete'], ['/health', 'get'], ['/ready', 'get']
  ]
  for (const [path, method] of expected) {
    const operation = doc.paths[path]?.[method]
    t.ok(operation, `${method.toUpperCase()} ${path} is documented`)
    t.ok(operation?.responses?.['500'], `${method.toUpperCase()} ${path} documents 500`)
    t.ok(operation?.responses?.['400'], `${method.toUpperCase()} ${path} documents 400 (any route: no Host)`)
    if (path.startsWith('/api/') || path === '/metrics') {
      t.ok(operation?.security?.length > 0, `${method.toUpperCase()} ${path} names its credentials`)
      t.ok(operation?.responses?.['401'], `${method.toUpperCase()} ${path} documents 401`)
      // Credentials are security schemes, not header parameters of their own.
      const headers = (operation?.parameters ?? []).filter((p: { in: string }) => p.in === 'header').map((p: { name: string }) => p.name.toLowerCase())
      t.same(headers.filter((name: string) => name === 'x-api-key' || name === 'authorization'), [], `${method.toUpperCase()} ${path}: no credential header parameters`)
    }
  }
  // A body sent with any method is parsed (and limited) before the route runs.
  for (const [path, method] of [['/msg/{id}', 'delete'], ['/api/v1/messages/{id}', 'delete'], ['/api/v1/keys/{id}', 'delete'], ['/api/v1/auth/token', 'post'], ['/api/v1/auth/revoke', 'post']] as const) {
    t.ok(doc.paths[path][method].responses['413'], `${method.toUpperCase()} ${path} documents 413`)
  }
  t.ok(doc.paths['/api/v1/auth/revoke'].post.responses['507'], 'a revocation is a write: 507 when the store is full')
  t.same(doc.paths['/api/v1/auth/token'].post.security, [{ apiKey: [] }])
  t.same(doc.paths['/api/v1/auth/revoke'].post.security, [{ bearerAuth: [] }])
  t.ok(doc.paths['/api/v1/keys'].post.requestBody, 'request bodies are documented')
})

t.test('GET /docs is the UI, with the security headers', async (t) => {
  const app = await build(t, { store: 'memory' })
  const res = await app.inject({ url: '/docs' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/html/)
  t.notMatch(res.headers['content-security-policy'], /unsafe-inline/)
  t.equal(res.headers['x-frame-options'], 'DENY')
})
