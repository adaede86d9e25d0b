import type { FailureCount, KeyPatch, KeyStore, RevokeResult, Rotation, StoredKey, TokenGate } from '../key-store.js'
import { TtlMap } from './ttl-map.js'

/**
 * In-process key store for a single instance. Each operation is one synchronous step, so
 * it is as atomic as the Redis scripts. Expiring entries (deny list, failure counters,
 * touch guards) are dropped when read after their time and by an unref'd sweep.
 */
export class MemoryKeyStore implements KeyStore {
  private readonly keys = new Map<string, StoredKey>()
  private readonly expiring: TtlMap<number>
  private currentEpoch = 0

  constructor (private readonly now: () => number = Date.now, sweepIntervalMs = 30_000) {
    this.expiring = new TtlMap({ now, sweepIntervalMs })
  }

  async create (key: StoredKey): Promise<boolean> {
    if (this.keys.has(key.id)) return false
    this.keys.set(key.id, { ...key, scopes: [...key.scopes], allowedIps: [...key.allowedIps] })
    return true
  }

  async get (id: string): Promise<StoredKey | null> {
    return this.keys.get(id) ?? null
  }

  async list (): Promise<StoredKey[]> {
    return [...this.keys.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
  }

  async revoke (id: string, at: number): Promise<RevokeResult> {
    const key = this.keys.get(id)
    if (key === undefined) return 'unknown'
    this.currentEpoch++
    if (key.revokedAt !== null) return 'already-revoked'
    this.keys.set(id, { ...key, revokedAt: at })
    return 'revoked'
  }

  async rotate (id: string, rotation: Rotation): Promise<StoredKey | null> {
    const key = this.keys.get(id)
    if (key === undefined || key.revokedAt !== null) return null
    const rotated = { ...key, ...rotation }
    this.keys.set(id, rotated)
    this.currentEpoch++
    return rotated
  }

  async update (id: string, patch: KeyPatch): Promise<StoredKey | null> {
    const key = this.keys.get(id)
    if (key === undefined || key.revokedAt !== null) return null
    const updated: StoredKey = {
      ...key,
      name: patch.name ?? key.name,
      scopes: patch.scopes === undefined ? key.scopes : [...patch.scopes],
      rateLimit: patch.rateLimit === undefined ? key.rateLimit : patch.rateLimit,
      allowedIps: patch.allowedIps === undefined ? key.allowedIps : [...patch.allowedIps],
      requireSignature: patch.requireSignature ?? key.requireSignature
    }
    this.keys.set(id, updated)
    this.currentEpoch++
    return updated
  }

  async touch (id: string, at: number, intervalMs: number): Promise<void> {
    const key = this.keys.get(id)
    const guard = `touch:${id}`
    if (key === undefined || !this.expiring.setIfAbsent(guard, 1, this.now() + intervalMs)) return
    this.keys.set(id, { ...key, lastUsedAt: at })
  }

  async epoch (): Promise<number> {
    return this.currentEpoch
  }

  async bumpEpoch (): Promise<void> {
    this.currentEpoch++
  }

  async denyToken (jti: string, expiresAt: number): Promise<void> {
    if (expiresAt > this.now()) this.expiring.set(`deny:${jti}`, 1, expiresAt)
  }

  async isTokenDenied (jti: string): Promise<boolean> {
    return this.expiring.get(`deny:${jti}`) !== undefined
  }

  async recordAuthFailure (ip: string, windowMs: number): Promise<FailureCount> {
    const name = `fail:${ip}`
    const entry = this.expiring.get(name)
    if (entry === undefined) {
      this.expiring.set(name, 1, this.now() + windowMs)
      return { count: 1, resetMs: windowMs }
    }
    entry.value++
    return { count: entry.value, resetMs: entry.expiresAt - this.now() }
  }

  async authFailures (ip: string): Promise<FailureCount> {
    const entry = this.expiring.get(`fail:${ip}`)
    return entry === undefined ? { count: 0, resetMs: 0 } : { count: entry.value, resetMs: entry.expiresAt - this.now() }
  }

  async tokenGate (ip: string, jti: string): Promise<TokenGate> {
    return { failures: await this.authFailures(ip), denied: await this.isTokenDenied(jti) }
  }

  async close (): Promise<void> {
    this.expiring.close()
  }
}
