/**
 * One of the server's token-signing keys (an "issuer key") as the store keeps it. The
 * key for a rotation period is named `<alg>:<rotationMs>:<sealTag>:<period>` so that every instance computes the
 * same name and the first write wins. Times are epoch milliseconds.
 */
export interface StoredIssuerKey {
  /** `<alg>:<rotationMs>:<sealTag>:<period>`: unique per algorithm and rotation period */
  readonly name: string
  /** RFC 7638 thumbprint of the public key */
  readonly kid: string
  readonly alg: 'ES256' | 'EdDSA'
  /** the public JWK (kty, crv, x[, y]): what the JWKS publishes */
  readonly publicJwk: Readonly<Record<string, string>>
  /** the private JWK as JSON, sealed with ENCRYPTION_KEY when it is set */
  readonly sealedPrivateJwk: string
  readonly createdAt: number
  /** when it starts signing (start of its period) */
  readonly signsFrom: number
  /** when it stops signing (end of its period); published until its last token has expired */
  readonly signsUntil: number
}

/**
 * Where the issuer keys live: on Redis one hash shared by every instance, in memory a map
 * per process. A Redis and an in-memory implementation pass the same contract tests
 * (test/storage/issuer-key-store.contract.ts). Failures reject with StoreUnavailable (503).
 */
export interface IssuerKeyStore {
  /**
   * Writes `key` unless a key of that name exists, atomically: of any number of callers
   * racing with the same name (on any instance), exactly one writes. Returns the key that
   * is stored under the name afterwards (`key` itself, or the one that won).
   */
  createIfAbsent (key: StoredIssuerKey): Promise<StoredIssuerKey>
  /** Every stored key, in no particular order. */
  list (): Promise<StoredIssuerKey[]>
  /** Forgets keys by name (keys whose last token has long expired). */
  remove (names: readonly string[]): Promise<void>
}
