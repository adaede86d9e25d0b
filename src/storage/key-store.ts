/** An API key as the store keeps it. Times are epoch milliseconds. Never leaves the server as is. */
export interface StoredKey {
  readonly id: string
  readonly name: string
  readonly scopes: readonly string[]
  readonly createdAt: number
  /** null: never expires */
  readonly expiresAt: number | null
  readonly lastUsedAt: number | null
  readonly revokedAt: number | null
  /** requests per RATE_LIMIT_WINDOW_MS; null: RATE_LIMIT_API_MAX */
  readonly rateLimit: number | null
  /** argon2id hash (PHC string) of the current secret */
  readonly hash: string
  /** the secret before the last rotation, accepted until previousUntil */
  readonly previousHash: string | null
  readonly previousUntil: number | null
  /** canonical CIDR strings (no spaces) the key may be used from; empty: any address */
  readonly allowedIps: readonly string[]
  /** every request made with the key must carry a signature by one of its registered client keys */
  readonly requireSignature: boolean
}

/**
 * The settings `update` may change: the fields present are applied, the others kept.
 * `rateLimit: null` and `allowedIps: []` go back to the default (no own limit, any address).
 */
export interface KeyPatch {
  readonly name?: string
  readonly scopes?: readonly string[]
  readonly rateLimit?: number | null
  readonly allowedIps?: readonly string[]
  readonly requireSignature?: boolean
}

export interface Rotation {
  readonly hash: string
  readonly previousHash: string | null
  readonly previousUntil: number | null
}

/** The answer of the revoke operation. */
export type RevokeResult = 'revoked' | 'already-revoked' | 'unknown'

export interface TokenGate {
  readonly failures: FailureCount
  readonly denied: boolean
}

export interface FailureCount {
  readonly count: number
  /** ms until the counting window ends (0 when nothing is counted) */
  readonly resetMs: number
}

/**
 * Everything authentication keeps in the store: key records, the revocation epoch, the JWT
 * deny list and the per-IP failure counters. A Redis and an in-memory implementation pass
 * the same contract tests (test/storage/key-store.test.ts). Failures reject with
 * StoreUnavailable (503) or StorageFull (507).
 */
export interface KeyStore {
  /** Writes a new key; false (and nothing written) when the id is taken. */
  create (key: StoredKey): Promise<boolean>
  get (id: string): Promise<StoredKey | null>
  /** Every key, revoked ones included, oldest first. */
  list (): Promise<StoredKey[]>
  /** Sets revokedAt once (a second revoke keeps the first time) and bumps the epoch. */
  revoke (id: string, at: number): Promise<RevokeResult>
  /** Replaces the hashes of a key that is not revoked, and bumps the epoch; null when unknown or revoked. */
  rotate (id: string, rotation: Rotation): Promise<StoredKey | null>
  /**
   * Applies the fields present in `patch` to a key that exists and is not revoked, in one
   * atomic step (a racing revoke either comes first, and nothing is written, or after), and
   * bumps the epoch. Returns the record after; null (nothing written, epoch kept) when the
   * key is unknown or revoked.
   */
  update (id: string, patch: KeyPatch): Promise<StoredKey | null>
  /** Records lastUsedAt, at most once per `intervalMs` per key across every instance. */
  touch (id: string, at: number, intervalMs: number): Promise<void>
  /**
   * A number that changes whenever a key is revoked, rotated or updated anywhere, or
   * bumpEpoch is called. Instances poll it and drop their verification caches when it moves.
   */
  epoch (): Promise<number>
  /**
   * Moves the epoch, so that every instance empties its key caches: for a change kept by
   * another store that those caches depend on (a key's registered client keys).
   */
  bumpEpoch (): Promise<void>

  /** Puts a token id on the deny list until `expiresAt` (ms). */
  denyToken (jti: string, expiresAt: number): Promise<void>
  isTokenDenied (jti: string): Promise<boolean>

  /** Counts one failed authentication for `ip` in a fixed window of `windowMs` that starts with the first. */
  recordAuthFailure (ip: string, windowMs: number): Promise<FailureCount>
  authFailures (ip: string): Promise<FailureCount>
  /** authFailures(ip) and isTokenDenied(jti) at once: what every bearer-token call checks. */
  tokenGate (ip: string, jti: string): Promise<TokenGate>

  close (): Promise<void>
}
