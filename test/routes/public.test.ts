import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { messageKey } from '../../src/storage/redis/keys.js'
import { assertExactViewsUnderRace, build, createMessage, testRedis } from '../helper.js'

const ID = /^[A-Za-z0-9_-]{22}$/
const ERROR_KEYS = ['code', 'error', 'message', 'statusCode']

function isErrorBody (t: Test, body: Record<string, unknown>, statusCode: number): void {
  t.equal(body.statusCode, statusCode)
  t.type(body.error, 'string')
  t.type(body.message, 'string')
  t.ok(Object.keys(body).every((key) => ERROR_KEYS.includes(key)), `only the error keys: ${Object.keys(body).join(',')}`)
  if (body.code !== undefined) t.match(body.code, /^[A-Z][A-Z0-9_]*$/)
}

t.test('GET /', async (t) => {
  const app = await build(t, { store: 'redis' })
  const json = await app.inject('/')
  t.equal(json.statusCode, 200)
  t.match(json.headers['content-type'], /^application\/json/)
  t.same(json.json(), { name: 'missive', version: '0.1.0', docs: '/docs' })

  const html = await app.inject({ url: '/', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } })
  t.equal(html.statusCode, 200)
  t.match(html.headers['content-type'], /^text\/html; charset=utf-8/)
  t.match(html.body, /<!doctype html>/i)
  t.notMatch(html.body, /<script>[^<]/, 'no inline script')
  t.match(html.headers.vary, /Accept/)
})

t.test('POST / (JSON) → 201, Location, the documented body', async (t) => {
  const app = await build(t, { store: 'redis' })
  const before = Date.now()
  const res = await app.inject({ method: 'POST', url: '/', payload: { content: 'hello', ttl: 120, maxViews: 2 } })
  t.equal(res.statusCode, 201)
  const body = res.json()
  t.match(body.id, ID)
  t.equal(res.headers.location, `/msg/${body.id}`)
  t.equal(body.url, `/msg/${body.id}`)
  t.equal(body.maxViews, 2)
  t.ok(body.deleteToken.length >= 32)
  t.match(body.deleteToken, /^[A-Za-z0-9_-]+$/)
  const createdAt = Date.parse(body.createdAt)
  t.ok(createdAt >= before - 1 && createdAt <= Date.now() + 1)
  t.equal(Date.parse(body.expiresAt) - createdAt, 120_000)
  t.same(Object.keys(body).sort(), ['createdAt', 'deleteToken', 'expiresAt', 'id', 'maxViews', 'url'])
})

t.test('defaults: TTL from MESSAGE_DEFAULT_TTL_SECONDS, unlimited views', async (t) => {
  const app = await build(t, { store: 'redis', config: { MESSAGE_DEFAULT_TTL_SECONDS: 600 } })
  const body = await createMessage(app, { content: 'x' })
  t.equal(Date.parse(body.expiresAt as string) - Date.parse(body.createdAt as string), 600_000)
  t.equal(body.maxViews, null)
})

