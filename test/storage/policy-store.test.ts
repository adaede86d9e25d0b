import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { StoreUnavailable } from '../../src/errors.js'
import { MemoryPolicyStore } from '../../src/storage/memory/memory-policy-store.js'
import type { PolicyStore } from '../../src/storage/policy-store.js'
import { createRedisClient } from '../../src/storage/redis/client.js'
import { policyKey } from '../../src/storage/redis/keys.js'
import { RedisPolicyStore } from '../../src/storage/redis/redis-policy-store.js'
import { clusterClient, testCluster } from '../cluster/cluster.js'
import { flushRedis, redisCommandsDuring, testRedis } from '../helper.js'
import { freePort } from '../helpers/redis-server.js'

/**
 * The one contract every policy store keeps: memory, a real Redis and a 3-master Redis
 * Cluster. `open` gives two handles on one empty store (two instances: two clients).
 */
function policyStoreContract (t: Test, name: string, open: (t: Test) => Promise<{ store: PolicyStore, other: PolicyStore }>): void {
  t.test(`${name}: nothing stored at first; a write is read back, by every handle`, async (t) => {
    const { store, other } = await open(t)
    t.equal(await store.read(), null)
    t.equal(await store.version(), null)
    t.equal(await store.compareAndSet({ version: 'v1', document: '{"a":1}' }, null), true)
    t.same(await store.read(), { version: 'v1', document: '{"a":1}' })
    t.same(await other.read(), { version: 'v1', document: '{"a":1}' })
    t.equal(await other.version(), 'v1')
  })

  t.test(`${name}: compareAndSet writes only over the expected version; undefined: any`, async (t) => {
    const { store, other } = await open(t)
    t.equal(await store.compareAndSet({ version: 'v1', document: 'one' }, 'v0'), false, 'nothing stored is not v0')
    t.equal(await store.compareAndSet({ version: 'v1', document: 'one' }, null), true)
    t.equal(await store.compareAndSet({ version: 'v2', document: 'two' }, null), false, 'something is stored now')
    t.equal(await other.compareAndSet({ version: 'v2', document: 'two' }, 'v0'), false)
    t.equal(await other.compareAndSet({ version: 'v2', document: 'two' }, 'v1'), true)
    t.equal(await store.compareAndSet({ version: 'v3', document: 'three' }, 'v1'), false, 'v1 moved')
    t.same(await store.read(), { version: 'v2', document: 'two' })
    t.equal(await store.compareAndSet({ version: 'v3', document: 'three' }, undefined), true)
    t.same(await other.read(), { version: 'v3', document: 'three' })
  })

  t.test(`${name}: 20 racing writes over one version: exactly one wins`, async (t) => {
    const { store, other } = await open(t)
    await store.compareAndSet({ version: 'base', document: '{}' }, undefined)
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await (i % 2 === 0 ? store : other).compareAndSet({ version: `race-${i}`, document: `{"i":${i}}` }, 'base')))
    t.equal(results.filter(Boolean).length, 1)
    const winner = results.indexOf(true)
    t.same(await store.read(), { version: `race-${winner}`, document: `{"i":${winner}}` })
  })

  t.test(`${name}: a document of any size and characters comes back byte for byte`, async (t) => {
    const { store } = await open(t)
    const document = JSON.stringify({ origins: Array.from({ length: 100 }, (_, i) => `https://app-${i}.example.com`), note: 'é ✓ \u0000 "quoted"' })
    t.equal(await store.compareAndSet({ version: 'big', document }, undefined), true)
    t.same(await store.read(), { version: 'big', document })
  })
}

policyStoreContract(t, 'memory', async () => {
  const store = new MemoryPolicyStore()
  return { store, other: store }
})

async function redisPolicyStore (t: Pick<Test, 'teardown'>): Promise<{ store: RedisPolicyStore, client: Redis, url: string }> {
  const redis = await testRedis()
  const client = new Redis(redis.url)
  const store = new RedisPolicyStore(client)
  t.teardown(async () => { await store.close(); await client.quit() })
  return { store, client, url: redis.url }
}

policyStoreContract(t, 'redis', async (t) => {
  await flushRedis((await testRedis()).url)
  return { store: (await redisPolicyStore(t)).store, other: (await redisPolicyStore(t)).store }
})

policyStoreContract(t, 'a 3-master Redis Cluster', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  return { store: new RedisPolicyStore(await clusterClient(t, cluster)), other: new RedisPolicyStore(await clusterClient(t, cluster)) }
})

t.test('redis: one hash {missive-policy}:current (v, d), no expiry; version() is one HGET, a write one script', async (t) => {
  await flushRedis((await testRedis()).url)
  const { store, client, url } = await redisPolicyStore(t)
  await store.compareAndSet({ version: 'v1', document: '{"x":1}' }, null)
  t.equal(policyKey, '{missive-policy}:current')
  t.same(await client.keys('*'), [policyKey])
  t.same(await client.hgetall(policyKey), { v: 'v1', d: '{"x":1}' })
  t.equal(await client.ttl(policyKey), -1)
  t.same(await redisCommandsDuring(t, url, async () => { await store.version() }), ['hget'], 'the poll: one small read')
  t.same(await redisCommandsDuring(t, url, async () => { await store.read() }), ['hmget'])
  const write = await redisCommandsDuring(t, url, async () => { await store.compareAndSet({ version: 'v2', document: '{}' }, 'v1') })
  t.equal(write.length, 1, write.join(', '))
  t.match(write[0], /^evalsha$|^eval$/)
})

t.test('redis: a key of the wrong type, or a closed port, is a StoreUnavailable', async (t) => {
  await flushRedis((await testRedis()).url)
  const { store, client } = await redisPolicyStore(t)
  await client.set(policyKey, 'not a hash')
  await t.rejects(store.read(), StoreUnavailable)
  await t.rejects(store.version(), StoreUnavailable)
  await t.rejects(store.compareAndSet({ version: 'v', document: '{}' }, undefined), StoreUnavailable)

  const down = createRedisClient({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, redisClusterNodes: [] }, 'test')
  down.on('error', () => {})
  t.teardown(() => { down.disconnect() })
  const unreachable = new RedisPolicyStore(down)
  for (const operation of [async () => await unreachable.read(), async () => await unreachable.version(),
    async () => await unreachable.compareAndSet({ version: 'v', document: '{}' }, null)]) {
    const started = Date.now()
    const error: unknown = await operation().then(() => null, (err: unknown) => err)
    t.type(error, StoreUnavailable)
    t.ok((error as { cause?: unknown } | null)?.cause instanceof Error, 'the client\'s error is kept as cause')
    t.ok(Date.now() - started < 1500, `fails fast (${Date.now() - started} ms)`)
  }
})
