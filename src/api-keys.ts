import { hash, randomBytes, randomInt } from 'node:crypto'
import argon2 from 'argon2'
import { LRUCache } from 'lru-cache'
import { IpAllowList, InvalidCidr, normalizeCidrs } from './auth/ip-allow-list.js'
import type { EventContext, SecurityEventSink } from './abuse/events.js'
import { InvalidAllowedIps, KeyNotFound, KeyNotActive } from './errors.js'
import { isoTime } from './iso-time.js'
import { type Poller, startPoller } from './poller.js'
import type { KeyPatch, KeyStore, StoredKey } from './storage/key-store.js'

export const SCOPES = ['messages:read', 'messages:write', 'messages:delete', 'keys:admin', 'metrics:read', 'security:admin'] as const
export type Scope = typeof SCOPES[number]
export function isScope (value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value)
}

// ---- Key format: msk_<keyId>_<secret> ---------------------------------------------------

const KEY_ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
const KEY_ID_LENGTH = 12
const KEY_PATTERN = /^msk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/
export const KEY_ID_PATTERN = '^[a-z0-9]{12}$'

/** 12 chars of [a-z0-9] (62 bits) from the CSPRNG: a lookup handle, not a secret. */
export function newKeyId (): string {
  let id = ''
  for (let i = 0; i < KEY_ID_LENGTH; i++) id += KEY_ID_ALPHABET[randomInt(KEY_ID_ALPHABET.length)]
  return id
}

/** 32 random bytes (256 bits) as 43 chars of base64url. */
export function newSecret (): string {
  return randomBytes(32).toString('base64url')
}

export function formatKey (keyId: string, secret: string): string {
  return `msk_${keyId}_${secret}`
}

/** null for anything that is not exactly a key of this service's format. */
export function parseKey (key: string): { keyId: string, secret: string } | null {
  const match = KEY_PATTERN.exec(key)
  return match === null ? null : { keyId: match[1] as string, secret: match[2] as string }
}

// ---- Hashing -----------------------------------------------------------------------------

/**
 * argon2id with OWASP's first recommended configuration (Password Storage Cheat Sheet):
 * 19 MiB of memory, 2 iterations, 1 lane. A secret carries 256 random bits, so no
 * parameters could make guessing it feasible; the hash is defence in depth for a leaked
 * store, and heavier settings would only make each cold verification (and each attacker
 * probe with a real key id) cost the server more. Stored as a PHC string, so the
 * parameters travel with each hash and can be raised later without breaking old keys.
 */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

/** Hashes with ARGON2_OPTIONS; `cost` replaces its memory and time cost (tests only: Config.apiKeyHashing). */
export async function hashSecret (secret: string, cost?: ArgonCost): Promise<string> {
  return await argon2.hash(secret, { ...ARGON2_OPTIONS, ...cost })
}

export interface ArgonCost { readonly memoryCost: number, readonly timeCost: number }

export async function verifySecret (hash: string, secret: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, secret)
  } catch {
    return false
  }
}

// ---- The key service ---------------------------------------------------------------------

/** What a key may show: never its hash, never its secret. */
export interface KeyView {
  id: string
  name: string
  scopes: Scope[]
  createdAt: string
  expiresAt: string | null
  lastUsedAt: string | null
  revokedAt: string | null
  /** requests per RATE_LIMIT_WINDOW_MS; null: RATE_LIMIT_API_MAX */
  rateLimit: number | null
  /** CIDRs the key (and its tokens) may be used from; empty: any address */
  allowedIps: string[]
  /** every request of the key (and of its tokens) must carry an RFC 9421 signature */
  requireSignature: boolean
}

/** The answer of create and rotate: the plaintext key, shown once. */
export interface IssuedKey {
  id: string
  key: string
  name: string
  scopes: Scope[]
  createdAt: string
  expiresAt: string | null
  rateLimit: number | null
  allowedIps: string[]
  requireSignature: boolean
}

export interface NewKey {
  name: string
  scopes: readonly Scope[]
  expiresInDays?: number | undefined
  rateLimit?: number | undefined
  allowedIps?: readonly string[] | undefined
  requireSignature?: boolean | undefined
}

/** What PATCH may change; absent fields stay as they are. */
export interface KeyChanges {
  name?: string | undefined
  scopes?: readonly Scope[] | undefined
  /** null: back to RATE_LIMIT_API_MAX */
  rateLimit?: number | null | undefined
  /** []: any address */
  allowedIps?: readonly string[] | undefined
  requireSignature?: boolean | undefined
}