t.test('JSON content must be UTF-8: invalid bytes and lone surrogates are a 400, never replaced', async (t) => {
  const app = await build(t, { store: 'memory' })
  const json = { 'content-type': 'application/json' }
  for (const bytes of [Buffer.from('{"content":"\xff\xfe"}', 'latin1'), Buffer.from('{"content":"a\xc0\xafb"}', 'latin1')]) {
    const res = await app.inject({ method: 'POST', url: '/', headers: json, payload: bytes })
    t.equal(res.statusCode, 400, bytes.toString('hex'))
    t.same(res.json(), { statusCode: 400, error: 'Bad Request', message: 'the body must be valid UTF-8', code: 'INVALID_BODY' })
  }
  const surrogate = await app.inject({ method: 'POST', url: '/', headers: json, payload: '{"content":"a\\ud800b"}' })
  t.equal(surrogate.statusCode, 400)
  t.equal(surrogate.json().message, 'content must be valid UTF-8')
  const text = 'é ✓ 😀 \u2028'
  const created = await app.inject({ method: 'POST', url: '/', headers: json, payload: Buffer.from(JSON.stringify({ content: text }), 'utf8') })
  t.equal(created.statusCode, 201, 'valid UTF-8, astral characters included')
  const read = await app.inject({ url: `/msg/${created.json().id as string}`, headers: { accept: 'text/plain' } })
  t.same(read.rawPayload, Buffer.from(text, 'utf8'), 'byte for byte')
  const poisoned = await app.inject({ method: 'POST', url: '/', headers: json, payload: '{"content":"x","__proto__":{"a":1}}' })
  t.equal(poisoned.statusCode, 400, 'prototype poisoning is still refused')
  // The body is valid JSON: the message says what is refused, not that it is malformed.
  const message = 'the body must not contain "__proto__" or "constructor.prototype" keys'
  t.same(poisoned.json(), { statusCode: 400, error: 'Bad Request', message, code: 'INVALID_BODY' })
  const constructor = await app.inject({ method: 'POST', url: '/', headers: json, payload: '{"content":"x","constructor":{"prototype":{"a":1}}}' })
  t.same(constructor.json(), { statusCode: 400, error: 'Bad Request', message, code: 'INVALID_BODY' })
  const malformed = await app.inject({ method: 'POST', url: '/', headers: json, payload: '{"content":"x",' })
  t.equal(malformed.json().message, "Body is not valid JSON but content-type is set to 'application/json'")
})

t.test('a read shows the times the create gave', async (t) => {
  const app = await build(t, { store: 'memory' })
  const created = (await app.inject({ method: 'POST', url: '/', payload: { content: 'x', ttl: 120 } })).json()
  const read = (await app.inject(`/msg/${created.id}`)).json()
  t.equal(read.createdAt, created.createdAt)
  t.equal(read.expiresAt, created.expiresAt)
  t.equal(Date.parse(read.expiresAt) - Date.parse(read.createdAt), 120_000)
})

t.test('ids are random, 128-bit, never sequential', async (t) => {
  const app = await build(t, { store: 'redis' })
  const ids = await Promise.all(Array.from({ length: 40 }, async () => (await createMessage(app, { content: 'same content' })).id))
  t.equal(new Set(ids).size, 40)
  for (const id of ids) t.equal(Buffer.from(id, 'base64url').length, 16)
})

t.test('POST / with text/plain: the raw body is the content, options from the query', async (t) => {
  const app = await build(t, { store: 'redis' })
  const content = 'line 1\nline 2 ✓ {"not":"json"}'
  const res = await app.inject({ method: 'POST', url: '/?ttl=60&maxViews=1', headers: { 'content-type': 'text/plain; charset=utf-8' }, payload: content })
  t.equal(res.statusCode, 201)
  const { id, maxViews, createdAt, expiresAt } = res.json()
  t.equal(maxViews, 1)
  t.equal(Date.parse(expiresAt) - Date.parse(createdAt), 60_000)
  const read = await app.inject({ url: `/msg/${id}`, headers: { accept: 'text/plain' } })
  t.equal(read.body, content)
})

