import type { AbuseStore, ScoreRule } from '../storage/abuse-store.js'
import { decayScore } from '../storage/abuse-store.js'

interface LocalScore {
  /** this instance's estimate of the shared score: the last one the store reported, plus what was added here since */
  score: number
  /** weight added here and not yet sent to the store */
  pending: number
  at: number
  /** a push to the store is on its way */
  pushing: boolean
}

export interface ScoresOptions {
  rule: ScoreRule
  /** how often the weights gathered locally are sent to the store (default 1 s) */
  syncIntervalMs?: number
  /** addresses tracked at most (default 100 000; the oldest are sent and forgotten first) */
  maxEntries?: number
  now?: () => number
  /** called once for each threshold crossing the store reports */
  onCrossing: (address: string, level: number) => void
  onError: (err: unknown) => void
}

/**
 * Suspicion scores, local first (the model is the rate limiter's shared counters,
 * src/storage/redis/rate-limit-store.ts). Only an offence costs anything: a clean client is
 * never looked up, here or in the store.
 *
 * An offence is added to this instance's estimate of the address's score at once. While the
 * estimate is below half the threshold, the weight waits here and goes to the store with the
 * next sync (one step per address per second at most); from half the threshold on, each
 * offence goes to the store before the next one of that address is considered, and the
 * store's atomic step decides the crossing (so exactly one instance makes the block).
 *
 * Error bound: the shared score lags the truth by what the instances gathered locally and
 * have not sent yet: at most N · threshold/2 for N instances (each sends everything as soon
 * as its own estimate reaches half), and never more than one sync interval of offences. With
 * one instance the crossing happens exactly at the threshold.
 */
export class Scores {
  private readonly local = new Map<string, LocalScore>()
  private readonly timer: NodeJS.Timeout
  private readonly now: () => number
  private readonly maxEntries: number

  constructor (private readonly store: AbuseStore, private readonly options: ScoresOptions) {
    this.now = options.now ?? Date.now
    this.maxEntries = options.maxEntries ?? 100_000
    this.timer = setInterval(() => { this.sync() }, options.syncIntervalMs ?? 1000).unref()
  }

  /** Counts an offence of `weight` for the address. Synchronous; never throws. */
  record (address: string, weight: number): void {
    const now = this.now()
    let entry = this.local.get(address)
    if (entry === undefined) {
      entry = { score: 0, pending: 0, at: now, pushing: false }
      this.local.set(address, entry)
      if (this.local.size > this.maxEntries) this.evictOldest()
    }
    entry.score = decayScore(entry.score, now - entry.at, this.options.rule.halfLifeMs) + weight
    entry.pending += weight
    entry.at = now
    if (entry.score * 2 >= this.options.rule.threshold) this.push(address, entry)
  }

  /** this instance's estimate of the address's score (tests, the near-threshold check) */
  estimate (address: string): number {
    const entry = this.local.get(address)
    return entry === undefined ? 0 : decayScore(entry.score, this.now() - entry.at, this.options.rule.halfLifeMs)
  }

  /** Sends every address's pending weight to the store and forgets addresses that went quiet. */
  sync (): void {
    const now = this.now()
    for (const [address, entry] of this.local) {
      if (entry.pending > 0) this.push(address, entry)
      else if (!entry.pushing && decayScore(entry.score, now - entry.at, this.options.rule.halfLifeMs) < 1) this.local.delete(address)
    }
  }

  /** Waits for what is on its way (tests, shutdown). */
  async flush (): Promise<void> {
    this.sync()
    while ([...this.local.values()].some((e) => e.pushing)) await new Promise((resolve) => setTimeout(resolve, 5))
  }

  close (): void {
    clearInterval(this.timer)
    this.sync()
  }

  private push (address: string, entry: LocalScore): void {
    // One step per address at a time: what arrives meanwhile goes with the next one.
    if (entry.pushing || entry.pending === 0) return
    const weight = entry.pending
    entry.pending = 0
    entry.pushing = true
    this.store.addScore(address, weight, this.now(), this.options.rule).then((outcome) => {
      entry.pushing = false
      entry.score = outcome.score + entry.pending
      entry.at = this.now()
      if (outcome.level > 0) this.options.onCrossing(address, outcome.level)
      // Offences that arrived during the step, near the threshold: their turn now.
      if (entry.pending > 0 && entry.score * 2 >= this.options.rule.threshold) this.push(address, entry)
    }, (err: unknown) => {
      // The store is down: the weight is kept for the next sync, the request was answered anyway.
      entry.pushing = false
      entry.pending += weight
      this.options.onError(err)
    })
  }

  private evictOldest (): void {
    for (const [address, entry] of this.local) {
      if (this.local.size <= this.maxEntries) return
      if (entry.pending > 0) this.push(address, entry)
      if (!entry.pushing) this.local.delete(address)
    }
  }
}
