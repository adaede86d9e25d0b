/**
 * A public key a service registered for signing its requests (one of its "client keys"),
 * as the store keeps it. Times are epoch milliseconds.
 */
export interface StoredClientKey {
  /** RFC 7638 thumbprint of the public key: its name */
  readonly keyid: string
  readonly alg: 'ed25519' | 'ecdsa-p256-sha256'
  /** the public JWK (public members only) */
  readonly jwk: Readonly<Record<string, string>>
  readonly createdAt: number
}

export type AddClientKeyResult = 'added' | 'exists' | 'full'

/**
 * The client keys of every API key, per API key id. A Redis and an in-memory implementation
 * pass the same contract tests (test/storage/client-key-store.contract.ts). Failures reject
 * with StoreUnavailable (503) or StorageFull (507).
 *
 * The store does not move the key store's epoch: whoever changes client keys calls
 * keyStore.bumpEpoch() afterwards, so that every instance drops what it cached.
 */
export interface ClientKeyStore {
  /**
   * Adds `key` under the API key `keyId` unless that keyid is there already ('exists', the
   * stored key kept) or the API key already has `max` keys ('full'). Atomic: racing adds
   * never exceed max. `max` must be a whole number ≥ 0; otherwise a RangeError.
   */
  add (keyId: string, key: StoredClientKey, max: number): Promise<AddClientKeyResult>
  /** The API key's client keys, oldest first (createdAt, then keyid). */
  list (keyId: string): Promise<StoredClientKey[]>
  /** Forgets one; false when there was no such key. */
  remove (keyId: string, keyid: string): Promise<boolean>
  close (): Promise<void>
}

/** oldest first (createdAt, then keyid) */
export function byAge (a: StoredClientKey, b: StoredClientKey): number {
  return a.createdAt - b.createdAt || (a.keyid < b.keyid ? -1 : a.keyid > b.keyid ? 1 : 0)
}

/** `max` as given; a RangeError unless it is a whole number ≥ 0. */
export function clientKeyMax (max: number): number {
  if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`the most client keys must be a whole number ≥ 0, not ${max}`)
  return max
}