t.test('GET /msg/:id: JSON, text/plain and HTML', async (t) => {
  const app = await build(t, { store: 'redis' })
  const { id } = await createMessage(app, { content: 'a secret', maxViews: 3, encrypted: true })

  const page = await app.inject({ url: `/msg/${id}`, headers: { accept: 'text/html' } })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.notMatch(page.body, /a secret/, 'the page does not contain the message')
  t.equal(page.headers['cache-control'], 'no-store')

  const json = await app.inject(`/msg/${id}`)
  t.equal(json.statusCode, 200)
  t.equal(json.headers['cache-control'], 'no-store')
  const body = json.json()
  t.same(Object.keys(body).sort(), ['content', 'createdAt', 'encrypted', 'expiresAt', 'id', 'remainingViews'])
  t.match(body, { id, content: 'a secret', encrypted: true, remainingViews: 2 }, 'the HTML page did not count as a view')

  const text = await app.inject({ url: `/msg/${id}`, headers: { accept: 'text/plain' } })
  t.equal(text.statusCode, 200)
  t.equal(text.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(text.headers['cache-control'], 'no-store')
  t.equal(text.body, 'a secret')

  const any = await app.inject({ url: `/msg/${id}`, headers: { accept: '*/*' } })
  t.equal(any.statusCode, 200)
  t.equal(any.json().remainingViews, 0, 'the third read used the last view')
  t.equal((await app.inject(`/msg/${id}`)).statusCode, 404, 'and the message is gone')
})

t.test('content is stored and returned byte for byte', async (t) => {
  const app = await build(t, { store: 'redis' })
  const tricky = '<script>alert(1)</script> \u0000 \u2028 "quotes" \\ 😀 é\r\n{{id}} $' + '{x}'
  const { id } = await createMessage(app, { content: tricky })
  t.equal((await app.inject(`/msg/${id}`)).json().content, tricky)
  t.equal((await app.inject({ url: `/msg/${id}`, headers: { accept: 'text/plain' } })).body, tricky)
})

t.test('maxViews: exactly N reads succeed under 50 racing readers (real Redis)', async (t) => {
  const app = await build(t, { store: 'redis' })
  await assertExactViewsUnderRace(t, app)
})

t.test('404 is the same for unknown, burned, deleted and expired', async (t) => {
  const app = await build(t, { store: 'redis' })
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => { redis.disconnect() })

  const unknown = await app.inject('/msg/AAAAAAAAAAAAAAAAAAAAAA')
  const burned = await createMessage(app, { content: 'x', maxViews: 1 })
  await app.inject(`/msg/${burned.id}`)
  const burnedRead = await app.inject(`/msg/${burned.id}`)
  const deleted = await createMessage(app, { content: 'x' })
  await app.inject({ method: 'DELETE', url: `/msg/${deleted.id}`, headers: { 'x-delete-token': deleted.deleteToken } })
  const deletedRead = await app.inject(`/msg/${deleted.id}`)
  const expired = await createMessage(app, { content: 'x', ttl: 60 })
  await redis.pexpire(messageKey(expired.id), 1)
  await new Promise((resolve) => setTimeout(resolve, 20))
  const expiredRead = await app.inject(`/msg/${expired.id}`)

  for (const res of [unknown, burnedRead, deletedRead, expiredRead]) {
    t.equal(res.statusCode, 404)
    t.same(res.json(), { statusCode: 404, error: 'Not Found', message: 'Message not found', code: 'NOT_FOUND' })
    t.equal(res.headers['cache-control'], 'no-store')
  }
  t.same(
    [unknown, burnedRead, deletedRead, expiredRead].map((r) => ({ ...r.headers, date: '', 'x-request-id': '', 'x-ratelimit-remaining': '', 'x-ratelimit-reset': '' })),
    Array(4).fill({ ...unknown.headers, date: '', 'x-request-id': '', 'x-ratelimit-remaining': '', 'x-ratelimit-reset': '' }),
    'the headers do not tell them apart either'
  )
})

t.test('a malformed id gets 400', async (t) => {
  const app = await build(t, { store: 'redis' })
  for (const id of ['short', 'A'.repeat(23), 'AAAAAAAAAAAAAAAAAAAA%2F', "AAAAAAAAAAAAAAAAAAAA'!"]) {
    const res = await app.inject(`/msg/${id}`)
    t.equal(res.statusCode, 400, id)
    isErrorBody(t, res.json(), 400)
  }
})

t.test('DELETE /msg/:id', async (t) => {
  const app = await build(t, { store: 'redis' })
  const { id, deleteToken } = await createMessage(app, { content: 'bye' })
  const notFound = { statusCode: 404, error: 'Not Found', message: 'Message not found', code: 'NOT_FOUND' }

  for (const headers of [{}, { 'x-delete-token': '' }, { 'x-delete-token': 'wrong' }, { 'x-delete-token': deleteToken.slice(0, -1) + (deleteToken.endsWith('A') ? 'B' : 'A') }]) {
    const res = await app.inject({ method: 'DELETE', url: `/msg/${id}`, headers })
    t.equal(res.statusCode, 404, `token ${JSON.stringify(headers)}`)
    t.same(res.json(), notFound)
  }
  t.equal((await app.inject(`/msg/${id}`)).statusCode, 200, 'refused deletes removed nothing')

  const ok = await app.inject({ method: 'DELETE', url: `/msg/${id}`, headers: { 'x-delete-token': deleteToken } })
  t.equal(ok.statusCode, 204)
  t.equal(ok.body, '')
  t.equal((await app.inject(`/msg/${id}`)).statusCode, 404)
  const again = await app.inject({ method: 'DELETE', url: `/msg/${id}`, headers: { 'x-delete-token': deleteToken } })
  t.same([again.statusCode, again.json()], [404, notFound])
})

