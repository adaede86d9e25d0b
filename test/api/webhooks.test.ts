import { Redis } from 'ioredis'
import t from 'tap'
import type { Scope } from '../../src/api-keys.js'
import { webhookEndpointsKey } from '../../src/storage/redis/keys.js'
import { build, testRedis } from '../helper.js'
import { wholeFeed } from '../events/events-helper.js'
import { makeKey, tokenFor, withKey, withToken } from './api-helper.js'

// Webhook endpoints (API.md section 9), as a service sees them over HTTP.

const ENDPOINT_FIELDS = ['createdAt', 'description', 'disabledAt', 'events', 'id', 'url']
const ISSUED_FIELDS = [...ENDPOINT_FIELDS, 'secret'].sort()
const SECRET = /^whsec_[A-Za-z0-9+/]{43}=$/
const UNKNOWN_ID = 'wh_AAAAAAAAAAAAAAAAAAAAAA'
const ENCRYPTION_KEY = Buffer.alloc(32, 42).toString('base64')
const body = { url: 'https://hooks.example.com/missive', events: ['message.viewed', 'message.burned'], description: 'billing' }

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: register, list, get, rotate, deliveries, delete`, async (t) => {
    const app = await build(t, { store })
    const writer = await makeKey(app, ['messages:write'])

    const created = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(writer.key), payload: body })
    t.equal(created.statusCode, 201, created.body)
    const endpoint = created.json()
    t.same(Object.keys(endpoint).sort(), ISSUED_FIELDS)
    t.match(endpoint, { id: /^wh_[A-Za-z0-9_-]{22}$/, url: body.url, events: body.events, description: 'billing', secret: SECRET, disabledAt: null })
    t.ok(Math.abs(Date.parse(endpoint.createdAt) - Date.now()) < 10_000, 'createdAt is now')
    t.equal(created.headers.location, `/api/v1/webhooks/${endpoint.id as string}`)
    t.match(created.headers['content-type'], /^application\/json/)

    const listed = await app.inject({ url: '/api/v1/webhooks', headers: withKey(writer.key) })
    t.equal(listed.statusCode, 200)
    const { secret, ...shown } = endpoint
    t.same(listed.json(), { items: [shown] }, 'listed without the secret')
    const one = await app.inject({ url: `/api/v1/webhooks/${endpoint.id as string}`, headers: withKey(writer.key) })
    t.equal(one.statusCode, 200)
    t.same(one.json(), shown)
    for (const res of [listed, one]) t.notOk(res.body.includes((secret as string).slice(6)), 'the secret is shown once')

    const rotated = await app.inject({ method: 'POST', url: `/api/v1/webhooks/${endpoint.id as string}/rotate-secret`, headers: withKey(writer.key) })
    t.equal(rotated.statusCode, 200, rotated.body)
    t.same(Object.keys(rotated.json()).sort(), ISSUED_FIELDS)
    t.match(rotated.json(), { ...shown, secret: SECRET })
    t.not(rotated.json().secret, secret, 'a new secret')
    const stored = await app.webhookEndpoints.find(writer.id, endpoint.id)
    t.same(app.webhookEndpoints.signingSecrets(stored!), [rotated.json().secret, secret], 'both sign for now')
    t.equal((await app.inject({ method: 'POST', url: `/api/v1/webhooks/${endpoint.id as string}/rotate-secret`, headers: withKey(writer.key), payload: {} })).statusCode, 200, 'an empty JSON body too')

    const empty = await app.inject({ url: `/api/v1/webhooks/${endpoint.id as string}/deliveries`, headers: withKey(writer.key) })
    t.equal(empty.statusCode, 200)
    t.same(empty.json(), { items: [] })
    const at = Date.parse('2026-03-01T12:00:00.000Z')
    await app.webhookEndpoints.recordDelivery(writer.id, endpoint.id, { eventId: 'evt_old', type: 'message.viewed', attempts: 1, lastStatus: 204, lastAttemptAt: at + 1, nextAttemptAt: null, state: 'delivered', createdAt: at })
    await app.webhookEndpoints.recordDelivery(writer.id, endpoint.id, { eventId: 'evt_new', type: 'message.burned', attempts: 3, lastStatus: null, lastAttemptAt: at + 2000, nextAttemptAt: at + 60_000, state: 'pending', createdAt: at + 1000 })
    const deliveries = await app.inject({ url: `/api/v1/webhooks/${endpoint.id as string}/deliveries`, headers: withKey(writer.key) })
    t.equal(deliveries.statusCode, 200)
    t.same(deliveries.json(), {
      items: [
        { eventId: 'evt_new', type: 'message.burned', attempts: 3, lastStatus: null, lastAttemptAt: '2026-03-01T12:00:02.000Z', nextAttemptAt: '2026-03-01T12:01:00.000Z', state: 'pending' },
        { eventId: 'evt_old', type: 'message.viewed', attempts: 1, lastStatus: 204, lastAttemptAt: '2026-03-01T12:00:00.001Z', nextAttemptAt: null, state: 'delivered' }
      ]
    }, 'newest first, the contract\'s fields only')

    const deleted = await app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${endpoint.id as string}`, headers: withKey(writer.key) })
    t.equal(deleted.statusCode, 204)
    t.equal(deleted.body, '')
    for (const url of [`/api/v1/webhooks/${endpoint.id as string}`, `/api/v1/webhooks/${endpoint.id as string}/deliveries`]) {
      t.equal((await app.inject({ url, headers: withKey(writer.key) })).statusCode, 404, `${url} after the delete`)
    }
    t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${endpoint.id as string}`, headers: withKey(writer.key) })).statusCode, 404, 'a second delete')
    t.same((await app.inject({ url: '/api/v1/webhooks', headers: withKey(writer.key) })).json(), { items: [] })
    t.same(await app.webhookStore.listDeliveries(writer.id, endpoint.id), [], 'the log went with it')
  })
}

t.test('a bearer token works as well as the key; the description is optional (null)', async (t) => {
  const app = await build(t, { store: 'memory' })
  const writer = await makeKey(app, ['messages:write'])
  const headers = withToken(await tokenFor(app, writer.key))
  const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers, payload: { url: 'https://hooks.example.com/', events: ['message.expired'] } })
  t.equal(res.statusCode, 201, res.body)
  t.equal(res.json().description, null)
  t.equal((await app.inject({ url: '/api/v1/webhooks', headers })).json().items.length, 1)
})

t.test('every route: 401 without a credential, 403 without messages:write', async (t) => {
  const app = await build(t, { store: 'memory' })
  const writer = await makeKey(app, ['messages:write'])
  const { id } = (await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(writer.key), payload: body })).json()
  const everythingElse = await makeKey(app, ['messages:read', 'messages:delete', 'keys:admin', 'metrics:read', 'security:admin'] as Scope[])
  const routes = [
    { method: 'POST' as const, url: '/api/v1/webhooks', payload: body },
    { method: 'GET' as const, url: '/api/v1/webhooks' },
    { method: 'GET' as const, url: `/api/v1/webhooks/${id as string}` },
    { method: 'DELETE' as const, url: `/api/v1/webhooks/${id as string}` },
    { method: 'POST' as const, url: `/api/v1/webhooks/${id as string}/rotate-secret` },
    { method: 'GET' as const, url: `/api/v1/webhooks/${id as string}/deliveries` }
  ]
  for (const route of routes) {
    const anonymous = await app.inject({ method: route.method, url: route.url, payload: route.payload })
    t.equal(anonymous.statusCode, 401, `${route.method} ${route.url} anonymous`)
    t.match(anonymous.headers['www-authenticate'], /ApiKey realm="missive", Bearer realm="missive"/)
    t.equal(anonymous.json().code, 'UNAUTHORIZED')
    const forbidden = await app.inject({ method: route.method, url: route.url, payload: route.payload, headers: withKey(everythingElse.key) })
    t.equal(forbidden.statusCode, 403, `${route.method} ${route.url} without messages:write`)
    t.equal(forbidden.json().code, 'FORBIDDEN')
    const viaToken = await app.inject({ method: route.method, url: route.url, payload: route.payload, headers: withToken(await tokenFor(app, everythingElse.key)) })
    t.equal(viaToken.statusCode, 403, `${route.method} ${route.url} token without messages:write`)
  }
  t.ok(await app.webhookEndpoints.get(writer.id, id), 'untouched')
})

t.test('another key\'s endpoint is the uniform 404, like an unknown id', async (t) => {
  const app = await build(t, { store: 'redis' })
  const owner = await makeKey(app, ['messages:write'])
  const other = await makeKey(app, ['messages:write'])
  const { id } = (await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(owner.key), payload: body })).json()
  const routes = (target: string): Array<{ method: 'GET' | 'DELETE' | 'POST', url: string }> => [
    { method: 'GET', url: `/api/v1/webhooks/${target}` },
    { method: 'GET', url: `/api/v1/webhooks/${target}/deliveries` },
    { method: 'POST', url: `/api/v1/webhooks/${target}/rotate-secret` },
    { method: 'DELETE', url: `/api/v1/webhooks/${target}` }
  ]
  for (const [theirs, unknown] of routes(id).map((route, i) => [route, routes(UNKNOWN_ID)[i]!] as const)) {
    const a = await app.inject({ ...theirs, headers: withKey(other.key) })
    const b = await app.inject({ ...unknown, headers: withKey(other.key) })
    t.equal(a.statusCode, 404, `${theirs.method} ${theirs.url} by another key`)
    t.same(a.json(), b.json(), 'the same body as an unknown id')
    t.same(a.json(), { statusCode: 404, error: 'Not Found', message: 'Webhook not found', code: 'NOT_FOUND' })
  }
  t.same((await app.inject({ url: '/api/v1/webhooks', headers: withKey(other.key) })).json(), { items: [] }, 'not listed for another key')
  const still = await app.inject({ url: `/api/v1/webhooks/${id as string}`, headers: withKey(owner.key) })
  t.equal(still.statusCode, 200, 'the owner\'s endpoint is still there')
  t.equal(app.webhookEndpoints.signingSecrets((await app.webhookEndpoints.find(owner.id, id))!).length, 1, 'and was not rotated')
})

t.test('validation: 400 for bad bodies and ids, 415 for text/plain', async (t) => {
  const app = await build(t, { store: 'memory' })
  const writer = await makeKey(app, ['messages:write'])
  const headers = withKey(writer.key)
  const bad = [
    {}, { url: body.url }, { events: body.events },
    { url: body.url, events: [] },
    { url: body.url, events: ['message.viewed', 'message.viewed'] },
    { url: body.url, events: ['message.created'] },
    { url: body.url, events: 'message.viewed' },
    { url: body.url, events: body.events, description: 'x'.repeat(201) },
    { url: body.url, events: body.events, description: 7 },
    { url: body.url, events: body.events, secret: 'whsec_mine' },
    { url: body.url, events: body.events, disabledAt: null },
    { url: '', events: body.events },
    { url: `https://hooks.example.com/${'a'.repeat(2048)}`, events: body.events }
  ]
  for (const payload of bad) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers, payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 120))
    t.equal(res.json().code, 'VALIDATION_ERROR')
  }
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers, payload: { ...body, description: 'x'.repeat(200) } })).statusCode, 201, '200 characters are fine')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers, payload: { ...body, events: ['message.viewed', 'message.burned', 'message.deleted', 'message.expired'] } })).statusCode, 201, 'all four')
  const { id } = (await app.inject({ url: '/api/v1/webhooks', headers })).json().items[0]

  const plain = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: { ...headers, 'content-type': 'text/plain' }, payload: JSON.stringify(body) })
  t.equal(plain.statusCode, 415)
  t.equal(plain.json().code, 'UNSUPPORTED_MEDIA_TYPE')
  t.equal((await app.inject({ method: 'POST', url: `/api/v1/webhooks/${id as string}/rotate-secret`, headers: { ...headers, 'content-type': 'text/plain' }, payload: 'x' })).statusCode, 415)
  t.equal((await app.inject({ method: 'POST', url: `/api/v1/webhooks/${id as string}/rotate-secret`, headers, payload: { graceSeconds: 5 } })).statusCode, 400, 'rotate-secret takes no fields')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: { ...headers, 'content-type': 'application/json' }, payload: '{"url":' })).statusCode, 400, 'broken JSON')
  for (const url of ['/api/v1/webhooks/not-an-id', '/api/v1/webhooks/wh_short', '/api/v1/webhooks/not-an-id/deliveries']) {
    const res = await app.inject({ url, headers })
    t.equal(res.statusCode, 400, url)
  }
})