/** A key whose secret was verified. */
export interface VerifiedKey {
  readonly keyId: string
  readonly scopes: readonly string[]
  readonly rateLimit: number | null
  /** ms; null: never expires */
  readonly expiresAt: number | null
  /** null: any address */
  readonly allowedIps: IpAllowList | null
  readonly requireSignature: boolean
}

/** The answer of checkKey: the key, or why not (an address outside its allow-list is told apart for the log). */
export type KeyCheck =
  | { readonly ok: true, readonly key: VerifiedKey }
  | { readonly ok: false, readonly reason: 'invalid' | 'ip-denied', readonly keyId: string | null }

/**
 * What applies to a key's access tokens, read from its record (cached like verifications and
 * emptied with them): a token is worth no more than its key is now.
 */
export interface KeyPolicy {
  readonly active: boolean
  /** ms; null: never. A cached policy is not active past it, whatever the cache's own timer says. */
  readonly expiresAt: number | null
  readonly scopes: readonly string[]
  readonly rateLimit: number | null
  readonly allowedIps: IpAllowList | null
  readonly requireSignature: boolean
}

export interface ApiKeysOptions {
  /** how long a successful verification is trusted in this process */
  cacheTtlMs?: number
  cacheMax?: number
  /** how often the revocation epoch is read; 0: never (the key tool) */
  epochPollMs?: number
  /** lastUsedAt is written at most this often per key */
  touchIntervalMs?: number
  now?: () => number
  verify?: (hash: string, secret: string) => Promise<boolean>
  hash?: (secret: string) => Promise<string>
  /** where key.created, key.revoked, key.rotated and key.updated go (the feed and the log); none: nowhere */
  events?: SecurityEventSink
}

export const DEFAULT_CACHE_TTL_MS = 30_000
export const DEFAULT_EPOCH_POLL_MS = 1000
const DAY_MS = 86_400_000
const CREATE_ATTEMPTS = 3

/**
 * API keys: lifecycle (create, list, revoke, rotate) and verification.
 *
 * argon2 is slow by design, so a successful verification is kept in a bounded LRU for
 * `cacheTtlMs`, keyed by the SHA-256 of the whole presented key (the key itself is never
 * kept). Failures are never cached, unknown and revoked ids are refused before hashing,
 * and concurrent first requests with one key share a single verification.
 *
 * Revocation and rotation reach every instance through the store's epoch: each instance
 * reads it every `epochPollMs` (one small GET per second per instance, off the request
 * path) and empties its caches when it moves. The instance that made the change empties
 * its own at once.
 */
export class ApiKeys {
  /** argon2 verifications run by this process (the benchmark and tests read it) */
  verifications = 0

  private readonly verified: LRUCache<string, VerifiedKey>
  private readonly inFlight = new Map<string, Promise<KeyCheck>>()
  /** key policies for bearer tokens: revoked or expired keys' tokens stop working */
  private readonly policies: LRUCache<string, KeyPolicy>
  private readonly invalidateListeners: Array<() => void> = []
  private readonly touched: LRUCache<string, true>
  /** changes whenever the caches are emptied, so a verification that raced a change is not cached */
  private generation = 0
  private lastEpoch: number | null = null
  private readonly poller: Poller | null
  private readonly now: () => number
  private readonly verify: (hash: string, secret: string) => Promise<boolean>
  private readonly hash: (secret: string) => Promise<string>
  private readonly touchIntervalMs: number
  private readonly events: SecurityEventSink | null

  constructor (private readonly store: KeyStore, options: ApiKeysOptions = {}) {
    const ttl = options.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS
    const max = options.cacheMax ?? 10_000
    this.now = options.now ?? (() => Date.now())
    this.verify = options.verify ?? verifySecret
    this.hash = options.hash ?? hashSecret
    this.touchIntervalMs = options.touchIntervalMs ?? 60_000
    this.events = options.events ?? null
    this.verified = new LRUCache({ max, ttl, ttlAutopurge: false })
    this.policies = new LRUCache({ max, ttl })
    this.touched = new LRUCache({ max, ttl: this.touchIntervalMs })
    const poll = options.epochPollMs ?? DEFAULT_EPOCH_POLL_MS
    // One read at a time: a stalled store does not gather a read per second.
    this.poller = startPoller(async () => { await this.checkEpoch() }, poll)
  }

