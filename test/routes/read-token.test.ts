import t from 'tap'
import { makeKey, withKey } from '../api/api-helper.js'
import { build, createMessage, sleep, stopBackgroundWork, testRedis } from '../helper.js'
import { redisCallsDuring, settledBuild } from '../proof/proof-helper.js'

/**
 * Key-gated reads (API.md section 1, issue 18): a message made with a readToken is read only
 * with `X-Read-Token`; without it, or with a wrong one, the uniform 404, and no view is
 * counted. Also the larger limit on encrypted content. (The store-level rules, racing readers
 * included, are in test/storage/message-store.contract.ts on memory, Redis and the Cluster.)
 */

const READ_TOKEN = 'a-read-token-of-43-characters-0123456789abc'
const notFound = { statusCode: 404, error: 'Not Found', message: 'Message not found', code: 'NOT_FOUND' }

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: a read without the token, or with a wrong one, is the uniform 404 and counts no view`, async (t) => {
    const app = await build(t, { store })
    const { id } = await createMessage(app, { content: 'gated', maxViews: 2, readToken: READ_TOKEN })
    const unknown = await app.inject('/msg/AAAAAAAAAAAAAAAAAAAAAA')
    t.equal(unknown.statusCode, 404)
    t.same(unknown.json(), notFound)
    for (const headers of [{}, { 'x-read-token': '' }, { 'x-read-token': 'wrong' }, { 'x-read-token': READ_TOKEN.slice(0, -1) + 'd' }, { 'x-read-token': `${READ_TOKEN} ` }, { 'x-read-token': 'x'.repeat(5000) }]) {
      for (const accept of ['application/json', 'text/plain']) {
        const res = await app.inject({ url: `/msg/${id}`, headers: { ...headers, accept } })
        t.equal(res.statusCode, 404, `${JSON.stringify(headers).slice(0, 60)} ${accept}`)
        t.same(res.json(), notFound, 'the same body as an unknown id')
        t.equal(res.headers['cache-control'], 'no-store')
      }
    }
    const page = await app.inject({ url: `/msg/${id}`, headers: { accept: 'text/html' } })
    t.equal(page.statusCode, 200, 'the page still opens (it counts nothing)')
    const first = await app.inject({ url: `/msg/${id}`, headers: { 'x-read-token': READ_TOKEN } })
    t.equal(first.statusCode, 200)
    t.match(first.json(), { id, content: 'gated', remainingViews: 1 }, 'the refused reads took no view')
    const text = await app.inject({ url: `/msg/${id}`, headers: { 'x-read-token': READ_TOKEN, accept: 'text/plain' } })
    t.equal(text.body, 'gated')
    t.equal((await app.inject({ url: `/msg/${id}`, headers: { 'x-read-token': READ_TOKEN } })).statusCode, 404, 'burned after two reads with the token')
  })

  t.test(`${store}: the API read needs the token too; a message without one ignores a presented token`, async (t) => {
    const app = await build(t, { store })
    const headers = withKey((await makeKey(app, ['messages:read', 'messages:write'])).key)
    const created = await app.inject({ method: 'POST', url: '/api/v1/messages', headers, payload: { content: 'owned and gated', readToken: READ_TOKEN, maxViews: 1 } })
    t.equal(created.statusCode, 201)
    const { id } = created.json()
    const without = await app.inject({ url: `/api/v1/messages/${id}`, headers })
    t.equal(without.statusCode, 404)
    t.same(without.json(), notFound)
    const withToken = await app.inject({ url: `/api/v1/messages/${id}`, headers: { ...headers, 'x-read-token': READ_TOKEN } })
    t.equal(withToken.statusCode, 200)
    t.match(withToken.json(), { id, content: 'owned and gated', remainingViews: 0 })

    const open = await createMessage(app, { content: 'open', maxViews: 1 })
    const read = await app.inject({ url: `/msg/${open.id}`, headers: { 'x-read-token': READ_TOKEN } })
    t.equal(read.statusCode, 200, 'a token sent for a message made without one is ignored')
  })
}

t.test('readToken must be 22..86 base64url characters: anything else is a 400 naming it', async (t) => {
  const app = await build(t)
  for (const readToken of ['short', 'x'.repeat(21), 'x'.repeat(87), 'has spaces in it 0123456789', 'not+base64/url=0123456789012', 42, null, '']) {
    const res = await app.inject({ method: 'POST', url: '/', payload: { content: 'x', readToken } })
    t.equal(res.statusCode, 400, JSON.stringify(readToken))
    t.match(res.json().message, /readToken/, 'the message names the field')
  }
  for (const readToken of ['x'.repeat(22), 'A-_z'.repeat(21) + 'ab']) {
    t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x', readToken } })).statusCode, 201, `${readToken.length} characters`)
  }
  const response = await app.inject({ method: 'POST', url: '/', payload: { content: 'x', readToken: READ_TOKEN } })
  t.notOk(JSON.stringify(response.json()).includes(READ_TOKEN), 'the token is not echoed back')
})

t.test('redis: the token is stored only as its SHA-256', async (t) => {
  const app = await build(t, { store: 'redis' })
  const { id } = await createMessage(app, { content: 'x', readToken: READ_TOKEN })
  const { url } = await testRedis()
  const { Redis } = await import('ioredis')
  const redis = new Redis(url)
  t.teardown(() => { redis.disconnect() })
  const keys = await redis.keys(`*${id}*`)
  // the message (a string) and its receipt (a hash, which holds no read token at all)
  const stored = (await Promise.all(keys.map(async (k) => await redis.type(k) === 'hash' ? Object.values(await redis.hgetall(k)).join(' ') : await redis.get(k)))).join('\n')
  t.notOk(stored.includes(READ_TOKEN), 'not in clear')
  const { createHash } = await import('node:crypto')
  t.ok(stored.includes(createHash('sha256').update(READ_TOKEN).digest('base64url')), 'its SHA-256 is')
})

t.test('redis: a read with a token costs the store round trips of a read without one; a refused one costs only its one script call', async (t) => {
  const app = await settledBuild(t, { store: 'redis' })
  const { url } = await testRedis()
  const gated = await createMessage(app, { content: 'g', maxViews: 100, readToken: READ_TOKEN })
  const open = await createMessage(app, { content: 'o', maxViews: 100 })
  await app.inject(`/msg/${open.id}`)
  await sleep(1200)
  await stopBackgroundWork(app)
  const messageCalls = async (id: string, headers: Record<string, string>, status: number): Promise<string[]> => {
    const calls = await redisCallsDuring(t, url, async () => {
      t.equal((await app.inject({ url: `/msg/${id}`, headers })).statusCode, status)
      await sleep(250)
    })
    return calls.filter((call) => (call[0] === 'evalsha' ? call[3] : call[1])?.startsWith('msg:') === true).map((call) => call[0] as string)
  }
  const without = await messageCalls(open.id, {}, 200)
  const withToken = await messageCalls(gated.id, { 'x-read-token': READ_TOKEN }, 200)
  t.same(withToken, without, `the same commands: ${withToken.join(' ')}`)
  t.same(await messageCalls(gated.id, {}, 404), ['evalsha'], 'a read without the token is refused by the consume script, which counts nothing')
})

t.test('encrypted content may exceed MESSAGE_MAX_BYTES by room for base64url and an envelope, plain content may not', async (t) => {
  const app = await build(t, { config: { MESSAGE_MAX_BYTES: 3000, API_MESSAGE_MAX_BYTES: 3000 } })
  const limit = Math.ceil((3000 + 1024) * 4 / 3)
  const post = async (content: string, encrypted?: boolean): Promise<number> =>
    (await app.inject({ method: 'POST', url: '/', payload: { content, ...(encrypted === undefined ? {} : { encrypted }) } })).statusCode
  t.equal(await post('a'.repeat(limit), true), 201, `${limit} bytes encrypted`)
  t.equal(await post('a'.repeat(limit + 1), true), 413, 'one more is too large')
  const tooLarge = await app.inject({ method: 'POST', url: '/', payload: { content: 'a'.repeat(limit + 1), encrypted: true } })
  t.match(tooLarge.json(), { statusCode: 413, message: new RegExp(String(limit)) }, 'the message says the encrypted limit')
  t.equal(await post('a'.repeat(3000)), 201)
  t.equal(await post('a'.repeat(3001)), 413, 'unencrypted: MESSAGE_MAX_BYTES')
  t.equal(await post('a'.repeat(3001), false), 413)
  const admin = withKey((await makeKey(app, ['messages:write'])).key)
  const viaApi = async (content: string, encrypted: boolean): Promise<number> =>
    (await app.inject({ method: 'POST', url: '/api/v1/messages', headers: admin, payload: { content, encrypted } })).statusCode
  t.equal(await viaApi('a'.repeat(limit), true), 201, 'the API route: the same rule on API_MESSAGE_MAX_BYTES')
  t.equal(await viaApi('a'.repeat(limit + 1), true), 413)
  t.equal(await viaApi('a'.repeat(3001), false), 413)
  const plain = async (content: string, query: string): Promise<number> =>
    (await app.inject({ method: 'POST', url: `/${query}`, headers: { 'content-type': 'text/plain' }, payload: content })).statusCode
  t.equal(await plain('a'.repeat(limit), '?encrypted=true'), 201, 'text/plain with encrypted=true: the same limit')
  t.equal(await plain('a'.repeat(limit + 1), '?encrypted=true'), 413)
  t.equal(await plain('a'.repeat(3001), ''), 413)
})