t.test('405 with Allow for other methods', async (t) => {
  const app = await build(t, { store: 'memory' })
  const writer = await makeKey(app, ['messages:write'])
  const cases = [
    { method: 'PUT' as const, url: '/api/v1/webhooks', allow: 'GET, HEAD, OPTIONS, POST' },
    { method: 'DELETE' as const, url: '/api/v1/webhooks', allow: 'GET, HEAD, OPTIONS, POST' },
    { method: 'PATCH' as const, url: `/api/v1/webhooks/${UNKNOWN_ID}`, allow: 'DELETE, GET, HEAD, OPTIONS' },
    { method: 'GET' as const, url: `/api/v1/webhooks/${UNKNOWN_ID}/rotate-secret`, allow: 'OPTIONS, POST' },
    { method: 'POST' as const, url: `/api/v1/webhooks/${UNKNOWN_ID}/deliveries`, allow: 'GET, HEAD, OPTIONS' }
  ]
  for (const c of cases) {
    const res = await app.inject({ method: c.method, url: c.url, headers: withKey(writer.key) })
    t.equal(res.statusCode, 405, `${c.method} ${c.url}`)
    t.equal(res.headers.allow, c.allow)
    t.equal(res.json().code, 'METHOD_NOT_ALLOWED')
  }
})

