import type { PolicyStore, StoredPolicy } from '../policy-store.js'

/** The policy of this process only. Each operation is one synchronous step, so compareAndSet is as atomic as the Redis script. */
export class MemoryPolicyStore implements PolicyStore {
  private stored: StoredPolicy | null = null

  async read (): Promise<StoredPolicy | null> {
    return this.stored
  }

  async version (): Promise<string | null> {
    return this.stored?.version ?? null
  }

  async compareAndSet (next: StoredPolicy, expected: string | null | undefined): Promise<boolean> {
    if (expected !== undefined && (this.stored?.version ?? null) !== expected) return false
    this.stored = { version: next.version, document: next.document }
    return true
  }

  async close (): Promise<void> {}
}
