/**
 * The runtime policy as the store keeps it: one versioned document (src/abuse/policy.ts
 * writes and reads the document; the store does not look inside it).
 */
export interface StoredPolicy {
  /** opaque; a new one with every write */
  readonly version: string
  /** JSON made by the policy service */
  readonly document: string
}

/**
 * One versioned document with compare-and-set. A Redis and an in-memory implementation pass
 * the same contract tests (test/storage/policy-store.test.ts, and test/cluster/ for a Cluster).
 * Failures reject with StoreUnavailable (503) or StorageFull (507).
 */
export interface PolicyStore {
  /** The stored document; null when nothing was ever written. */
  read (): Promise<StoredPolicy | null>
  /**
   * Only the version (null when nothing was ever written): what every instance polls, so it
   * must stay cheap (one small read, no document).
   */
  version (): Promise<string | null>
  /**
   * Writes `next` when the stored version is `expected` (null: nothing stored yet), or
   * whatever is stored when `expected` is undefined. Atomic: of racing writes with the same
   * `expected`, exactly one succeeds. Returns whether it wrote.
   */
  compareAndSet (next: StoredPolicy, expected: string | null | undefined): Promise<boolean>
  close (): Promise<void>
}