t.test('at most 10 endpoints per key: the 11th is a 409', async (t) => {
  const app = await build(t, { store: 'redis' })
  const writer = await makeKey(app, ['messages:write'])
  const other = await makeKey(app, ['messages:write'])
  const results = await Promise.all(Array.from({ length: 12 }, async () =>
    await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(writer.key), payload: body })))
  t.same(results.map((r) => r.statusCode).sort(), [...Array(10).fill(201), 409, 409])
  t.same(results.find((r) => r.statusCode === 409)?.json(), {
    statusCode: 409, error: 'Conflict', message: 'A key may have at most 10 webhook endpoints: delete one first', code: 'WEBHOOK_LIMIT'
  })
  t.equal((await app.inject({ url: '/api/v1/webhooks', headers: withKey(writer.key) })).json().items.length, 10)
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(other.key), payload: body })).statusCode, 201, 'each key its own limit')
})

t.test('a server without receipts (RECEIPT_RETENTION_SECONDS=0) refuses to register a webhook rather than never send one', async (t) => {
  const app = await build(t, { config: { RECEIPT_RETENTION_SECONDS: 0 } })
  const writer = await makeKey(app, ['messages:write'])
  const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(writer.key), payload: body })
  t.equal(res.statusCode, 409)
  t.match(res.json(), { statusCode: 409, error: 'Conflict', code: 'WEBHOOKS_UNAVAILABLE', message: /RECEIPT_RETENTION_SECONDS=0/ })
  t.same((await app.inject({ url: '/api/v1/webhooks', headers: withKey(writer.key) })).json(), { items: [] })
})

