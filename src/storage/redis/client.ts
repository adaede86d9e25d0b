import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { Config } from '../../config.js'
import { SELF_BATCHED_COMMANDS } from './redis-message-store.js'

export type RedisClient = Redis | Cluster

// Fail fast while Redis is away: a request gets a 503 within about a second instead of
// waiting in an offline queue that grows without bound, and the client keeps reconnecting
// in the background so service resumes by itself when Redis returns.
const failFast: RedisOptions = {
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 1000,
  connectTimeout: 2000,
  // Commands issued in the same tick share one round trip.
  enableAutoPipelining: true,
  // These are already the batch of their turn (sent at setImmediate): through the auto-pipeline
  // they would wait for one more turn of the event loop.
  autoPipeliningIgnoredCommands: [...SELF_BATCHED_COMMANDS]
}

const reconnectDelay = (attempt: number): number => Math.min(50 * attempt, 500)

export function createRedisClient (config: Pick<Config, 'REDIS_URL' | 'redisClusterNodes'>, purpose = 'main'): RedisClient {
  const connectionName = `missive-${purpose}`
  if (config.redisClusterNodes.length > 0) {
    const { enableOfflineQueue, autoPipeliningIgnoredCommands, ...redisOptions } = failFast
    return new Cluster([...config.redisClusterNodes], {
      enableOfflineQueue,
      enableAutoPipelining: true,
      // (the Cluster's own option: the nodes' connections never auto-pipeline, it does)
      autoPipeliningIgnoredCommands,
      clusterRetryStrategy: reconnectDelay,
      redisOptions: { ...redisOptions, connectionName }
    })
  }
  if (config.REDIS_URL === undefined) throw new Error('createRedisClient needs REDIS_URL or REDIS_CLUSTER_NODES')
  return new Redis(config.REDIS_URL, { ...failFast, connectionName, retryStrategy: reconnectDelay })
}

/** Resolves once the client is ready, or after `timeoutMs` (false): start-up does not wait on an outage. */
export async function waitUntilReady (client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return true
  return await new Promise((resolve) => {
    const done = (ready: boolean): void => {
      clearTimeout(timer)
      client.off('ready', onReady)
      resolve(ready)
    }
    const onReady = (): void => done(true)
    const timer = setTimeout(() => done(false), timeoutMs)
    client.once('ready', onReady)
  })
}
