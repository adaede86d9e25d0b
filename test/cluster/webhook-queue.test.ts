import { Cluster } from 'ioredis'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { createQueueRedisClient, QUEUE_PREFIX } from '../../src/webhooks/bullmq-queue.js'
import { sleep } from '../helper.js'
import { eventually, harness, type QueueKind } from '../webhooks/queue-harness.js'
import { testCluster } from './cluster.js'

/**
 * The BullMQ delivery queue on a real 3-master Redis Cluster (issue 19): BullMQ's scripts touch
 * many keys at once, so every key of the queue (and of the endpoint leases) must hash to one
 * slot: the `{missive-webhooks}` prefix. Delivery with a retry, dedupe across two instances,
 * the per-endpoint cap, and where the keys are.
 */

async function onCluster (): Promise<QueueKind> {
  const cluster = await testCluster()
  await cluster.flushAll()
  return { kind: 'bullmq', redis: { redisClusterNodes: loadConfig({}, { REDIS_CLUSTER_NODES: cluster.nodes }).redisClusterNodes } }
}

t.test('on the Cluster: a receiver that fails once gets the event on the retry, with the same webhook-id', async (t) => {
  const h = harness(t, await onCluster(), { scale: 1e-3 })
  const a = await h.endpoint({ statuses: [503] })
  const queue = h.open()
  await queue.enqueue([h.job(a, 'evt_cluster')])
  const attempts = await a.receiver.waitFor(2, 15_000)
  t.same(attempts.map((d) => [d.webhookId, d.status, d.verifiedBy.length]), [['evt_cluster', 503, 1], ['evt_cluster', 204, 1]])
  await eventually('logged as delivered', async () => (await h.logOf(a, 'evt_cluster'))?.state === 'delivered')
  t.match(await h.logOf(a, 'evt_cluster'), { attempts: 2, lastStatus: 204 })
})

t.test('on the Cluster: two instances deliver each event once, at most 2 at a time per endpoint, the waiting ones woken', async (t) => {
  const h = harness(t, await onCluster(), { scale: 1e-3 })
  const a = await h.endpoint({ holdMs: 100 })
  // a minute's safety-net delay: the waiting jobs are woken as deliveries end (in the queue's slot)
  const first = h.open({ busyDelayMs: 60_000 })
  const second = h.open({ busyDelayMs: 60_000 })
  const jobs = Array.from({ length: 8 }, (_, i) => h.job(a, `evt_pair_${i}`))
  await Promise.all([first.enqueue(jobs), second.enqueue(jobs)])
  await a.receiver.waitFor(8, 15_000)
  await sleep(300)
  t.equal(a.receiver.received.length, 8, 'each event once')
  t.equal(new Set(a.receiver.received.map((d) => d.webhookId)).size, 8)
  t.equal(a.receiver.maxInFlight, 2, 'the cap, across instances')
})

t.test('on the Cluster: every key of the queue is in one slot, on one master', async (t) => {
  const cluster = await testCluster()
  const h = harness(t, await onCluster(), { scale: 1e-3 })
  const a = await h.endpoint()
  const queue = h.open()
  await queue.enqueue([h.job(a, 'evt_slot')])
  await a.receiver.waitFor(1, 15_000)
  const keysPerNode = await cluster.eachNode(async (client) => await client.keys('*'))
  const withKeys = keysPerNode.filter((keys) => keys.length > 0)
  t.equal(withKeys.length, 1, 'one master holds them all')
  t.ok(withKeys[0]?.every((key) => key.startsWith(`${QUEUE_PREFIX}:`)), 'all under {missive-webhooks}')
  const slots = await cluster.eachNode(async (client) => await Promise.all((await client.keys('*')).map(async (key) => Number(await client.call('CLUSTER', 'KEYSLOT', key)))))
  t.equal(new Set(slots.flat()).size, 1, 'one slot')
})

// A cluster client whose nodes have all gone (between two reconnects: its pool is empty) must
// still end when told to. ioredis 6.0.0 left it 'disconnecting' for ever with its queued
// commands unanswered, so BullMQ's worker never finished closing and its lock timer kept the
// process alive (CI hung at the end of test/cluster/routes.test.ts). Patched in
// patches/ioredis+6.0.0.patch.
for (const how of ['disconnect', 'quit'] as const) {
  t.test(`a cluster client with every node gone ends on ${how}(), rejecting what it had queued`, async (t) => {
    const cluster = await testCluster()
    // made as the queue makes its connections: offline queue on, reconnecting
    const client = createQueueRedisClient({ redisClusterNodes: loadConfig({}, { REDIS_CLUSTER_NODES: cluster.nodes }).redisClusterNodes })
    if (!(client instanceof Cluster)) throw new Error('REDIS_CLUSTER_NODES did not make a cluster client')
    client.on('error', () => {})
    t.teardown(() => { client.disconnect() })
    // a connection to every master, each to be lost
    await client.ping()
    await Promise.all(client.nodes('master').map(async (node) => await node.ping()))
    await cluster.stop()
    t.teardown(async () => {
      for (const server of cluster.servers) await server.start()
      await cluster.waitUntilOk(20_000)
    })
    // The pool empties when the last node connection ends, then the client waits to reconnect.
    const emptied = Date.now()
    while (client.nodes('all').length > 0 || client.status === 'connecting' || client.status === 'connect') {
      if (Date.now() - emptied > 10_000) throw new Error(`the pool did not empty (${client.status})`)
      await sleep(5)
    }
    const queued = client.get('{x}k').then(() => 'answered', (err: Error) => err.message)
    if (how === 'disconnect') client.disconnect()
    else await settles(client.quit(), 2000)
    await eventually('the client ends', async () => client.status === 'end', 2000)
    t.equal(await settles(queued, 2000), 'None of startup nodes is available', 'the queued command is rejected')
  })
}

async function settles<T> (promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'pending'>((resolve) => { timer = setTimeout(() => resolve('pending'), ms) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}
