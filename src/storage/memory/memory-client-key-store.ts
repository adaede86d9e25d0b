import { type AddClientKeyResult, byAge, clientKeyMax, type ClientKeyStore, type StoredClientKey } from '../client-key-store.js'

/** Client keys of this process only. Each operation is one synchronous step, so `add` is as atomic as the Redis script. */
export class MemoryClientKeyStore implements ClientKeyStore {
  /** API key id → keyid → key */
  private readonly keys = new Map<string, Map<string, StoredClientKey>>()

  async add (keyId: string, key: StoredClientKey, max: number): Promise<AddClientKeyResult> {
    const owned = this.keys.get(keyId) ?? new Map<string, StoredClientKey>()
    if (owned.has(key.keyid)) return 'exists'
    if (owned.size >= clientKeyMax(max)) return 'full'
    owned.set(key.keyid, { ...key, jwk: { ...key.jwk } })
    this.keys.set(keyId, owned)
    return 'added'
  }

  async list (keyId: string): Promise<StoredClientKey[]> {
    return [...this.keys.get(keyId)?.values() ?? []].sort(byAge)
  }

  async remove (keyId: string, keyid: string): Promise<boolean> {
    const owned = this.keys.get(keyId)
    if (owned === undefined || !owned.delete(keyid)) return false
    if (owned.size === 0) this.keys.delete(keyId)
    return true
  }

  async close (): Promise<void> {}
}
