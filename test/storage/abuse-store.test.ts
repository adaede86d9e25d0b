import { Redis } from 'ioredis'
import t from 'tap'
import { StoreUnavailable } from '../../src/errors.js'
import { MemoryAbuseStore } from '../../src/storage/memory/memory-abuse-store.js'
import { abuseScoreKey } from '../../src/storage/redis/keys.js'
import { RedisAbuseStore } from '../../src/storage/redis/redis-abuse-store.js'
import { flushRedis, testRedis } from '../helper.js'
import { freePort } from '../helpers/redis-server.js'
import { abuseStoreContract, block, RULE } from './abuse-store.contract.js'

abuseStoreContract(t, 'memory', async (t) => {
  const store = new MemoryAbuseStore()
  t.teardown(() => store.close())
  return { store }
})

async function redisStore (t: { teardown: (fn: () => unknown) => void }): Promise<{ store: RedisAbuseStore, client: Redis }> {
  const client = new Redis((await testRedis()).url)
  const store = new RedisAbuseStore(client)
  t.teardown(async () => { await store.close(); await client.quit() })
  return { store, client }
}

abuseStoreContract(t, 'redis', async (t) => {
  await flushRedis((await testRedis()).url)
  return { store: (await redisStore(t)).store, other: (await redisStore(t)).store }
})

t.test('redis: a score is one hash in the address\'s slot, kept a day after the last offence or block end', async (t) => {
  await flushRedis((await testRedis()).url)
  const { store, client } = await redisStore(t)
  await store.addScore('2001:db8:1:2::/64', 10, Date.now(), RULE)
  t.same(await client.keys('*'), [abuseScoreKey('2001:db8:1:2::/64')])
  t.equal(abuseScoreKey('2001:db8:1:2::/64'), 'abuse:{2001:db8:1:2::/64}:score')
  const ttl = await client.pttl(abuseScoreKey('2001:db8:1:2::/64'))
  t.ok(ttl > RULE.memoryMs - 5000 && ttl <= RULE.memoryMs, `pttl ${ttl}`)
  await store.addScore('2001:db8:1:2::/64', 100, Date.now(), RULE)
  const afterBlock = await client.pttl(abuseScoreKey('2001:db8:1:2::/64'))
  t.ok(afterBlock > RULE.memoryMs + 60_000 - 5000, `a block: kept a day after it ends (pttl ${afterBlock})`)
})

t.test('redis: a block that is not JSON is skipped and dropped, not thrown', async (t) => {
  await flushRedis((await testRedis()).url)
  const { store, client } = await redisStore(t)
  await store.putBlock(block('ok'))
  await client.hset('{missive-abuse}:blocks', 'junk', 'not json')
  t.same((await store.listBlocks(5_000)).map((b) => b.id), ['ok'])
  t.equal(await client.hexists('{missive-abuse}:blocks', 'junk'), 0)
})

t.test('redis: an unreachable Redis is StoreUnavailable on every operation', async (t) => {
  const client = new Redis({ port: await freePort(), lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
  client.on('error', () => {})
  const store = new RedisAbuseStore(client)
  t.teardown(() => client.disconnect())
  for (const operation of [
    async () => await store.addScore('192.0.2.1', 1, Date.now(), RULE),
    async () => await store.score('192.0.2.1', Date.now(), RULE),
    async () => { await store.putBlock(block('x')) },
    async () => await store.removeBlock('x'),
    async () => await store.listBlocks(Date.now()),
    async () => await store.blocksVersion()
  ] as Array<() => Promise<unknown>>) await t.rejects(operation() as Promise<never>, StoreUnavailable)
})
