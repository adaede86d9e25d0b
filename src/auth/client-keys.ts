import { LRUCache } from 'lru-cache'
import type { EventContext, SecurityEventSink } from '../abuse/events.js'
import type { ApiKeys } from '../api-keys.js'
import { InvalidSigningKey, KeyNotActive, SigningKeyExists, SigningKeyLimit, SigningKeyNotFound } from '../errors.js'
import { isoTime } from '../iso-time.js'
import type { ClientKeyStore, StoredClientKey } from '../storage/client-key-store.js'
import type { KeyStore } from '../storage/key-store.js'
import { InvalidJwk, jwkThumbprint, publicSigningJwk, signatureAlgorithm, type PublicSigningJwk } from './jwk.js'

/** API.md section 7: at most this many public keys per API key */
export const MAX_CLIENT_KEYS = 10

/** What the routes show of a registered key: never more than its id, algorithm and age. */
export interface ClientKeyView {
  keyid: string
  alg: StoredClientKey['alg']
  createdAt: string
}

/**
 * A service's registered public keys ("client keys"; API.md's /signing-keys), with which it
 * signs its requests (RFC 9421). Only public JWKs (Ed25519 or P-256) are accepted, each named
 * by its RFC 7638 thumbprint.
 *
 * The verifier asks for a key on every signed request, so each API key's list is cached in
 * this process and emptied whenever the API key caches are (ApiKeys.onInvalidate): a change
 * bumps the store's key epoch, so every instance drops a removed key within a poll (1 s).
 */
export class ClientKeys {
  private readonly lists = new LRUCache<string, ReadonlyMap<string, PublicSigningJwk>>({ max: 10_000, ttl: 30_000 })
  private generation = 0

  constructor (
    private readonly store: ClientKeyStore,
    private readonly keyStore: KeyStore,
    private readonly apiKeys: ApiKeys,
    private readonly now: () => number = Date.now,
    /** where signing_key.added and signing_key.removed go (the feed and the log); null: nowhere */
    private readonly events: SecurityEventSink | null = null
  ) {
    apiKeys.onInvalidate(() => {
      this.generation++
      this.lists.clear()
    })
  }

  /** Registers a public JWK for a live API key; 400 for anything but a public Ed25519 / P-256 key. */
  async register (keyId: string, input: unknown, context: EventContext = {}): Promise<ClientKeyView> {
    let jwk: PublicSigningJwk
    try {
      jwk = publicSigningJwk(input)
    } catch (err) {
      if (err instanceof InvalidJwk) throw new InvalidSigningKey(err.message)
      throw err
    }
    await this.ensureActive(keyId)
    const stored: StoredClientKey = { keyid: jwkThumbprint(jwk), alg: signatureAlgorithm(jwk), jwk: { ...jwk }, createdAt: this.now() }
    const result = await this.store.add(keyId, stored, MAX_CLIENT_KEYS)
    if (result === 'exists') throw new SigningKeyExists()
    if (result === 'full') throw new SigningKeyLimit(MAX_CLIENT_KEYS)
    await this.changed()
    this.emit('signing_key.added', keyId, context, { keyid: stored.keyid, alg: stored.alg })
    return view(stored)
  }

  /** The keys of an API key (404 when the API key is unknown), oldest first. */
  async list (keyId: string): Promise<ClientKeyView[]> {
    await this.apiKeys.get(keyId)
    return (await this.store.list(keyId)).map(view)
  }

  async remove (keyId: string, keyid: string, context: EventContext = {}): Promise<void> {
    await this.apiKeys.get(keyId)
    const removed = await this.store.remove(keyId, keyid)
    // Bumped even when there was nothing to remove: a retry after a failed bump still
    // reaches every instance.
    await this.changed()
    if (!removed) throw new SigningKeyNotFound()
    this.emit('signing_key.removed', keyId, context, { keyid })
  }

  private emit (type: 'signing_key.added' | 'signing_key.removed', keyId: string, context: EventContext, detail: Record<string, string>): void {
    this.events?.emit({ type, keyId, ip: context.ip ?? null, requestId: context.requestId ?? null, detail: { ...detail, by: context.by ?? null } })
  }

  /**
   * The public key `keyid` of API key `keyId`, or null. Synchronous once the API key's list is
   * cached; one store read otherwise.
   */
  keyFor (keyId: string, keyid: string): PublicSigningJwk | null | Promise<PublicSigningJwk | null> {
    const cached = this.lists.get(keyId)
    if (cached !== undefined) return cached.get(keyid) ?? null
    return this.load(keyId).then((list) => list.get(keyid) ?? null)
  }

  private async load (keyId: string): Promise<ReadonlyMap<string, PublicSigningJwk>> {
    const generation = this.generation
    const list = new Map((await this.store.list(keyId)).map((key) => [key.keyid, key.jwk as PublicSigningJwk]))
    // A list read while a change was being applied is used once, not kept.
    if (generation === this.generation) this.lists.set(keyId, list)
    return list
  }

  private async ensureActive (keyId: string): Promise<void> {
    const key = await this.apiKeys.get(keyId)
    if (key.revokedAt !== null || (key.expiresAt !== null && Date.parse(key.expiresAt) <= this.now())) throw new KeyNotActive()
  }

  /** Every instance (this one at once) forgets what it cached about this key's keys. */
  private async changed (): Promise<void> {
    this.generation++
    this.lists.clear()
    await this.keyStore.bumpEpoch()
  }
}

function view (key: StoredClientKey): ClientKeyView {
  return { keyid: key.keyid, alg: key.alg, createdAt: isoTime(key.createdAt) }
}
