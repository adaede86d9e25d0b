import type { Cluster, Redis } from 'ioredis'
import { type ReplayScope, type ReplayStore, replayTtl } from '../replay-store.js'
import { toStoreError } from '../store-errors.js'
import { replayKey } from './keys.js'

/**
 * Proof ids in Redis, one key each: `SET replay:<scope>:{<SHA-256 of id>} 1 NX PX ttl`, one
 * plain command per call (no script: SET NX is atomic on its own, across every instance).
 * Redis drops each key when its TTL ends. A full Redis (noeviction) refuses the SET:
 * StorageFull, and the proof is not accepted.
 */
export class RedisReplayStore implements ReplayStore {
  constructor (private readonly redis: Redis | Cluster) {}

  async firstUse (scope: ReplayScope, id: string, ttlMs: number): Promise<boolean> {
    const px = replayTtl(ttlMs)
    try {
      return await this.redis.set(replayKey(scope, id), '1', 'PX', px, 'NX') === 'OK'
    } catch (err) {
      throw toStoreError(err)
    }
  }

  async close (): Promise<void> {
    // The client belongs to whoever made it (the storage plugin).
  }
}