const REFUSED = ['https://127.0.0.1/', 'https://[::1]/', 'https://10.0.0.1/', 'https://169.254.169.254/latest/meta-data/', 'https://[::ffff:127.0.0.1]/', 'https://[::ffff:7f00:1]:8443/x']

t.test('SSRF: private and loopback literals and plain http are refused at registration', async (t) => {
  const app = await build(t, { store: 'memory' })
  const writer = await makeKey(app, ['messages:write'])
  for (const url of REFUSED) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(writer.key), payload: { ...body, url } })
    t.equal(res.statusCode, 400, url)
    t.equal(res.json().code, 'DESTINATION_REFUSED')
    t.match(res.json().message, /^body\/url: .* is a [a-zA-Z]+ address: webhooks go to public addresses only/)
  }
  const invalid: Array<[string, string]> = [
    ['http://hooks.example.com/', 'body/url: the webhook url must be https'],
    ['https://user:secret@hooks.example.com/', 'body/url: the webhook url must not carry a user or password'],
    ['hooks.example.com/path', 'body/url: the webhook url is not a URL']
  ]
  for (const [url, message] of invalid) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(writer.key), payload: { ...body, url } })
    t.equal(res.statusCode, 400, url)
    t.same(res.json(), { statusCode: 400, error: 'Bad Request', message, code: 'INVALID_DESTINATION' })
  }
  t.same((await app.inject({ url: '/api/v1/webhooks', headers: withKey(writer.key) })).json(), { items: [] }, 'nothing registered')
})

t.test('SSRF: WEBHOOK_ALLOW_PRIVATE=true lets private literals in, still https only', async (t) => {
  const app = await build(t, { store: 'memory', config: { WEBHOOK_ALLOW_PRIVATE: 'true' } })
  const writer = await makeKey(app, ['messages:write'])
  for (const url of REFUSED.slice(0, 5)) {
    const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(writer.key), payload: { ...body, url } })
    t.equal(res.statusCode, 201, url)
  }
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(writer.key), payload: { ...body, url: 'http://127.0.0.1/' } })).statusCode, 400)
})

/** Every key and value in Redis as text (DUMP would compress long values): what someone with the data would see. */
async function everythingIn (redis: Redis): Promise<string> {
  const parts: string[] = []
  for (const key of await redis.keys('*')) {
    const type = await redis.type(key)
    parts.push(key)
    if (type === 'string') parts.push(await redis.get(key) ?? '')
    else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)))
    else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, '0', '-1')))
    else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)))
    else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, '0', '-1')))
    else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')))
    else parts.push(`(${type})`)
  }
  return parts.join('\n')
}

