import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { StoreUnavailable } from '../../src/errors.js'
import { MemoryWebhookStore } from '../../src/storage/memory/memory-webhook-store.js'
import { createRedisClient } from '../../src/storage/redis/client.js'
import { webhookDeliveriesKey, webhookDeliveryEntriesKey, webhookEndpointsKey } from '../../src/storage/redis/keys.js'
import { RedisWebhookStore } from '../../src/storage/redis/redis-webhook-store.js'
import { clusterClient, testCluster } from '../cluster/cluster.js'
import { flushRedis, redisCommandsDuring, testRedis } from '../helper.js'
import { freePort } from '../helpers/redis-server.js'
import { sampleDelivery, sampleEndpoint, webhookStoreContract } from './webhook-store.contract.js'

webhookStoreContract(t, 'memory', async () => new MemoryWebhookStore())

/** A webhook store on a flushed throwaway Redis, with its client (for looking at what it wrote) and the Redis' URL. */
async function redisWebhookStore (t: Pick<Test, 'teardown'>): Promise<{ store: RedisWebhookStore, client: Redis, url: string }> {
  const redis = await testRedis()
  await flushRedis(redis.url)
  const client = new Redis(redis.url)
  const store = new RedisWebhookStore(client)
  t.teardown(async () => { await store.close(); await client.quit() })
  return { store, client, url: redis.url }
}

webhookStoreContract(t, 'redis', async (t) => (await redisWebhookStore(t)).store)

webhookStoreContract(t, 'redis cluster (3 masters)', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  return new RedisWebhookStore(await clusterClient(t as Parameters<typeof clusterClient>[0], cluster))
})

t.test('redis cluster: an owner\'s endpoints and logs share one slot; owners spread over the slots', async (t) => {
  const cluster = await testCluster()
  const client = await clusterClient(t, cluster)
  const slot = async (key: string): Promise<unknown> => await client.call('CLUSTER', 'KEYSLOT', key)
  const endpoints = await slot(webhookEndpointsKey('abcdefabcdef'))
  t.equal(await slot(webhookDeliveriesKey('abcdefabcdef', 'wh_1')), endpoints)
  t.equal(await slot(webhookDeliveryEntriesKey('abcdefabcdef', 'wh_2')), endpoints)
  t.not(await slot(webhookEndpointsKey('abcdefabcdeg')), endpoints)
})

t.test('redis: one hash per owner, a sorted set and a hash per endpoint\'s log, nothing expiring', async (t) => {
  const { store, client } = await redisWebhookStore(t)
  const endpoint = sampleEndpoint('wh_layout', { createdAt: 1_700_000_000_001 })
  await store.add('ownerlayout1', endpoint, 10)
  await store.recordDelivery('ownerlayout1', 'wh_layout', sampleDelivery('evt_1', { createdAt: 1_700_000_000_002 }))
  t.equal(webhookEndpointsKey('ownerlayout1'), 'webhooks:{ownerlayout1}:endpoints')
  t.equal(webhookDeliveriesKey('ownerlayout1', 'wh_layout'), 'webhooks:{ownerlayout1}:deliveries:wh_layout')
  t.equal(webhookDeliveryEntriesKey('ownerlayout1', 'wh_layout'), 'webhooks:{ownerlayout1}:deliveries:wh_layout:entries')
  t.same((await client.keys('*')).sort(), [
    webhookDeliveriesKey('ownerlayout1', 'wh_layout'), webhookDeliveryEntriesKey('ownerlayout1', 'wh_layout'), webhookEndpointsKey('ownerlayout1')
  ].sort())
  t.equal(await client.type(webhookEndpointsKey('ownerlayout1')), 'hash')
  t.equal(await client.type(webhookDeliveriesKey('ownerlayout1', 'wh_layout')), 'zset')
  t.equal(await client.type(webhookDeliveryEntriesKey('ownerlayout1', 'wh_layout')), 'hash')
  for (const key of await client.keys('*')) t.equal(await client.ttl(key), -1, `${key}: no expiry`)
  const { id, ...rest } = endpoint
  t.same(JSON.parse(await client.hget(webhookEndpointsKey('ownerlayout1'), id) as string), rest, 'the endpoint as JSON, its id the field')
  t.equal(await client.zscore(webhookDeliveriesKey('ownerlayout1', 'wh_layout'), 'evt_1'), '1700000000002', 'the event ordered by its createdAt')
  await store.remove('ownerlayout1', 'wh_layout')
  t.same(await client.keys('*'), [], 'removing the only endpoint leaves nothing behind')
})

