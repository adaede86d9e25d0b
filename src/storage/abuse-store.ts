/**
 * The shared state of the abuse defence (API.md section 8): each client address's suspicion
 * score and ladder level, and the blocks in force. A Redis and an in-memory implementation
 * pass the same contract tests (test/storage/abuse-store.contract.ts). Failures reject with
 * StoreUnavailable (503) or StorageFull (507).
 *
 * Times are epoch milliseconds, given by the caller (instances' clocks agree to within the
 * precision a block needs).
 */

/** A block as stored and listed. */
export interface StoredBlock {
  readonly id: string
  /** canonical CIDR: `203.0.113.7/32`, `2001:db8:1:2::/64`, or a manual network such as `198.51.100.0/24` */
  readonly cidr: string
  readonly reason: string
  /** the ladder level (1..5) of an automatic block; 0 for a manual one */
  readonly level: number
  readonly since: number
  readonly until: number
  readonly manual: boolean
  /** who made a manual block (a key id or "key-tool"); null for an automatic one */
  readonly by: string | null
}

export interface ScoreOutcome {
  /** the address's score after this step (0 right after it crossed the threshold) */
  readonly score: number
  /** the level of the block the threshold crossing earned (1..5), or 0: no block */
  readonly level: number
}

export interface ScoreRule {
  readonly threshold: number
  readonly halfLifeMs: number
  /** how long after the end of its last block (or its last offence) an address's level is remembered */
  readonly memoryMs: number
  /** the ladder: how long a block of level i + 1 lasts, in ms; its length is the top level */
  readonly durationsMs: readonly number[]
}

export interface AbuseStore {
  /**
   * Adds `weight` to the address's score (halved for each whole halfLifeMs since it was last
   * written, see decayScore), in one atomic step: when the sum reaches the threshold, the score goes back to 0
   * and the answer carries the next level of the ladder (1 when the address's last block ended
   * memoryMs ago or more, otherwise one more than that block's, at most the top level, which
   * repeats). Of racing calls, exactly one is answered with the crossing.
   */
  addScore (address: string, weight: number, now: number, rule: ScoreRule): Promise<ScoreOutcome>
  /** the address's decayed score now (0 when unknown) */
  score (address: string, now: number, rule: ScoreRule): Promise<number>
  /**
   * Writes a block (a new id) and moves the blocks version. An automatic block (manual: false)
   * makes room when `maxAutomatic` automatic blocks are in force already (ended ones, by
   * block.since, are dropped first): those ending soonest go, never the new one, and are
   * returned, so that every instance's list stays bounded however many addresses offend.
   * Manual blocks are never evicted and not counted.
   */
  putBlock (block: StoredBlock, maxAutomatic?: number): Promise<StoredBlock[]>
  /** Removes a block and moves the version; returns it, or null when unknown. */
  removeBlock (id: string): Promise<StoredBlock | null>
  /** The blocks still in force at `now` (ended ones are dropped), oldest first. */
  listBlocks (now: number): Promise<StoredBlock[]>
  /** A number that changes whenever a block is put or removed: instances poll it. */
  blocksVersion (): Promise<number>
  close (): Promise<void>
}

/**
 * The score `elapsedMs` after it was last written: halved for each whole halfLifeMs the address
 * stayed quiet (shared by both stores and the local estimates). Steps, not a continuous decay,
 * so the documented counts hold exactly: 50 misses in a row are 50 misses whether they take a
 * second or nine minutes between each, and an address that behaves for a half-life is halved.
 */
export function decayScore (score: number, elapsedMs: number, halfLifeMs: number): number {
  if (score <= 0) return 0
  const halvings = Math.floor(elapsedMs / halfLifeMs)
  return halvings <= 0 ? score : score / Math.pow(2, halvings)
}

/** The ladder step both stores apply at a crossing (src/abuse/ladder.ts says why). */
export function ladderLevel (lastLevel: number, lastBlockEnd: number, now: number, rule: ScoreRule): number {
  if (lastLevel <= 0 || now - lastBlockEnd >= rule.memoryMs) return 1
  return Math.min(lastLevel + 1, rule.durationsMs.length)
}

/** How long a block of `level` lasts under the rule. */
export function levelDurationMs (level: number, rule: ScoreRule): number {
  return rule.durationsMs[Math.min(Math.max(level, 1), rule.durationsMs.length) - 1] ?? 0
}