t.test('only a hash of the delete token is stored', async (t) => {
  const app = await build(t, { store: 'redis' })
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => { redis.disconnect() })
  const { id, deleteToken } = await createMessage(app, { content: 'x' })
  const stored = await redis.get(messageKey(id))
  t.ok(stored)
  t.notMatch(stored, deleteToken)
})

t.test('400: bad bodies, each with the error body and nothing stored', async (t) => {
  const app = await build(t, { store: 'redis' })
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => { redis.disconnect() })
  const json = { 'content-type': 'application/json' }
  const cases: Array<[string, string | object, Record<string, string>, string?]> = [
    ['missing content', { ttl: 60 }, json],
    ['empty content', { content: '' }, json],
    ['content not a string', { content: 42 }, json],
    ['ttl below 60', { content: 'x', ttl: 59 }, json],
    ['ttl above the maximum', { content: 'x', ttl: 2592001 }, json],
    ['ttl not an integer', { content: 'x', ttl: 60.5 }, json],
    ['maxViews 0', { content: 'x', maxViews: 0 }, json],
    ['maxViews 1001', { content: 'x', maxViews: 1001 }, json],
    ['encrypted not a boolean', { content: 'x', encrypted: 'yes' }, json],
    ['unknown property', { content: 'x', burn: true }, json],
    ['malformed JSON', '{"content": "x",', json],
    ['empty JSON body', '', json],
    ['a JSON array', '[1,2]', json],
    ['__proto__', '{"content":"x","__proto__":{"admin":true}}', json],
    ['constructor.prototype', '{"content":"x","constructor":{"prototype":{"admin":true}}}', json],
    ['options in the query with a JSON body', { content: 'x' }, json, '/?ttl=60'],
    ['empty text/plain body', '', { 'content-type': 'text/plain' }],
    ['text/plain with ttl out of range', 'x', { 'content-type': 'text/plain' }, '/?ttl=5'],
    ['text/plain with an unknown query option', 'x', { 'content-type': 'text/plain' }, '/?burn=1'],
    ['no content type and no body', '', {}]
  ]
  for (const [name, payload, headers, url] of cases) {
    const res = await app.inject({ method: 'POST', url: url ?? '/', headers, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) })
    t.equal(res.statusCode, 400, name)
    isErrorBody(t, res.json(), 400)
    t.notMatch(res.body, /node_modules|at .*\(|\.ts:|redis/i, `${name}: no stack, path or store name`)
  }
  t.same(await redis.keys('msg:*'), [], 'nothing was stored')
})

t.test('validation messages say what is wrong', async (t) => {
  const app = await build(t, { store: 'redis' })
  const unknown = await app.inject({ method: 'POST', url: '/', payload: { content: 'x', burn: true } })
  t.match(unknown.json().message, /unknown property "burn"/)
  const ttl = await app.inject({ method: 'POST', url: '/', payload: { content: 'x', ttl: 10 } })
  t.match(ttl.json().message, /ttl/)
})

t.test('text/plain content must be valid UTF-8', async (t) => {
  const app = await build(t, { store: 'redis' })
  const res = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'text/plain' }, payload: Buffer.from([0x68, 0xff, 0xfe, 0x69]) })
  t.equal(res.statusCode, 400)
  t.match(res.json(), { code: 'VALIDATION_ERROR', message: /UTF-8/ })
})

