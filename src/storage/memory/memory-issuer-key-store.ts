import type { IssuerKeyStore, StoredIssuerKey } from '../issuer-key-store.js'

/** Issuer keys of this process only (API.md: on the memory store, a key per process). */
export class MemoryIssuerKeyStore implements IssuerKeyStore {
  private readonly keys = new Map<string, StoredIssuerKey>()

  async createIfAbsent (key: StoredIssuerKey): Promise<StoredIssuerKey> {
    const existing = this.keys.get(key.name)
    if (existing !== undefined) return existing
    this.keys.set(key.name, key)
    return key
  }

  async list (): Promise<StoredIssuerKey[]> {
    return [...this.keys.values()]
  }

  async remove (names: readonly string[]): Promise<void> {
    for (const name of names) this.keys.delete(name)
  }
}
