import { Redis } from 'ioredis'
import t from 'tap'
import { messageKey } from '../src/storage/redis/keys.js'
import { build, createMessage, testRedis } from './helper.js'

const ENCRYPTION_KEY = Buffer.alloc(32, 42).toString('base64')

t.test('with ENCRYPTION_KEY the content is AES-256-GCM at rest and reads back unchanged', async (t) => {
  const app = await build(t, { store: 'redis', config: { ENCRYPTION_KEY } })
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => { redis.disconnect() })
  const content = 'plaintext that must not sit in Redis ✓'
  const { id } = await createMessage(app, { content })
  const stored = await redis.get(messageKey(id))
  t.ok(stored)
  t.notMatch(stored, 'plaintext')
  t.match(JSON.parse(stored as string).c, /^v1:[A-Za-z0-9+/=]+$/)
  t.equal((await app.inject(`/msg/${id}`)).json().content, content)
})

t.test('a ciphertext moved to another id does not decrypt (the id is authenticated)', async (t) => {
  const app = await build(t, { store: 'redis', config: { ENCRYPTION_KEY } })
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => { redis.disconnect() })
  const a = await createMessage(app, { content: 'for a' })
  const b = await createMessage(app, { content: 'for b' })
  const bodyA = JSON.parse(await redis.get(messageKey(a.id)) as string)
  const bodyB = JSON.parse(await redis.get(messageKey(b.id)) as string)
  await redis.set(messageKey(b.id), JSON.stringify({ ...bodyB, c: bodyA.c }), 'KEEPTTL')
  const res = await app.inject(`/msg/${b.id}`)
  t.equal(res.statusCode, 500)
  t.same(res.json(), { statusCode: 500, error: 'Internal Server Error', message: 'An internal error occurred', code: 'INTERNAL_ERROR' })
})

t.test('without ENCRYPTION_KEY content is stored as given', async (t) => {
  const app = await build(t, { store: 'redis' })
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => { redis.disconnect() })
  const { id } = await createMessage(app, { content: 'as is' })
  t.equal(JSON.parse(await redis.get(messageKey(id)) as string).c, 'as is')
})
