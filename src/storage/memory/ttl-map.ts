/** A value and the time (epoch ms) it stops being live. The map hands out its own entries: a caller may change `value` in place. */
export interface TtlEntry<V> {
  value: V
  readonly expiresAt: number
}

export interface TtlMapOptions {
  now?: () => number
  /** how often the unref'd timer drops every expired entry (default 30 s) */
  sweepIntervalMs?: number
  /** at most this many entries, expired ones included until dropped (default: no cap) */
  maxEntries?: number
}

/** at the cap, a full sweep runs at most this often (a sweep walks every entry) */
const FULL_SWEEP_EVERY_MS = 1000

/**
 * Entries that expire, for the in-memory stores. An expired entry is never handed out:
 * it is dropped when read, by an unref'd sweep and, at the cap, before anything is refused.
 *
 * The cap: a new entry is refused (`set` and `setIfAbsent` return false) while the map
 * holds `maxEntries` live ones; a live entry is never pushed out to make room. Before
 * refusing, the map drops the expired entries at its oldest end (cheap: insertion order
 * is close to expiry order) and, at most once a second, every expired entry.
 */
export class TtlMap<V> {
  private readonly entries = new Map<string, TtlEntry<V>>()
  private readonly now: () => number
  private readonly maxEntries: number
  private readonly sweeper: NodeJS.Timeout
  private lastFullSweep = Number.NEGATIVE_INFINITY

  constructor (options: TtlMapOptions = {}) {
    this.now = options.now ?? Date.now
    this.maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 30_000).unref()
  }

  /** entries held, expired ones not yet dropped included */
  get size (): number {
    return this.entries.size
  }

  /** The live entry of `key`; an expired one is dropped. */
  get (key: string): TtlEntry<V> | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key)
      return undefined
    }
    return entry
  }

  /** Sets (or replaces) `key`'s entry; false, and nothing written, when the map is full and `key` has no live entry. */
  set (key: string, value: V, expiresAt: number): boolean {
    if (this.get(key) === undefined && !this.makeRoom()) return false
    this.entries.set(key, { value, expiresAt })
    return true
  }

  /** Sets `key`'s entry only when it has no live one: true when written; false when there is one, or the map is full. */
  setIfAbsent (key: string, value: V, expiresAt: number): boolean {
    if (this.get(key) !== undefined || !this.makeRoom()) return false
    this.entries.set(key, { value, expiresAt })
    return true
  }

  delete (key: string): void {
    this.entries.delete(key)
  }

  /** Drops every expired entry. */
  sweep (): void {
    const now = this.now()
    this.lastFullSweep = now
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key)
  }

  /** Stops the sweep timer (the entries stay readable). */
  close (): void {
    clearInterval(this.sweeper)
  }

  /** true when one more entry fits, after dropping what has expired if need be */
  private makeRoom (): boolean {
    if (this.entries.size < this.maxEntries) return true
    const now = this.now()
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) break
      this.entries.delete(key)
    }
    if (this.entries.size >= this.maxEntries && now - this.lastFullSweep >= FULL_SWEEP_EVERY_MS) this.sweep()
    return this.entries.size < this.maxEntries
  }
}
