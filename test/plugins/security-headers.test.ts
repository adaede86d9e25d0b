import t from 'tap'
import { build, testRedis } from '../helper.js'

t.test('every response carries the security headers, errors included', async (t) => {
  const app = await build(t, { store: 'redis', config: { RATE_LIMIT_CREATE_MAX: 1 } })
  const cases = {
    '200 GET /': await app.inject('/'),
    '200 HTML page': await app.inject({ url: '/', headers: { accept: 'text/html' } }),
    '201 POST /': await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } }),
    '429 POST /': await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } }),
    '400 bad id': await app.inject('/msg/bad'),
    '404 unknown message': await app.inject('/msg/AAAAAAAAAAAAAAAAAAAAAA'),
    '404 unknown path': await app.inject('/nowhere'),
    '405 PUT /': await app.inject({ method: 'PUT', url: '/' }),
    '415 POST /': await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/xml' }, payload: '<a/>' }),
    '200 /health': await app.inject('/health')
  }
  for (const [name, res] of Object.entries(cases)) {
    const h = res.headers
    const csp = String(h['content-security-policy'])
    t.ok(csp.length > 0, `${name}: CSP`)
    t.notMatch(csp, /unsafe-inline/, `${name}: no unsafe-inline`)
    t.match(csp, /frame-ancestors 'none'/, `${name}: frame-ancestors`)
    t.match(h['strict-transport-security'], /max-age=\d+/, `${name}: HSTS`)
    t.equal(h['x-content-type-options'], 'nosniff', `${name}: nosniff`)
    t.equal(h['x-frame-options'], 'DENY', `${name}: X-Frame-Options`)
    t.equal(h['referrer-policy'], 'no-referrer', `${name}: Referrer-Policy`)
    t.equal(h['cross-origin-opener-policy'], 'same-origin', `${name}: COOP`)
    t.equal(h['cross-origin-resource-policy'], 'same-origin', `${name}: CORP`)
    t.equal(h['x-powered-by'], undefined, `${name}: no X-Powered-By`)
    t.equal(h.server, undefined, `${name}: no Server`)
    t.equal(h['cache-control'], 'no-store', `${name}: no-store`)
    t.match(h['x-request-id'], /^[0-9a-f-]{36}$/, `${name}: request id`)
  }
})

t.test('a URL Fastify cannot route (bad percent-encoding, an over-long id) gets the error body and the headers', async (t) => {
  const app = await build(t, { store: 'memory' })
  for (const url of ['/msg/%ff', '/%zz', '/msg/%', `/msg/${'a'.repeat(300)}`, `/api/v1/keys/${'a'.repeat(300)}`]) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 400, url)
    t.same(res.json(), { statusCode: 400, error: 'Bad Request', message: res.json().message, code: 'BAD_REQUEST' }, `${url}: the error body`)
    t.match(res.headers['content-type'], /^application\/json; charset=utf-8/)
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url}: security headers`)
    t.match(res.headers['content-security-policy'], /frame-ancestors 'none'/)
    t.equal(res.headers['cache-control'], 'no-store')
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  }
})

t.test('a request Node\'s parser refuses gets the error body and the headers', async (t) => {
  const app = await build(t, { store: 'memory' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const { connect } = await import('node:net')
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('FOO / HTTP/1.1\r\nHost: x\r\n\r\n'))
    let data = ''
    socket.on('data', (chunk) => { data += chunk.toString() })
    socket.on('end', () => resolve(data))
    socket.on('error', reject)
  })
  t.match(raw, /^HTTP\/1\.1 400 Bad Request/)
  t.match(raw, /X-Content-Type-Options: nosniff/)
  t.match(raw, /Content-Security-Policy: default-src 'none'/)
  const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))
  t.same(body, { statusCode: 400, error: 'Bad Request', message: 'Malformed HTTP request', code: 'BAD_REQUEST' })
})

t.test('an HTTP/1.1 request without Host gets the 400 error body and the headers (RFC 9112 §3.2)', async (t) => {
  const app = await build(t, { store: 'memory' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const { connect } = await import('node:net')
  const send = async (request: string): Promise<string> => await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request))
    let data = ''
    socket.on('data', (chunk) => { data += chunk.toString() })
    socket.on('end', () => resolve(data))
    socket.on('error', reject)
  })
  for (const path of ['/', '/msg/AAAAAAAAAAAAAAAAAAAAAA', '/health', '/nowhere']) {
    const raw = await send(`GET ${path} HTTP/1.1\r\nConnection: close\r\n\r\n`)
    t.match(raw, /^HTTP\/1\.1 400 Bad Request/, path)
    t.match(raw, /x-content-type-options: nosniff/i)
    t.match(raw, /x-request-id: [0-9a-f-]{36}/i)
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))
    t.same(body, { statusCode: 400, error: 'Bad Request', message: 'an HTTP/1.1 request must have a Host header', code: 'BAD_REQUEST' })
  }
  t.match(await send('GET / HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 OK/, 'HTTP/1.0 needs no Host')
  t.match(await send('GET / HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 OK/, 'an empty Host is allowed')
})

t.test('while the server closes: a request in flight completes, a late one is served, and both tell the client to hang up', async (t) => {
  const { buildApp } = await import('../../src/app.js')
  const { loadConfig } = await import('../../src/config.js')
  const { connect } = await import('node:net')
  const redis = await testRedis()
  const app = await buildApp(loadConfig({}, { LOG_LEVEL: 'silent', REDIS_URL: redis.url }))
  app.get('/test-slow', async () => {
    await new Promise((resolve) => setTimeout(resolve, 300))
    return { slow: true }
  })
  // A shutdown step that takes a while (draining a queue, say): connections are still open
  // meanwhile, and a keep-alive client may send a request on one.
  app.addHook('preClose', (done) => { setTimeout(done, 300) })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close() })
  const { port } = app.server.address() as { port: number }

  /** a keep-alive connection: send a request, resolve with the next answer */
  const open = async (): Promise<{ ask: (path: string) => Promise<string> }> => {
    const socket = connect(port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    t.teardown(() => socket.destroy())
    return {
      ask: async (path) => await new Promise<string>((resolve) => {
        socket.once('data', (chunk) => resolve(chunk.toString()))
        socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
      })
    }
  }
  const { id } = (await app.inject({ method: 'POST', url: '/', payload: { content: 'still here' } })).json()
  const idle = await open()
  t.match(await idle.ask('/'), /^HTTP\/1\.1 200 OK/, 'before: served, and the connection stays open')
  const busy = await open()
  const inFlight = busy.ask('/test-slow')
  await new Promise((resolve) => setTimeout(resolve, 50))
  const started = Date.now()
  const closed = app.close()
  await new Promise((resolve) => setTimeout(resolve, 50))

  // Fastify's default here was a bare JSON 503 without the security headers.
  const late = await idle.ask(`/msg/${id as string}`)
  t.match(late, /^HTTP\/1\.1 200 OK/, 'a request that arrives while closing is served, the store still open')
  t.match(late, /"content":"still here"/)
  t.match(late, /x-content-type-options: nosniff/i, 'with the security headers')
  t.match(late, /connection: close/i, 'and tells the client to hang up')

  const completed = await inFlight
  t.match(completed, /^HTTP\/1\.1 200 OK/, 'the request in flight completes')
  t.match(completed, /connection: close/i, 'and tells the client to hang up')
  await closed
  t.ok(Date.now() - started < 5000, `close() does not wait out keep-alive (${Date.now() - started} ms)`)
})
