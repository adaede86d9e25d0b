import { Redis } from 'ioredis'
import t from 'tap'
import { StorageFull } from '../../src/errors.js'
import { RedisAbuseStore } from '../../src/storage/redis/redis-abuse-store.js'
import { RedisEventLog } from '../../src/storage/redis/redis-event-log.js'
import { RedisPolicyStore } from '../../src/storage/redis/redis-policy-store.js'
import { flushRedis, testRedis } from '../helper.js'
import { block, RULE } from './abuse-store.contract.js'
import { event } from './event-log.contract.js'

/**
 * A full Redis (maxmemory reached, noeviction) and the stores of issue 17: writes that would
 * grow memory are refused with StorageFull (the routes' 507), never a 500; lifting a block
 * (it frees memory) and reading still work.
 */
t.test('redis full: abuse, policy and event writes are StorageFull; lifts and reads still work', async (t) => {
  const { url } = await testRedis()
  await flushRedis(url)
  const client = new Redis(url)
  t.teardown(async () => { await client.config('SET', 'maxmemory', '0'); client.disconnect() })
  const abuse = new RedisAbuseStore(client)
  const policy = new RedisPolicyStore(client)
  const events = new RedisEventLog(client, 100)
  await abuse.putBlock(block('kept', { until: Date.now() + 60_000 }))

  await client.config('SET', 'maxmemory-policy', 'noeviction')
  await client.config('SET', 'maxmemory', '1')
  await t.rejects(abuse.addScore('192.0.2.1', 10, Date.now(), RULE), StorageFull, 'a new score')
  await t.rejects(abuse.putBlock(block('new', { until: Date.now() + 60_000 })), StorageFull, 'a new block')
  await t.rejects(policy.compareAndSet({ version: 'v2', document: '{}' }, null), StorageFull, 'a policy write')
  await t.rejects(events.append(event(1)), StorageFull, 'an event')
  t.same((await abuse.listBlocks(Date.now())).map((b) => b.id), ['kept'], 'reading the blocks works')
  t.match(await abuse.removeBlock('kept'), { id: 'kept' }, 'a lift frees memory: it goes through')
  t.same(await abuse.listBlocks(Date.now()), [])

  await client.config('SET', 'maxmemory', '0')
  t.ok((await abuse.addScore('192.0.2.1', 10, Date.now(), RULE)).score >= 10, 'writes resume once Redis has room')
})
