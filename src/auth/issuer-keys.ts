import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import type { ContentCipher } from '../content-cipher.js'
import type { IssuerKeyStore, StoredIssuerKey } from '../storage/issuer-key-store.js'

export type IssuerAlg = StoredIssuerKey['alg']
export const ISSUER_ALGS: readonly IssuerAlg[] = ['ES256', 'EdDSA']

/** When keys sign, are published and are forgotten. Milliseconds. */
export interface IssuerKeyTiming {
  /** JWT_KEY_ROTATION_DAYS: each key signs for one period */
  rotationMs: number
  /** how long before its period a key is created and published (a day) */
  prepublishMs: number
  /** JWT_TTL_SECONDS: a retired key stays published this long after it stopped signing */
  tokenTtlMs: number
  /** added to that, for instances whose clocks run a little behind */
  clockSkewMs: number
  /** how often an instance re-reads the store (to learn keys other instances made) */
  refreshMs: number
}

export const DAY_MS = 24 * 60 * 60 * 1000

export function defaultTiming (rotationDays: number, tokenTtlSeconds: number): IssuerKeyTiming {
  return { rotationMs: rotationDays * DAY_MS, prepublishMs: DAY_MS, tokenTtlMs: tokenTtlSeconds * 1000, clockSkewMs: 60_000, refreshMs: 60_000 }
}

/** A public key as the JWKS publishes it (RFC 7517): never a private part. */
export interface PublicJwk {
  readonly kty: string
  readonly crv: string
  readonly x: string
  readonly y?: string
  readonly kid: string
  readonly alg: IssuerAlg
  readonly use: 'sig'
}

/** `publishedUntil` (ms): no token of the key may expire later (it would outlive its key in the JWKS) */
export interface SigningKey { readonly kid: string, readonly alg: IssuerAlg, readonly privateKey: CryptoKey, readonly publishedUntil: number }
export interface VerificationKey { readonly kid: string, readonly alg: IssuerAlg, readonly publicKey: CryptoKey, readonly publishedUntil: number }

/** The private part of a stored key cannot be opened (ENCRYPTION_KEY differs from the creator's). */
export class IssuerKeyUnusable extends Error {
  readonly statusCode = 503
  constructor (readonly keyName: string, cause: unknown) {
    super(`issuer key ${keyName} cannot be opened: every instance needs the same ENCRYPTION_KEY`, { cause })
    this.name = 'IssuerKeyUnusable'
  }
}

interface Options {
  alg: IssuerAlg
  timing: IssuerKeyTiming
  /** seals the private JWK at rest (ENCRYPTION_KEY), or leaves it as is */
  cipher: ContentCipher
  /**
   * Names the sealing key (a digest of ENCRYPTION_KEY, or 'plain'), and is part of each key's
   * name: instances that seal alike share keys; after ENCRYPTION_KEY changes, a key that
   * can be opened is made at once instead of no token being issued until the next period.
   */
  sealTag?: string
  /** a problem an operator should see (keys sealed with another ENCRYPTION_KEY) */
  warn?: (message: string) => void
  now?: () => number
  onRefreshError?: (err: unknown) => void
}

/** unknown `kid`s re-read the store at most this often (they are attacker-controlled) */
const UNKNOWN_KID_REFRESH_MS = 1000

/**
 * The server's token-signing keys, shared by every instance through the store.
 *
 * Time is cut into periods of JWT_KEY_ROTATION_DAYS; the key of period p is named
 * `<alg>:<rotationMs>:<sealTag>:<p>`, signs during p, and is created (by whichever instance first needs it, with
 * the store's create-if-absent, so exactly one exists) a day before p starts: from then on
 * it is in the JWKS, so gateways that cache the JWKS know it before any token carries it.
 * After p it stays published (and accepted) until the last token it signed has expired,
 * then it is forgotten. Instances re-read the store every `refreshMs` and when a token
 * names an unknown `kid` (throttled), so no coordination beyond the store is needed.
 *
 * Signing and the JWKS read a local snapshot: no store round trip per token.
 */