t.test('413: content over MESSAGE_MAX_BYTES, counted in bytes of UTF-8', async (t) => {
  const app = await build(t, { store: 'redis', config: { MESSAGE_MAX_BYTES: 100 } })
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'a'.repeat(100) } })).statusCode, 201, 'exactly the limit')
  t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'é'.repeat(50) } })).statusCode, 201, '50 two-byte characters')
  for (const [name, payload, type] of [
    ['JSON, ASCII', JSON.stringify({ content: 'a'.repeat(101) }), 'application/json'],
    ['JSON, multi-byte', JSON.stringify({ content: 'é'.repeat(51) }), 'application/json'],
    ['JSON, far over the body limit', JSON.stringify({ content: 'a'.repeat(10_000) }), 'application/json'],
    ['text/plain', 'a'.repeat(101), 'text/plain']
  ]) {
    const res = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': type as string }, payload: payload as string })
    t.equal(res.statusCode, 413, name as string)
    isErrorBody(t, res.json(), 413)
  }
})

t.test('415: unsupported content types', async (t) => {
  const app = await build(t, { store: 'redis' })
  for (const type of ['application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const res = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': type }, payload: 'content=x' })
    t.equal(res.statusCode, 415, type)
    isErrorBody(t, res.json(), 415)
  }
})

t.test('415: a body must be UTF-8 and uncompressed, whatever its type; nothing is stored', async (t) => {
  const app = await build(t, { store: 'redis' })
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => redis.disconnect())
  const before = await redis.keys('msg:*')
  const utf16 = (text: string): Buffer => Buffer.from(text, 'utf16le')
  const cases: Array<[string, Record<string, string>, string | Buffer, RegExp]> = [
    ['gzip JSON', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, '{"content":"x"}', /Content-Encoding gzip is not supported/],
    ['br text', { 'content-type': 'text/plain', 'content-encoding': 'br' }, 'x', /Content-Encoding br is not supported/],
    ['two codings', { 'content-type': 'text/plain', 'content-encoding': 'identity, deflate' }, 'x', /Content-Encoding identity, deflate is not supported/],
    ['UTF-16 JSON', { 'content-type': 'application/json; charset=utf-16' }, utf16('{"content":"hi"}'), /charset utf-16 is not supported/],
    ['UTF-16 text', { 'content-type': 'text/plain; charset=UTF-16LE' }, utf16('hi'), /charset UTF-16LE is not supported/],
    ['Latin-1 text, quoted', { 'content-type': 'text/plain; format=flowed; charset="iso-8859-1"' }, 'hi', /charset iso-8859-1 is not supported/]
  ]
  for (const [name, headers, payload, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/', headers, payload })
    t.equal(res.statusCode, 415, name)
    isErrorBody(t, res.json(), 415)
    t.match(res.json(), { code: 'UNSUPPORTED_MEDIA_TYPE', message }, name)
    if (headers['content-encoding'] !== undefined) t.equal(res.headers['accept-encoding'], 'identity', `${name}: says which coding is accepted (RFC 7694)`)
  }
  t.same(await redis.keys('msg:*'), before, 'nothing was stored')

  for (const [name, headers] of [
    ['identity', { 'content-type': 'text/plain', 'content-encoding': 'identity' }],
    ['utf8 spelled without the dash', { 'content-type': 'text/plain; charset=utf8' }],
    ['UTF-8 in capitals, quoted', { 'content-type': 'application/json; charset="UTF-8"' }],
    ['"charset=" only inside another parameter\'s quoted value', { 'content-type': 'text/plain; note="a;charset=utf-16"' }]
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/', headers, payload: headers['content-type'].startsWith('text') ? 'hi' : '{"content":"hi"}' })
    t.equal(res.statusCode, 201, name)
  }
})

t.test('405 with Allow on / and /msg/:id; 404 elsewhere', async (t) => {
  const app = await build(t, { store: 'redis' })
  const id = 'AAAAAAAAAAAAAAAAAAAAAA'
  for (const [method, url, allow] of [
    ['PUT', '/', 'GET, HEAD, OPTIONS, POST'],
    ['PATCH', '/', 'GET, HEAD, OPTIONS, POST'],
    ['DELETE', '/', 'GET, HEAD, OPTIONS, POST'],
    ['POST', `/msg/${id}`, 'DELETE, GET, OPTIONS'],
    ['PUT', `/msg/${id}`, 'DELETE, GET, OPTIONS'],
    ['PATCH', `/msg/${id}`, 'DELETE, GET, OPTIONS'],
    ['HEAD', `/msg/${id}`, 'DELETE, GET, OPTIONS']
  ] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 405, `${method} ${url}`)
    t.equal(res.headers.allow, allow)
    if (method !== 'HEAD') isErrorBody(t, res.json(), 405)
  }
  const options = await app.inject({ method: 'OPTIONS', url: `/msg/${id}` })
  t.equal(options.statusCode, 204)
  t.equal(options.headers.allow, 'DELETE, GET, OPTIONS')
  const head = await app.inject({ method: 'HEAD', url: '/' })
  t.equal(head.statusCode, 200)

  for (const url of ['/nope', '/msg', `/msg/${id}/extra`, '/MSG/' + id]) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 404, url)
    isErrorBody(t, res.json(), 404)
  }
})

