import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { StoreUnavailable } from '../../src/errors.js'
import { MemoryClientKeyStore } from '../../src/storage/memory/memory-client-key-store.js'
import { createRedisClient } from '../../src/storage/redis/client.js'
import { apiKeySigningKeysKey } from '../../src/storage/redis/keys.js'
import { RedisClientKeyStore } from '../../src/storage/redis/redis-client-key-store.js'
import { flushRedis, redisCommandsDuring, testRedis } from '../helper.js'
import { freePort } from '../helpers/redis-server.js'
import { clientKeyStoreContract, sampleClientKey } from './client-key-store.contract.js'

clientKeyStoreContract(t, 'memory', async () => new MemoryClientKeyStore())

/** A client key store on a flushed throwaway Redis, with its client (for looking at what it wrote) and the Redis' URL. */
async function redisClientKeyStore (t: Pick<Test, 'teardown'>): Promise<{ store: RedisClientKeyStore, client: Redis, url: string }> {
  const redis = await testRedis()
  await flushRedis(redis.url)
  const client = new Redis(redis.url)
  const store = new RedisClientKeyStore(client)
  t.teardown(async () => { await store.close(); await client.quit() })
  return { store, client, url: redis.url }
}

clientKeyStoreContract(t, 'redis', async (t) => (await redisClientKeyStore(t)).store)

t.test('redis: one hash per API key, apikey:{id}:signing, a field per keyid holding {a, j, c}', async (t) => {
  const { store, client } = await redisClientKeyStore(t)
  const ed = sampleClientKey('kid-ed', { createdAt: 1_700_000_000_001 })
  const ec = sampleClientKey('kid-ec', { alg: 'ecdsa-p256-sha256', jwk: { kty: 'EC', crv: 'P-256', x: 'x-ec', y: 'y-ec' }, createdAt: 1_700_000_000_002 })
  await store.add('apikeyhash01', ed, 10)
  await store.add('apikeyhash01', ec, 10)
  await store.add('apikeyhash02', ed, 10)
  t.equal(apiKeySigningKeysKey('apikeyhash01'), 'apikey:{apikeyhash01}:signing')
  t.same((await client.keys('*')).sort(), [apiKeySigningKeysKey('apikeyhash01'), apiKeySigningKeysKey('apikeyhash02')])
  t.equal(await client.type(apiKeySigningKeysKey('apikeyhash01')), 'hash')
  t.equal(await client.ttl(apiKeySigningKeysKey('apikeyhash01')), -1, 'no expiry')
  const hash = await client.hgetall(apiKeySigningKeysKey('apikeyhash01'))
  t.same(Object.keys(hash).sort(), ['kid-ec', 'kid-ed'])
  t.same(JSON.parse(hash['kid-ed'] as string), { a: 'ed25519', j: ed.jwk, c: 1_700_000_000_001 })
  t.same(JSON.parse(hash['kid-ec'] as string), { a: 'ecdsa-p256-sha256', j: ec.jwk, c: 1_700_000_000_002 })
  await store.remove('apikeyhash01', 'kid-ed')
  await store.remove('apikeyhash01', 'kid-ec')
  t.equal(await client.exists(apiKeySigningKeysKey('apikeyhash01')), 0, 'an empty hash is no key at all')
})

t.test('redis: add is one command (the script); list one HGETALL; remove one HDEL', async (t) => {
  const { store, url } = await redisClientKeyStore(t)
  const add = await redisCommandsDuring(t, url, async () => { await store.add('apikeycmds01', sampleClientKey('kid-1'), 10) })
  t.equal(add.length, 1, add.join(', '))
  t.match(add[0], /^evalsha$|^eval$/)
  t.same(await redisCommandsDuring(t, url, async () => { await store.list('apikeycmds01') }), ['hgetall'])
  t.same(await redisCommandsDuring(t, url, async () => { await store.remove('apikeycmds01', 'kid-1') }), ['hdel'])
  t.same(await redisCommandsDuring(t, url, async () => {
    await t.rejects(store.add('apikeycmds01', sampleClientKey('kid-1'), 1.5), RangeError)
  }), [], 'a bad max is refused before any command')
})

t.test('redis: a hash of the wrong type is a StoreUnavailable, not a crash', async (t) => {
  const { store, client } = await redisClientKeyStore(t)
  await client.set(apiKeySigningKeysKey('wrongtype001'), 'not a hash')
  await t.rejects(store.add('wrongtype001', sampleClientKey('kid-1'), 10), StoreUnavailable)
  await t.rejects(store.list('wrongtype001'), StoreUnavailable)
  await t.rejects(store.remove('wrongtype001', 'kid-1'), StoreUnavailable)
})

t.test('redis: a client to a closed port gets StoreUnavailable at once from every operation', async (t) => {
  const client = createRedisClient({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, redisClusterNodes: [] }, 'test')
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const store = new RedisClientKeyStore(client)
  for (const operation of [
    async () => await store.add('apikeydown01', sampleClientKey('kid-1'), 10),
    async () => await store.list('apikeydown01'),
    async () => await store.remove('apikeydown01', 'kid-1')
  ]) {
    const started = Date.now()
    const error: unknown = await operation().then(() => null, (err: unknown) => err)
    t.type(error, StoreUnavailable)
    t.ok((error as { cause?: unknown } | null)?.cause instanceof Error, 'the client\'s error is kept as cause')
    t.ok(Date.now() - started < 1500, `fails fast (${Date.now() - started} ms)`)
  }
})
