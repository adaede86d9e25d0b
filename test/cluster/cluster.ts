import { Cluster } from 'ioredis'
import t, { type Test } from 'tap'
import { RedisCluster } from '../../scripts/lib/redis-cluster.js'
import { loadConfig } from '../../src/config.js'
import { createRedisClient } from '../../src/storage/redis/client.js'

let shared: Promise<RedisCluster> | null = null

/** The test file's own 3-master Redis Cluster, started on first use and destroyed when the file ends. */
export async function testCluster (): Promise<RedisCluster> {
  if (shared === null) {
    shared = RedisCluster.start()
    const started = shared
    t.teardown(async () => { await (await started).destroy() })
  }
  return await shared
}

/** A cluster client made the way the server makes it (REDIS_CLUSTER_NODES), quit when the test ends. */
export async function clusterClient (test: Test, cluster: RedisCluster): Promise<Cluster> {
  const client = createRedisClient(loadConfig({}, { REDIS_CLUSTER_NODES: cluster.nodes }), 'test')
  if (!(client instanceof Cluster)) throw new Error('REDIS_CLUSTER_NODES did not make a cluster client')
  test.teardown(async () => { await client.quit().catch(() => client.disconnect()) })
  await new Promise<void>((resolve, reject) => {
    if (client.status === 'ready') { resolve(); return }
    client.once('ready', () => resolve())
    client.once('error', reject)
  })
  return client
}
