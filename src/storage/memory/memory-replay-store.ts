import { type ReplayScope, type ReplayStore, replayDigest, replayTtl } from '../replay-store.js'
import { TtlMap } from './ttl-map.js'

export interface MemoryReplayStoreOptions {
  now?: () => number
  /** at most this many remembered ids (default 1e6: ~150 MB at worst) */
  maxEntries?: number
  sweepIntervalMs?: number
}

/**
 * Proof ids seen by this process, each kept (as its SHA-256, so an id's size does not
 * matter) until its TTL ends. `firstUse` is one synchronous step: of racing calls exactly
 * one gets true.
 *
 * Bounded: at `maxEntries` live ids a new id is refused (firstUse returns false, as for a
 * replay) until some expire; a live id is never forgotten to make room, so a replay is
 * never accepted. A flood of fresh ids can thus make proofs fail for at most one TTL, as
 * on a full Redis (where SET fails with OOM: 507).
 */
export class MemoryReplayStore implements ReplayStore {
  private readonly seen: TtlMap<true>
  private readonly now: () => number

  constructor (options: MemoryReplayStoreOptions = {}) {
    this.now = options.now ?? Date.now
    this.seen = new TtlMap({ now: this.now, maxEntries: options.maxEntries ?? 1_000_000, sweepIntervalMs: options.sweepIntervalMs ?? 30_000 })
  }

  async firstUse (scope: ReplayScope, id: string, ttlMs: number): Promise<boolean> {
    return this.seen.setIfAbsent(`${scope}:${replayDigest(id)}`, true, this.now() + replayTtl(ttlMs))
  }

  async close (): Promise<void> {
    this.seen.close()
  }
}
