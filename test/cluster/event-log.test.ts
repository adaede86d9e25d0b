import t from 'tap'
import { securityEventsKey } from '../../src/storage/redis/keys.js'
import { REDIS_EVENT_LOG_SLACK, RedisEventLog } from '../../src/storage/redis/redis-event-log.js'
import { event, eventLogContract } from '../storage/event-log.contract.js'
import { clusterClient, testCluster } from './cluster.js'

eventLogContract(t, 'event log on a 3-master Redis Cluster', async (t, max) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  return {
    log: new RedisEventLog(await clusterClient(t, cluster), max),
    other: new RedisEventLog(await clusterClient(t, cluster), max),
    slack: REDIS_EVENT_LOG_SLACK
  }
})

t.test('the feed is one stream in one slot', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  const client = await clusterClient(t, cluster)
  const log = new RedisEventLog(client, 100)
  for (let i = 0; i < 10; i++) await log.append(event(i))
  const perNode = await cluster.eachNode(async (node) => await node.dbsize())
  t.same(perNode.filter(n => n > 0), [1], `one key on one master: ${perNode.join(', ')}`)
  t.equal(await client.xlen(securityEventsKey), 10)
})
