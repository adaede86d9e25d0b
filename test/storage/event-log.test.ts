import { Redis } from 'ioredis'
import t from 'tap'
import { StoreUnavailable } from '../../src/errors.js'
import { MemoryEventLog } from '../../src/storage/memory/memory-event-log.js'
import { createRedisClient } from '../../src/storage/redis/client.js'
import { securityEventsKey } from '../../src/storage/redis/keys.js'
import { REDIS_EVENT_LOG_SLACK, RedisEventLog } from '../../src/storage/redis/redis-event-log.js'
import { flushRedis, redisCommandsDuring, testRedis } from '../helper.js'
import { freePort } from '../helpers/redis-server.js'
import { event, eventLogContract } from './event-log.contract.js'

eventLogContract(t, 'memory', async (t, max) => {
  const log = new MemoryEventLog({ max })
  t.teardown(() => log.close())
  return { log, slack: 0 }
})

async function redisLog (t: { teardown: (fn: () => unknown) => void }, max: number): Promise<{ log: RedisEventLog, client: Redis, url: string }> {
  const { url } = await testRedis()
  const client = new Redis(url)
  const log = new RedisEventLog(client, max)
  t.teardown(async () => { await log.close(); await client.quit() })
  return { log, client, url }
}

eventLogContract(t, 'redis', async (t, max) => {
  await flushRedis((await testRedis()).url)
  return { log: (await redisLog(t, max)).log, other: (await redisLog(t, max)).log, slack: REDIS_EVENT_LOG_SLACK }
})

t.test('memory: the ring keeps exactly max, ids never go back with the clock', async (t) => {
  let now = 5000
  const log = new MemoryEventLog({ max: 3, now: () => now })
  const a = await log.append(event(1))
  const b = await log.append(event(2))
  now = 4000 // the clock went back
  const c = await log.append(event(3))
  now = 6000
  const d = await log.append(event(4))
  t.same([a, b, c, d], ['5000-0', '5000-1', '5000-2', '6000-0'])
  t.same((await log.list(null, 10)).items.map(e => e.id), [b, c, d])
  t.throws(() => new MemoryEventLog({ max: 0 }), RangeError)
})

t.test('redis: one XADD with MAXLEN ~ per append, one XRANGE per page, on one hash-tagged key', async (t) => {
  await flushRedis((await testRedis()).url)
  const { log, client, url } = await redisLog(t, 10_000)
  t.equal(securityEventsKey, '{missive-events}:stream')
  const appendCommands = await redisCommandsDuring(t, url, async () => { await log.append(event(1)) })
  t.same(appendCommands, ['xadd'])
  const listCommands = await redisCommandsDuring(t, url, async () => { await log.list(null, 10) })
  t.same(listCommands, ['xrange'])
  t.same(await client.keys('*'), [securityEventsKey])
  t.equal(await client.type(securityEventsKey), 'stream')
  const [[id, fields]] = await client.xrange(securityEventsKey, '-', '+') as [[string, string[]]]
  t.match(id, /^\d+-\d+$/)
  t.same(fields, ['type', 'auth.failure', 'at', event(1).at, 'ip', '192.0.2.1', 'requestId', 'req-1', 'detail', '{"n":1,"reason":"invalid"}'], 'null fields left out')
})

t.test('redis: a malformed after never reaches Redis', async (t) => {
  await flushRedis((await testRedis()).url)
  const { log, url } = await redisLog(t, 10)
  const commands = await redisCommandsDuring(t, url, async () => {
    await t.rejects(log.list('(0-0 + COUNT 1', 10))
    await t.rejects(log.list('-', 10))
  })
  t.same(commands, [])
})

t.test('redis: a client to a closed port gets StoreUnavailable', async (t) => {
  const client = createRedisClient({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, redisClusterNodes: [] }, 'test')
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const log = new RedisEventLog(client, 10)
  await t.rejects(log.append(event(1)), StoreUnavailable)
  await t.rejects(log.list(null, 10), StoreUnavailable)
})