export class IssuerKeys {
  private readonly alg: IssuerAlg
  private readonly timing: IssuerKeyTiming
  private readonly cipher: ContentCipher
  private readonly now: () => number
  private readonly onRefreshError: (err: unknown) => void
  private readonly sealTag: string
  private readonly warn: (message: string) => void
  private warnedForeignSeal = false
  /** every known key by kid, with its imported public key */
  private known = new Map<string, { stored: StoredIssuerKey, publicKey: CryptoKey }>()
  private readonly privateKeys = new Map<string, CryptoKey>()
  private timer: NodeJS.Timeout | null = null
  private syncing: Promise<void> | null = null
  /** -Infinity, not 0: the first unknown kid re-reads whatever the (injected) clock says */
  private lastUnknownKidRefresh = Number.NEGATIVE_INFINITY
  /** the store re-read an unknown kid started, while it runs */
  /** the next unknown-kid re-read, scheduled and not started yet: later requests join it */
  private nextUnknownKidRead: { promise: Promise<void>, timer: NodeJS.Timeout, release: () => void } | null = null
  /** kids that left the store at a refresh: refused at once, without a re-read (after a DEL, cached tokens keep coming) */
  private readonly dropped = new Set<string>()
  /** malformed stored entries already reported (a refresh may run every second) */
  private readonly reportedMalformed = new Set<string>()
  private closed = false

  constructor (private readonly store: IssuerKeyStore, options: Options) {
    this.alg = options.alg
    this.timing = options.timing
    this.cipher = options.cipher
    this.now = options.now ?? Date.now
    this.onRefreshError = options.onRefreshError ?? (() => {})
    this.sealTag = options.sealTag ?? 'plain'
    this.warn = options.warn ?? (() => {})
  }

  /** First sync (failures reported, not thrown: the store may come later) and the refresh timer. */
  async start (): Promise<void> {
    // signing() also opens the private key: a key this instance cannot use is reported now,
    // not on the first token request.
    await this.refresh().then(async () => await this.signing()).catch(this.onRefreshError)
    this.timer = setInterval(() => { this.refresh().catch(this.onRefreshError) }, this.timing.refreshMs)
    this.timer.unref()
  }

  close (): void {
    this.closed = true
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    // Requests waiting for an unknown-kid re-read get their answer (no key) now, and no
    // timer keeps the process alive or reads a closed store.
    if (this.nextUnknownKidRead !== null) {
      clearTimeout(this.nextUnknownKidRead.timer)
      this.nextUnknownKidRead.release()
      this.nextUnknownKidRead = null
    }
  }

  /** The key that signs now: from the snapshot, or made (or fetched) once per period. */
  async signing (): Promise<SigningKey> {
    const name = this.nameFor(this.periodAt(this.now()))
    let entry = this.byName(name)
    if (entry === undefined) {
      // A refresh may fail after the current key was read or made (the next key, a cleanup):
      // what matters here is whether this period's key is known now.
      const failure = await this.refresh().then(() => null, (err: unknown) => err)
      entry = this.byName(name)
      if (entry === undefined) {
        if (failure !== null) throw failure
        // stored, but its entry could not be read (reported by the refresh)
        throw new IssuerKeyUnusable(name, new Error('the stored entry is malformed'))
      }
    }
    const { kid, alg } = entry.stored
    let privateKey = this.privateKeys.get(kid)
    if (privateKey === undefined) {
      privateKey = await this.openPrivate(entry.stored)
      this.privateKeys.set(kid, privateKey)
    }
    return { kid, alg, privateKey, publishedUntil: this.publishedUntil(entry.stored) }
  }

  /** The public keys a token may be signed with now: what /.well-known/jwks.json serves. */
  jwks (): { keys: PublicJwk[] } {
    const now = this.now()
    const keys: PublicJwk[] = []
    for (const { stored } of this.known.values()) {
      if (this.isKeyPublished(stored, now)) keys.push({ ...stored.publicJwk, kid: stored.kid, alg: stored.alg, use: 'sig' } as PublicJwk)
    }
    // newest first: the signing key, then older ones
    return { keys: keys.sort((a, b) => this.signsFrom(b.kid) - this.signsFrom(a.kid)) }
  }