t.test('with ENCRYPTION_KEY the secrets are sealed in Redis; nothing stored or logged holds a secret', async (t) => {
  const logs: string[] = []
  const app = await build(t, { store: 'redis', config: { ENCRYPTION_KEY }, logs })
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => { redis.disconnect() })
  const writer = await makeKey(app, ['messages:write'])
  const created = (await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(writer.key), payload: body })).json()
  const rotated = (await app.inject({ method: 'POST', url: `/api/v1/webhooks/${created.id as string}/rotate-secret`, headers: withKey(writer.key) })).json()
  const stored = JSON.parse(await redis.hget(webhookEndpointsKey(writer.id), created.id) as string)
  t.match(stored, { url: body.url, secret: /^v1:[A-Za-z0-9+/=]+$/, previousSecret: /^v1:[A-Za-z0-9+/=]+$/ })
  const everything = await everythingIn(redis)
  t.ok(everything.includes(body.url), 'the dump of Redis sees what is stored in clear')
  const secretsShown = [created.secret as string, rotated.secret as string]
  for (const secret of secretsShown) {
    const base64 = secret.slice('whsec_'.length)
    t.notOk(everything.includes(base64.slice(0, 16)), 'no secret in Redis, in any key')
    t.notOk(logs.join('\n').includes(base64.slice(0, 16)), 'no secret in the logs')
  }
  t.same(app.webhookEndpoints.signingSecrets((await app.webhookEndpoints.find(writer.id, created.id))!), [rotated.secret, created.secret], 'they still open to sign')
})

t.test('the security feed gets webhook.created, .secret_rotated and .deleted, without secrets or paths', async (t) => {
  const app = await build(t, { store: 'memory' })
  const admin = await makeKey(app, ['security:admin'])
  const writer = await makeKey(app, ['messages:write'])
  const created = (await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(writer.key), payload: { ...body, url: 'https://hooks.example.com/path/with-a-token' } })).json()
  const rotated = (await app.inject({ method: 'POST', url: `/api/v1/webhooks/${created.id as string}/rotate-secret`, headers: withKey(writer.key) })).json()
  await app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${created.id as string}`, headers: withKey(writer.key) })
  const feed = (await wholeFeed(app, admin.key)).filter((e) => e.type.startsWith('webhook.'))
  t.match(feed, [
    { type: 'webhook.created', keyId: writer.id, ip: '127.0.0.1', detail: { webhookId: created.id, host: 'hooks.example.com', events: 'message.viewed,message.burned', by: writer.id } },
    { type: 'webhook.secret_rotated', keyId: writer.id, detail: { webhookId: created.id, by: writer.id } },
    { type: 'webhook.deleted', keyId: writer.id, detail: { webhookId: created.id, by: writer.id } }
  ])
  const text = JSON.stringify(feed)
  t.notOk(text.includes('with-a-token'), 'not the URL\'s path')
  for (const secret of [created.secret as string, rotated.secret as string]) t.notOk(text.includes(secret.slice(6, 22)))
})

t.test('/docs/json lists every webhook route with its scope and answers', async (t) => {
  const app = await build(t, { store: 'memory' })
  const doc = (await app.inject('/docs/json')).json()
  const expected: Array<[string, string, string[]]> = [
    ['/api/v1/webhooks', 'post', ['201', '400', '401', '403', '409', '415', '429']],
    ['/api/v1/webhooks', 'get', ['200', '401', '403', '429']],
    ['/api/v1/webhooks/{id}', 'get', ['200', '400', '401', '403', '404']],
    ['/api/v1/webhooks/{id}', 'delete', ['204', '400', '401', '403', '404']],
    ['/api/v1/webhooks/{id}/rotate-secret', 'post', ['200', '400', '401', '403', '404', '415']],
    ['/api/v1/webhooks/{id}/deliveries', 'get', ['200', '400', '401', '403', '404']]
  ]
  for (const [path, method, codes] of expected) {
    const operation = doc.paths[path]?.[method]
    t.ok(operation, `${method.toUpperCase()} ${path}`)
    for (const code of codes) t.ok(operation?.responses?.[code], `${method.toUpperCase()} ${path} documents ${code}`)
    t.same(operation?.security, [{ apiKey: [] }, { bearerAuth: [] }, { oauth2: ['messages:write'] }])
  }
  const issued = doc.paths['/api/v1/webhooks'].post.responses['201'].content['application/json'].schema
  t.ok(issued.properties.secret, 'the creation answer has the secret')
  const listed = doc.paths['/api/v1/webhooks'].get.responses['200'].content['application/json'].schema
  t.notOk(JSON.stringify(listed).includes('"secret"'), 'the list has none')
})
