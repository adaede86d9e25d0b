import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { StoreUnavailable } from '../../src/errors.js'
import type { IssuerKeyStore } from '../../src/storage/issuer-key-store.js'
import { MemoryIssuerKeyStore } from '../../src/storage/memory/memory-issuer-key-store.js'
import { createRedisClient, type RedisClient } from '../../src/storage/redis/client.js'
import { issuerKeysKey } from '../../src/storage/redis/keys.js'
import { RedisIssuerKeyStore } from '../../src/storage/redis/redis-issuer-key-store.js'
import { flushRedis, redisCommandsDuring, testRedis } from '../helper.js'
import { freePort, RedisServer } from '../helpers/redis-server.js'
import { issuerKeyStoreContract, sampleIssuerKey } from './issuer-key-store.contract.js'

issuerKeyStoreContract(t, 'memory', async () => new MemoryIssuerKeyStore())

/** An issuer key store on a flushed throwaway Redis, with its client (for looking at what it wrote) and the Redis' URL. */
async function redisIssuerKeyStore (t: Pick<Test, 'teardown'>): Promise<{ store: RedisIssuerKeyStore, client: Redis, url: string }> {
  const redis = await testRedis()
  await flushRedis(redis.url)
  const client = new Redis(redis.url)
  t.teardown(async () => { await client.quit() })
  return { store: new RedisIssuerKeyStore(client), client, url: redis.url }
}

issuerKeyStoreContract(t, 'redis', async (t) => (await redisIssuerKeyStore(t)).store)

/** A client made as the server makes it (fail fast: no offline queue), disconnected when the test ends. */
function serverClient (t: Pick<Test, 'teardown'>, url: string): RedisClient {
  const client = createRedisClient({ REDIS_URL: url, redisClusterNodes: [] }, 'test')
  client.on('error', () => {}) // connection errors are the point of these tests
  t.teardown(() => { client.disconnect() })
  return client
}

async function ready (client: RedisClient): Promise<void> {
  await new Promise<void>((resolve) => { if (client.status === 'ready') resolve(); else client.once('ready', () => resolve()) })
}

/** Every operation of the store rejects with StoreUnavailable, the client's error kept as `cause`. */
async function assertEveryOperationUnavailable (t: Test, store: IssuerKeyStore): Promise<void> {
  const operations: Record<string, () => Promise<unknown>> = {
    createIfAbsent: async () => await store.createIfAbsent(sampleIssuerKey('ES256:10000:1', 'kid-down')),
    list: async () => await store.list(),
    remove: async () => await store.remove(['ES256:10000:1'])
  }
  for (const [name, operation] of Object.entries(operations)) {
    const started = Date.now()
    const error: unknown = await operation().then(() => null, (err: unknown) => err)
    t.type(error, StoreUnavailable, `${name}: StoreUnavailable`)
    t.equal((error as { statusCode?: number } | null)?.statusCode, 503, `${name}: a 503`)
    t.ok((error as { cause?: unknown } | null)?.cause instanceof Error, `${name}: the client's error is kept as cause`)
    t.ok(Date.now() - started < 1500, `${name}: fails fast (${Date.now() - started} ms)`)
  }
}

t.test('redis: every issuer key lives in one hash, a field per name holding the key as JSON', async (t) => {
  const { store, client } = await redisIssuerKeyStore(t)
  const keys = [
    sampleIssuerKey('ES256:10000:1', 'kid-1'),
    sampleIssuerKey('ES256:10000:2', 'kid-2'),
    sampleIssuerKey('EdDSA:10000:1', 'kid-3', { alg: 'EdDSA', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'x' } })
  ]
  for (const key of keys) await store.createIfAbsent(key)
  await store.createIfAbsent(sampleIssuerKey('ES256:10000:1', 'kid-loser'))
  t.same(await client.keys('*'), [issuerKeysKey], 'one Redis key')
  t.equal(issuerKeysKey, '{missive-issuer}:keys')
  t.equal(await client.type(issuerKeysKey), 'hash')
  t.equal(await client.ttl(issuerKeysKey), -1, 'no expiry: keys are forgotten by name')
  const hash = await client.hgetall(issuerKeysKey)
  t.same(Object.keys(hash).sort(), keys.map((k) => k.name).sort())
  for (const key of keys) t.same(JSON.parse(hash[key.name] as string), key)
  await store.remove(keys.map((k) => k.name))
  t.equal(await client.exists(issuerKeysKey), 0, 'an empty hash is no key at all')
})

t.test('redis: createIfAbsent is one command (the script), and two stores on one client share it', async (t) => {
  const { store, client, url } = await redisIssuerKeyStore(t)
  const other = new RedisIssuerKeyStore(client)
  const commands = await redisCommandsDuring(t, url, async () => {
    await store.createIfAbsent(sampleIssuerKey('ES256:10000:1', 'kid-a'))
  })
  t.equal(commands.length, 1, `one command: ${commands.join(', ')}`)
  t.match(commands[0], /^evalsha$|^eval$/)
  t.equal((await other.createIfAbsent(sampleIssuerKey('ES256:10000:1', 'kid-b'))).kid, 'kid-a')
})

t.test('redis: a hash of the wrong type is a StoreUnavailable, not a crash', async (t) => {
  const { store, client } = await redisIssuerKeyStore(t)
  await client.set(issuerKeysKey, 'not a hash') // every hash command fails: WRONGTYPE
  await t.rejects(store.createIfAbsent(sampleIssuerKey('ES256:10000:1', 'kid-w')), StoreUnavailable)
  await t.rejects(store.list(), StoreUnavailable)
  await t.rejects(store.remove(['ES256:10000:1']), StoreUnavailable)
})

t.test('redis: a client to a closed port gets StoreUnavailable at once from every operation', async (t) => {
  const store = new RedisIssuerKeyStore(serverClient(t, `redis://127.0.0.1:${await freePort()}`))
  await assertEveryOperationUnavailable(t, store)
  await store.remove([]) // nothing to do: no command, no failure
})

t.test('redis: a Redis that stops gives StoreUnavailable, and the store works again when it is back', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => { await redis.destroy() })
  const client = serverClient(t, redis.url)
  const store = new RedisIssuerKeyStore(client)
  await ready(client)
  const key = sampleIssuerKey('ES256:10000:1', 'kid-before')
  t.same(await store.createIfAbsent(key), key)

  await redis.stop()
  await assertEveryOperationUnavailable(t, store)

  await redis.start() // same port, empty (no persistence)
  await ready(client)
  t.same(await store.list(), [])
  t.same(await store.createIfAbsent(key), key)
  t.same(await store.list(), [key])
})