t.test('redis: what each operation costs in commands', async (t) => {
  const { store, url } = await redisWebhookStore(t)
  const add = await redisCommandsDuring(t, url, async () => { await store.add('ownercmds001', sampleEndpoint('wh_cmds'), 10) })
  t.equal(add.length, 1, add.join(', '))
  t.match(add[0], /^evalsha$|^eval$/)
  t.same(await redisCommandsDuring(t, url, async () => { await store.list('ownercmds001') }), ['hgetall'], 'list (and so subscribers): one HGETALL')
  t.same(await redisCommandsDuring(t, url, async () => { await store.get('ownercmds001', 'wh_cmds') }), ['hget'])
  const update = await redisCommandsDuring(t, url, async () => { await store.update('ownercmds001', 'wh_cmds', (e) => ({ ...e, failingSince: 1 })) })
  t.equal(update.length, 2, `update: a read and the compare-and-set (${update.join(', ')})`)
  t.same(await redisCommandsDuring(t, url, async () => { await store.update('ownercmds001', 'wh_cmds', (e) => e) }), ['hget'], 'an update that changes nothing writes nothing')
  for (const [what, operation] of [
    ['recordDelivery', async () => await store.recordDelivery('ownercmds001', 'wh_cmds', sampleDelivery('evt_1'))],
    ['listDeliveries', async () => await store.listDeliveries('ownercmds001', 'wh_cmds')],
    ['remove', async () => await store.remove('ownercmds001', 'wh_cmds')]
  ] as const) {
    const commands = await redisCommandsDuring(t, url, operation)
    t.equal(commands.length, 1, `${what}: one script (${commands.join(', ')})`)
  }
  t.same(await redisCommandsDuring(t, url, async () => {
    await t.rejects(store.add('ownercmds001', sampleEndpoint('wh_x'), 1.5), RangeError)
  }), [], 'a bad max is refused before any command')
})

t.test('redis: keys of the wrong type are a StoreUnavailable, not a crash', async (t) => {
  const { store, client } = await redisWebhookStore(t)
  await client.set(webhookEndpointsKey('wrongtype001'), 'not a hash')
  await t.rejects(store.add('wrongtype001', sampleEndpoint('wh_1'), 10), StoreUnavailable)
  await t.rejects(store.list('wrongtype001'), StoreUnavailable)
  await t.rejects(store.get('wrongtype001', 'wh_1'), StoreUnavailable)
  await t.rejects(store.update('wrongtype001', 'wh_1', (e) => e), StoreUnavailable)
  await t.rejects(store.recordDelivery('wrongtype001', 'wh_1', sampleDelivery('evt_1')), StoreUnavailable)
  await store.add('wrongtype002', sampleEndpoint('wh_1'), 10)
  await client.set(webhookDeliveriesKey('wrongtype002', 'wh_1'), 'not a sorted set')
  await t.rejects(store.recordDelivery('wrongtype002', 'wh_1', sampleDelivery('evt_1')), StoreUnavailable)
  await t.rejects(store.listDeliveries('wrongtype002', 'wh_1'), StoreUnavailable)
})

t.test('redis: a client to a closed port gets StoreUnavailable at once from every operation', async (t) => {
  const client = createRedisClient({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, redisClusterNodes: [] }, 'test')
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  const store = new RedisWebhookStore(client)
  for (const operation of [
    async () => await store.add('ownerdown001', sampleEndpoint('wh_1'), 10),
    async () => await store.list('ownerdown001'),
    async () => await store.get('ownerdown001', 'wh_1'),
    async () => await store.update('ownerdown001', 'wh_1', (e) => e),
    async () => await store.remove('ownerdown001', 'wh_1'),
    async () => await store.recordDelivery('ownerdown001', 'wh_1', sampleDelivery('evt_1')),
    async () => await store.listDeliveries('ownerdown001', 'wh_1')
  ]) {
    const started = Date.now()
    const error: unknown = await operation().then(() => null, (err: unknown) => err)
    t.type(error, StoreUnavailable)
    t.ok((error as { cause?: unknown } | null)?.cause instanceof Error, 'the client\'s error is kept as cause')
    t.ok(Date.now() - started < 1500, `fails fast (${Date.now() - started} ms)`)
  }
})