  /** `context` (who asked) goes into the key.created security event, as for revoke, update and rotate. */
  async create (input: NewKey, context: EventContext = {}): Promise<IssuedKey> {
    const secret = newSecret()
    const hash = await this.hash(secret)
    const createdAt = this.now()
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt++) {
      const key: StoredKey = {
        id: newKeyId(),
        name: input.name,
        scopes: [...new Set(input.scopes)],
        createdAt,
        expiresAt: input.expiresInDays === undefined ? null : createdAt + input.expiresInDays * DAY_MS,
        lastUsedAt: null,
        revokedAt: null,
        rateLimit: input.rateLimit ?? null,
        allowedIps: checkedCidrs(input.allowedIps ?? []),
        requireSignature: input.requireSignature ?? false,
        hash,
        previousHash: null,
        previousUntil: null
      }
      if (await this.store.create(key)) {
        this.emit('key.created', key.id, context, {
          name: key.name,
          scopes: key.scopes.join(' '),
          expiresAt: key.expiresAt === null ? null : new Date(key.expiresAt).toISOString(),
          ...(key.rateLimit === null ? {} : { rateLimit: key.rateLimit }),
          ...(key.allowedIps.length === 0 ? {} : { allowedIps: key.allowedIps.join(' ') }),
          ...(key.requireSignature ? { requireSignature: true } : {})
        })
        return issued(key, secret)
      }
    }
    throw new Error('could not allocate a unique key id')
  }

  async list (): Promise<KeyView[]> {
    return (await this.store.list()).map(toView)
  }

  async get (id: string): Promise<KeyView> {
    const key = await this.store.get(id)
    if (key === null) throw new KeyNotFound()
    return toView(key)
  }

  /** Revokes a key (again is fine: the first revocation time stays). */
  async revoke (id: string, context: EventContext = {}): Promise<KeyView> {
    const result = await this.store.revoke(id, this.now())
    if (result === 'unknown') throw new KeyNotFound()
    this.invalidate()
    if (result === 'revoked') this.emit('key.revoked', id, context, {})
    return await this.get(id)
  }

  /**
   * Changes a live key's name, scopes, rate limit, allow-list or signature requirement; every
   * instance applies it within a poll of the epoch (its caches are emptied, this one's at once).
   */
  async update (id: string, changes: KeyChanges, context: EventContext = {}): Promise<KeyView> {
    const patch: { -readonly [K in keyof KeyPatch]: KeyPatch[K] } = {}
    if (changes.name !== undefined) patch.name = changes.name
    if (changes.scopes !== undefined) patch.scopes = [...new Set(changes.scopes)]
    if (changes.rateLimit !== undefined) patch.rateLimit = changes.rateLimit
    if (changes.allowedIps !== undefined) patch.allowedIps = checkedCidrs(changes.allowedIps)
    if (changes.requireSignature !== undefined) patch.requireSignature = changes.requireSignature
    const updated = await this.store.update(id, patch)
    this.invalidate()
    if (updated !== null) {
      this.emit('key.updated', id, context, {
        fields: Object.keys(patch).join(' '),
        ...(patch.name === undefined ? {} : { name: patch.name }),
        ...(patch.scopes === undefined ? {} : { scopes: patch.scopes.join(' ') }),
        ...(patch.rateLimit === undefined ? {} : { rateLimit: patch.rateLimit }),
        ...(patch.allowedIps === undefined ? {} : { allowedIps: patch.allowedIps.join(' ') }),
        ...(patch.requireSignature === undefined ? {} : { requireSignature: patch.requireSignature })
      })
      return toView(updated)
    }
    if (await this.store.get(id) === null) throw new KeyNotFound()
    throw new KeyNotActive()
  }

  private emit (type: 'key.created' | 'key.revoked' | 'key.rotated' | 'key.updated', keyId: string, context: EventContext, detail: Record<string, string | number | boolean | null>): void {
    this.events?.emit({ type, keyId, ip: context.ip ?? null, requestId: context.requestId ?? null, detail: { ...detail, by: context.by ?? null } })
  }

  /** Runs `listener` whenever the key caches are emptied (another cache built on key state follows them). */
  onInvalidate (listener: () => void): void {
    this.invalidateListeners.push(listener)
  }

  /**
   * A new secret for the same id, scopes and expiry. The old one keeps working for
   * `graceSeconds` (a second rotation within a grace period ends the first one's grace).
   */
  async rotate (id: string, graceSeconds: number, context: EventContext = {}): Promise<IssuedKey> {
    const current = await this.store.get(id)
    if (current === null) throw new KeyNotFound()
    if (!isActive(current, this.now())) throw new KeyNotActive()
    const secret = newSecret()
    const rotation = graceSeconds > 0
      ? { hash: await this.hash(secret), previousHash: current.hash, previousUntil: this.now() + graceSeconds * 1000 }
      : { hash: await this.hash(secret), previousHash: null, previousUntil: null }
    const rotated = await this.store.rotate(id, rotation)
    this.invalidate()
    if (rotated === null) throw new KeyNotActive()
    this.emit('key.rotated', id, context, { graceSeconds })
    return issued(rotated, secret)
  }

  /** The key behind a presented X-API-Key, or null. Cheap after the first success. */
  async verifyKey (presented: string): Promise<VerifiedKey | null> {
    const check = await this.checkKey(presented, null)
    return check.ok ? check.key : null
  }

  /**
   * The key behind a presented X-API-Key, checked against the client address `ip` (null: no
   * address check). A key whose allow-list leaves the address out is refused before its
   * secret is hashed: a stolen key used from elsewhere never costs an argon2 run.
   */
  async checkKey (presented: string, ip: string | null): Promise<KeyCheck> {
    const parsed = parseKey(presented)
    if (parsed === null) return INVALID
    // A key whose allow-list this process knows is checked before anything is hashed.
    const known = ip === null ? undefined : this.cachedPolicy(parsed.keyId)
    const allowedIps = known?.allowedIps ?? null
    if (allowedIps !== null && !allowedIps.allows(ip as string)) return { ok: false, reason: 'ip-denied', keyId: parsed.keyId }
    const digest = hash('sha256', presented, 'base64url')
    const cached = this.verified.get(digest)
    if (cached !== undefined && (cached.expiresAt === null || cached.expiresAt > this.now())) {
      if (ip !== null && cached.allowedIps !== null && !cached.allowedIps.allows(ip)) return { ok: false, reason: 'ip-denied', keyId: cached.keyId }
      return { ok: true, key: cached }
    }

    // Per key and address, unless the key is known to have no allow-list: requests from
    // another address must not share an answer that depends on it.
    const flight = ip === null || (known !== undefined && known.allowedIps === null) ? digest : `${digest} ${ip}`
    let pending = this.inFlight.get(flight)
    if (pending === undefined) {
      pending = this.verifyUncached(digest, parsed.keyId, parsed.secret, ip).finally(() => this.inFlight.delete(flight))
      this.inFlight.set(flight, pending)
    }
    return await pending
  }

  /** policy()'s answer while it is cached, without a promise; undefined when it is not. */
  cachedPolicy (keyId: string): KeyPolicy | undefined {
    const cached = this.policies.get(keyId)
    if (cached?.active === true && cached.expiresAt !== null && cached.expiresAt <= this.now()) {
      this.policies.delete(keyId)
      return undefined
    }
    return cached
  }

  /** What applies to the tokens of `keyId`: whether the key is live, its scopes, limits and proof requirements. */
  async policy (keyId: string): Promise<KeyPolicy> {
    const cached = this.cachedPolicy(keyId)
    if (cached !== undefined) return cached
    const generation = this.generation
    const key = await this.store.get(keyId)
    const policy: KeyPolicy = key === null ? INACTIVE : policyOf(key, IpAllowList.from(key.allowedIps), this.now())
    if (generation === this.generation) this.cachePolicy(keyId, key, policy)
    return policy
  }

  /** Kept no longer than the key stays active, so an expiry is seen on time. */
  private cachePolicy (keyId: string, key: StoredKey | null, policy: KeyPolicy): void {
    const ttl = key?.expiresAt != null ? Math.max(1, key.expiresAt - this.now()) : undefined
    this.policies.set(keyId, policy, ttl === undefined ? {} : { ttl: Math.min(ttl, this.verified.ttl) })
  }

  /** Whether tokens issued from `keyId` are still good: the key exists, is not revoked, not expired. */
  async isKeyActive (keyId: string): Promise<boolean> {
    return (await this.policy(keyId)).active
  }

  /** Records that a key was used: at most once per touch interval per key, never awaited on the request. */
  noteUse (keyId: string): Promise<void> | null {
    if (this.touched.has(keyId)) return null
    this.touched.set(keyId, true)
    return this.store.touch(keyId, this.now(), this.touchIntervalMs)
  }

  /** Reads the store's epoch and empties the caches when it moved. */
  async checkEpoch (): Promise<void> {
    const epoch = await this.store.epoch()
    // The first reading empties the caches too: a change may have come before it.
    if (epoch !== this.lastEpoch) this.invalidate()
    this.lastEpoch = epoch
  }

  close (): void {
    this.poller?.close()
    this.invalidate()
  }

  private invalidate (): void {
    this.generation++
    this.verified.clear()
    this.policies.clear()
    for (const listener of this.invalidateListeners) listener()
  }

  private async verifyUncached (digest: string, keyId: string, secret: string, ip: string | null): Promise<KeyCheck> {
    const generation = this.generation
    const key = await this.store.get(keyId)
    // Unknown, revoked and expired keys are refused without hashing anything.
    if (key === null || !isActive(key, this.now())) return INVALID
    const allowedIps = IpAllowList.from(key.allowedIps)
    if (generation === this.generation) this.cachePolicy(keyId, key, policyOf(key, allowedIps, this.now()))
    // So is a known key used from outside its network (the caller logs the key id and the address).
    if (ip !== null && allowedIps !== null && !allowedIps.allows(ip)) return { ok: false, reason: 'ip-denied', keyId }
    let validUntil = key.expiresAt
    this.verifications++
    if (!await this.verify(key.hash, secret)) {
      const inGrace = key.previousHash !== null && key.previousUntil !== null && key.previousUntil > this.now()
      if (!inGrace) return INVALID
      this.verifications++
      if (!await this.verify(key.previousHash as string, secret)) return INVALID
      validUntil = Math.min(key.previousUntil as number, key.expiresAt ?? Infinity)
    }
    const verified: VerifiedKey = { keyId, scopes: key.scopes, rateLimit: key.rateLimit, expiresAt: validUntil, allowedIps, requireSignature: key.requireSignature }
    if (generation === this.generation) {
      const ttl = validUntil === null ? this.verified.ttl : Math.min(this.verified.ttl, Math.max(1, validUntil - this.now()))
      this.verified.set(digest, verified, { ttl })
    }
    return { ok: true, key: verified }
  }
}