  /** Whether a kid is published now: what a cached token's verification checks again. */
  isPublished (kid: string): boolean {
    const entry = this.known.get(kid)
    return entry !== undefined && this.isKeyPublished(entry.stored, this.now())
  }

  /**
   * The published key with this kid. A kid this instance does not know makes it re-read the
   * store, at most once a second: a request that comes sooner waits for the next re-read
   * (shared by every request waiting), so a token signed with a key another instance just
   * made always verifies, and random kids cost the store one read a second at most.
   */
  verificationKey (kid: string): VerificationKey | null | Promise<VerificationKey | null> {
    const found = this.publishedKey(kid)
    if (found !== null) return found
    if (this.known.has(kid) || this.dropped.has(kid) || this.closed) return null
    // Join the next re-read if one is scheduled and has not started (a read already under way
    // may have missed the key this token names), else schedule one: a second after the last,
    // never longer (a clock stepping back must not hold requests).
    if (this.nextUnknownKidRead === null) {
      const wait = Math.min(UNKNOWN_KID_REFRESH_MS, Math.max(0, this.lastUnknownKidRefresh + UNKNOWN_KID_REFRESH_MS - this.now()))
      let release = (): void => {}
      const started = new Promise<void>((resolve) => { release = resolve })
      const timer = setTimeout(release, wait)
      const promise = started.then(async () => {
        this.nextUnknownKidRead = null
        if (this.closed) return
        this.lastUnknownKidRefresh = this.now()
        // A fresh read: not one already under way, which may have read before the key was made.
        await this.syncing?.catch(() => {})
        await this.refresh()
      }).catch(() => {})
      this.nextUnknownKidRead = { promise, timer, release }
    }
    return this.nextUnknownKidRead.promise.then(() => this.publishedKey(kid))
  }

  /**
   * Re-reads the store, creates the current key (and the next one, a day ahead) when
   * missing, and forgets keys whose tokens have all long expired. Concurrent calls share one run.
   */
  async refresh (): Promise<void> {
    this.syncing ??= this.sync().finally(() => { this.syncing = null })
    await this.syncing
  }

  /**
   * One refresh. What was read is adopted even when a later step fails (creating the next
   * key on a full store, forgetting old ones), and a stored entry that cannot be imported is
   * skipped and reported, not allowed to stop every refresh after it.
   */
  private async sync (): Promise<void> {
    const now = this.now()
    const period = this.periodAt(now)
    let stored = await this.store.list()
    let failure: unknown = null
    const wanted = [period]
    if (now >= (period + 1) * this.timing.rotationMs - this.timing.prepublishMs) wanted.push(period + 1)
    for (const p of wanted) {
      if (stored.some((k) => k.name === this.nameFor(p))) continue
      try {
        stored.push(await this.store.createIfAbsent(await this.generate(p)))
      } catch (err) {
        failure ??= err
      }
    }
    // Gone from the JWKS long ago: a day (or a period, if longer) after its last token expired.
    const forgettable = stored.filter((k) => now > this.publishedUntil(k) + Math.max(DAY_MS, this.timing.rotationMs))
    if (forgettable.length > 0) {
      await this.store.remove(forgettable.map((k) => k.name)).catch((err: unknown) => { failure ??= err })
      stored = stored.filter((k) => !forgettable.includes(k))
    }
    const known = new Map<string, { stored: StoredIssuerKey, publicKey: CryptoKey }>()
    for (const key of stored) {
      const previous = this.known.get(key.kid)
      try {
        known.set(key.kid, { stored: key, publicKey: previous?.publicKey ?? await importJWK({ ...key.publicJwk }, key.alg) as CryptoKey })
      } catch (err) {
        if (!this.reportedMalformed.has(key.name)) this.onRefreshError(new Error(`stored issuer key ${String(key.name)} is malformed: skipped`, { cause: err }))
        this.reportedMalformed.add(key.name)
      }
    }
    for (const kid of this.known.keys()) if (!known.has(kid)) this.dropped.add(kid)
    // bounded: a kid is dropped once per period at most, unless the hash is deleted over and over
    if (this.dropped.size > 1000) this.dropped.clear()
    this.known = known
    for (const kid of this.privateKeys.keys()) if (!known.has(kid)) this.privateKeys.delete(kid)
    this.noticeForeignSeal(stored, period)
    if (failure !== null) throw failure
  }

