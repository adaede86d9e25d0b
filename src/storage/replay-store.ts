import { createHash } from 'node:crypto'

/** what a remembered id is: a DPoP proof's jti, or a request signature's nonce */
export type ReplayScope = 'dpop' | 'sig'

/**
 * The replay cache: proof ids (DPoP jti, signature nonces) seen recently, by any instance.
 * A Redis and an in-memory implementation pass the same contract tests
 * (test/storage/replay-store.contract.ts). Failures reject with StoreUnavailable (503) or
 * StorageFull (507): a proof whose id cannot be remembered is never accepted.
 */
export interface ReplayStore {
  /**
   * true the first time (scope, id) is seen within ttlMs, by any instance; false after:
   * atomic set-if-absent with a TTL, so of any number of racing calls exactly one gets true.
   * ttlMs must be a positive finite number (rounded up to a whole ms); otherwise a RangeError.
   */
  firstUse (scope: ReplayScope, id: string, ttlMs: number): Promise<boolean>
  close (): Promise<void>
}

/** An id as the stores keep it: its SHA-256, base64url (43 characters, whatever the id's size). */
export function replayDigest (id: string): string {
  return createHash('sha256').update(id).digest('base64url')
}

/** ttlMs as a whole number of ms, at least 1; a RangeError for anything else than a positive finite number. */
export function replayTtl (ttlMs: number): number {
  if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError(`replay TTL must be a positive number of ms, not ${ttlMs}`)
  return Math.ceil(ttlMs)
}