const INVALID: KeyCheck = { ok: false, reason: 'invalid', keyId: null }

function policyOf (key: StoredKey, allowedIps: IpAllowList | null, now: number): KeyPolicy {
  return { active: isActive(key, now), expiresAt: key.expiresAt, scopes: key.scopes, rateLimit: key.rateLimit, allowedIps, requireSignature: key.requireSignature }
}
const INACTIVE: KeyPolicy = { active: false, expiresAt: null, scopes: [], rateLimit: null, allowedIps: null, requireSignature: false }

/** CIDRs in their canonical form, or a 400 that says which entry is wrong. */
function checkedCidrs (entries: readonly string[]): string[] {
  try {
    return normalizeCidrs(entries)
  } catch (err) {
    if (err instanceof InvalidCidr) throw new InvalidAllowedIps(err.message)
    throw err
  }
}

function isActive (key: StoredKey, now: number): boolean {
  return key.revokedAt === null && (key.expiresAt === null || key.expiresAt > now)
}

const iso = (ms: number | null): string | null => ms === null ? null : isoTime(ms)

export function toView (key: StoredKey): KeyView {
  return {
    id: key.id,
    name: key.name,
    scopes: key.scopes.filter(isScope),
    createdAt: isoTime(key.createdAt),
    expiresAt: iso(key.expiresAt),
    lastUsedAt: iso(key.lastUsedAt),
    revokedAt: iso(key.revokedAt),
    rateLimit: key.rateLimit,
    allowedIps: [...key.allowedIps],
    requireSignature: key.requireSignature
  }
}

function issued (key: StoredKey, secret: string): IssuedKey {
  return {
    id: key.id,
    key: formatKey(key.id, secret),
    name: key.name,
    scopes: key.scopes.filter(isScope),
    createdAt: isoTime(key.createdAt),
    expiresAt: iso(key.expiresAt),
    rateLimit: key.rateLimit,
    allowedIps: [...key.allowedIps],
    requireSignature: key.requireSignature
  }
}