t.test('a wrong method or an unknown path is answered before its body is read', async (t) => {
  const app = await build(t, { config: { RATE_LIMIT_READ_MAX: 3 } })
  const ip = { remoteAddress: '198.51.100.60' }
  const brokenJson = { 'content-type': 'application/json' }
  const putBroken = await app.inject({ method: 'PUT', url: '/', headers: brokenJson, payload: '{"content":', ...ip })
  t.equal(putBroken.statusCode, 405, 'PUT / with broken JSON: the method is what is wrong')
  t.equal(putBroken.headers.allow, 'GET, HEAD, OPTIONS, POST')
  isErrorBody(t, putBroken.json(), 405)
  const huge = await app.inject({ method: 'PATCH', url: '/msg/AAAAAAAAAAAAAAAAAAAAAA', headers: { 'content-type': 'text/plain' }, payload: 'x'.repeat(2 * 1024 * 1024), ...ip })
  t.equal(huge.statusCode, 405, 'a 2 MB body on a wrong method: 405, not 413')
  const unknown = await app.inject({ method: 'POST', url: '/nope', headers: brokenJson, payload: '{', ...ip })
  t.equal(unknown.statusCode, 404, 'broken JSON to an unknown path: 404, not 400')
  isErrorBody(t, unknown.json(), 404)
  const limited = await app.inject({ method: 'PUT', url: '/', headers: brokenJson, payload: '{', ...ip })
  t.equal(limited.statusCode, 429, 'each counts against the read budget')
  t.equal(limited.headers['retry-after'] !== undefined, true)
})

t.test('the web page offers only the lifetimes the server accepts', async (t) => {
  const ttlOptions = (html: string): Array<[string, string]> => {
    const select = /<select id="ttl"[^>]*>([\s\S]*?)<\/select>/.exec(html)?.[1] ?? ''
    return [...select.matchAll(/<option value="(\d+)"( selected)?>([^<]+)<\/option>/g)].map((m) => [m[1] as string, `${m[3] as string}${m[2] ?? ''}`])
  }
  for (const [max, expected] of [
    [2592000, [['600', '10 minutes'], ['3600', '1 hour'], ['86400', '1 day selected'], ['604800', '7 days']]],
    [7200, [['600', '10 minutes'], ['3600', '1 hour'], ['7200', '2 hours selected']]],
    [172800, [['600', '10 minutes'], ['3600', '1 hour'], ['86400', '1 day selected'], ['172800', '2 days']]],
    [300, [['300', '5 minutes selected']]]
  ] as const) {
    const app = await build(t, { store: 'memory', config: { MESSAGE_MAX_TTL_SECONDS: max, MESSAGE_DEFAULT_TTL_SECONDS: Math.min(max, 86400) } })
    const html = (await app.inject({ url: '/', headers: { accept: 'text/html' } })).body
    t.same(ttlOptions(html), expected, `MESSAGE_MAX_TTL_SECONDS=${max}`)
    for (const [ttl] of ttlOptions(html)) {
      const res = await app.inject({ method: 'POST', url: '/', payload: { content: 'x', ttl: Number(ttl) } })
      t.equal(res.statusCode, 201, `max ${max}: the ${ttl} s option is accepted`)
    }
  }
})