  /**
   * Another instance signs this period with a key sealed differently: ENCRYPTION_KEY differs.
   * Only a key made after this instance's own counts (an older one is what every instance used
   * before ENCRYPTION_KEY was changed on all of them). Said once.
   */
  private noticeForeignSeal (stored: readonly StoredIssuerKey[], period: number): void {
    const mine = stored.find((k) => k.name === this.nameFor(period))
    if (mine === undefined) return
    const prefix = `${this.alg}:${this.timing.rotationMs}:`
    const foreign = stored.some((k) => k.name !== mine.name && k.name.startsWith(prefix) && k.name.endsWith(`:${period}`) &&
      k.name.split(':').length === 4 && k.createdAt > mine.createdAt)
    if (foreign && !this.warnedForeignSeal) {
      this.warnedForeignSeal = true
      this.warn('another instance seals its token-signing key with a different ENCRYPTION_KEY: every instance should have the same one')
    }
  }

  private async generate (period: number): Promise<StoredIssuerKey> {
    const { publicKey, privateKey } = await generateKeyPair(this.alg, { extractable: true })
    const publicJwk = await exportJWK(publicKey)
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256')
    const name = this.nameFor(period)
    const pub: Record<string, string> = { kty: publicJwk.kty as string, crv: publicJwk.crv as string, x: publicJwk.x as string }
    if (publicJwk.y !== undefined) pub.y = publicJwk.y
    return {
      name,
      kid,
      alg: this.alg,
      publicJwk: pub,
      sealedPrivateJwk: this.cipher.seal(sealId(name), JSON.stringify(await exportJWK(privateKey))),
      createdAt: this.now(),
      signsFrom: period * this.timing.rotationMs,
      signsUntil: (period + 1) * this.timing.rotationMs
    }
  }

  private async openPrivate (key: StoredIssuerKey): Promise<CryptoKey> {
    let jwk: JWK
    try {
      // A key made before ENCRYPTION_KEY was set is still plain JSON.
      jwk = JSON.parse(key.sealedPrivateJwk.startsWith('{') ? key.sealedPrivateJwk : this.cipher.open(sealId(key.name), key.sealedPrivateJwk)) as JWK
    } catch (err) {
      throw new IssuerKeyUnusable(key.name, err)
    }
    return await importJWK(jwk, key.alg) as CryptoKey
  }

  private publishedKey (kid: string): VerificationKey | null {
    const entry = this.known.get(kid)
    if (entry === undefined || !this.isKeyPublished(entry.stored, this.now())) return null
    return { kid, alg: entry.stored.alg, publicKey: entry.publicKey, publishedUntil: this.publishedUntil(entry.stored) }
  }

  private isKeyPublished (key: StoredIssuerKey, now: number): boolean {
    return now >= key.signsFrom - this.timing.prepublishMs && now < this.publishedUntil(key)
  }

  private publishedUntil (key: StoredIssuerKey): number {
    return key.signsUntil + this.timing.tokenTtlMs + this.timing.clockSkewMs
  }

  private signsFrom (kid: string): number {
    return this.known.get(kid)?.stored.signsFrom ?? 0
  }

  private byName (name: string): { stored: StoredIssuerKey } | undefined {
    for (const entry of this.known.values()) if (entry.stored.name === name) return entry
    return undefined
  }

  private periodAt (time: number): number {
    return Math.floor(time / this.timing.rotationMs)
  }

  /** The period length is part of the name: instances configured with another rotation never share a name by accident. */
  private nameFor (period: number): string {
    return `${this.alg}:${this.timing.rotationMs}:${this.sealTag}:${period}`
  }
}

/** the associated data of a sealed private key: it cannot be moved to another name */
function sealId (name: string): string {
  return `issuer-key:${name}`
}
