import type { FailureCount, KeyStore, RevokeResult, Rotation, StoredKey, TokenGate } from '../key-store.js'

interface Expiring { value: number, expiresAt: number }

/**
 * In-process key store for a single instance. Each operation is one synchronous step, so
 * it is as atomic as the Redis scripts. Expiring entries (deny list, failure counters,
 * touch guards) are dropped when read after their time and by an unref'd sweep.
 */
export class MemoryKeyStore implements KeyStore {
  private readonly keys = new Map<string, StoredKey>()
  private readonly expiring = new Map<string, Expiring>()
  private currentEpoch = 0
  private readonly sweeper: NodeJS.Timeout

  constructor (private readonly now: () => number = Date.now, sweepIntervalMs = 30_000) {
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs).unref()
  }

  async create (key: StoredKey): Promise<boolean> {
    if (this.keys.has(key.id)) return false
    this.keys.set(key.id, { ...key, scopes: [...key.scopes] })
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

  async touch (id: string, at: number, intervalMs: number): Promise<void> {
    const key = this.keys.get(id)
    const guard = `touch:${id}`
    if (key === undefined || this.live(guard) !== undefined) return
    this.expiring.set(guard, { value: 1, expiresAt: this.now() + intervalMs })
    this.keys.set(id, { ...key, lastUsedAt: at })
  }

  async epoch (): Promise<number> {
    return this.currentEpoch
  }

  async denyToken (jti: string, expiresAt: number): Promise<void> {
    if (expiresAt > this.now()) this.expiring.set(`deny:${jti}`, { value: 1, expiresAt })
  }

  async isTokenDenied (jti: string): Promise<boolean> {
    return this.live(`deny:${jti}`) !== undefined
  }

  async recordAuthFailure (ip: string, windowMs: number): Promise<FailureCount> {
    const name = `fail:${ip}`
    const entry = this.live(name) ?? { value: 0, expiresAt: this.now() + windowMs }
    entry.value++
    this.expiring.set(name, entry)
    return { count: entry.value, resetMs: entry.expiresAt - this.now() }
  }

  async authFailures (ip: string): Promise<FailureCount> {
    const entry = this.live(`fail:${ip}`)
    return entry === undefined ? { count: 0, resetMs: 0 } : { count: entry.value, resetMs: entry.expiresAt - this.now() }
  }

  async tokenGate (ip: string, jti: string): Promise<TokenGate> {
    return { failures: await this.authFailures(ip), denied: await this.isTokenDenied(jti) }
  }

  async close (): Promise<void> {
    clearInterval(this.sweeper)
  }

  private live (name: string): Expiring | undefined {
    const entry = this.expiring.get(name)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.now()) {
      this.expiring.delete(name)
      return undefined
    }
    return entry
  }

  private sweep (): void {
    for (const name of this.expiring.keys()) this.live(name)
  }
}
