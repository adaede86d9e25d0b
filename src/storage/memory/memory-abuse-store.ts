import { type AbuseStore, decayScore, ladderLevel, levelDurationMs, type ScoreOutcome, type ScoreRule, type StoredBlock } from '../abuse-store.js'

/** blockEnd: when the address's last block ends (or ended) */
interface ScoreEntry { score: number, at: number, level: number, blockEnd: number }

const MAX_ADDRESSES = 100_000

/**
 * The abuse state of one process. Each step is synchronous, so racing calls are serialised.
 * An address is forgotten memoryMs after its last offence or the end of its last block,
 * whichever is later (by the caller's clock). At most
 * 100 000 addresses are kept: past that the oldest records go first (a flood of fresh
 * addresses can push out an old offender's level, not a block: blocks are kept apart).
 */
export class MemoryAbuseStore implements AbuseStore {
  private readonly scores = new Map<string, ScoreEntry>()
  private readonly blocks = new Map<string, StoredBlock>()
  private version = 0

  async addScore (address: string, weight: number, now: number, rule: ScoreRule): Promise<ScoreOutcome> {
    const known = this.live(address, now, rule)
    const entry = known ?? { score: 0, at: now, level: 0, blockEnd: 0 }
    let score = decayScore(entry.score, now - entry.at, rule.halfLifeMs) + weight
    let level = 0
    if (score >= rule.threshold) {
      level = ladderLevel(entry.level, entry.blockEnd, now, rule)
      score = 0
      entry.level = level
      entry.blockEnd = now + levelDurationMs(level, rule)
    }
    entry.score = score
    entry.at = now
    // re-inserted: the map's order is the order of last offences
    this.scores.delete(address)
    this.scores.set(address, entry)
    if (this.scores.size > MAX_ADDRESSES) this.scores.delete(this.scores.keys().next().value as string)
    return { score, level }
  }

  async score (address: string, now: number, rule: ScoreRule): Promise<number> {
    const entry = this.live(address, now, rule)
    return entry === undefined ? 0 : decayScore(entry.score, now - entry.at, rule.halfLifeMs)
  }

  private live (address: string, now: number, rule: ScoreRule): ScoreEntry | undefined {
    const entry = this.scores.get(address)
    if (entry === undefined || now - Math.max(entry.at, entry.blockEnd) < rule.memoryMs) return entry
    this.scores.delete(address)
    return undefined
  }

  async putBlock (block: StoredBlock, maxAutomatic = Number.POSITIVE_INFINITY): Promise<StoredBlock[]> {
    maxAutomatic = Math.floor(maxAutomatic)
    const evicted: StoredBlock[] = []
    if (!block.manual) {
      let automatic = 0
      for (const [id, b] of this.blocks) {
        if (b.manual) continue
        if (b.until <= block.since) this.blocks.delete(id)
        else automatic++
      }
      // at the cap: the automatic block ending soonest goes (a scan: a handful per second at most)
      for (; automatic >= maxAutomatic && automatic > 0; automatic--) {
        let soonest: StoredBlock | null = null
        for (const b of this.blocks.values()) if (!b.manual && (soonest === null || b.until < soonest.until)) soonest = b
        this.blocks.delete((soonest as StoredBlock).id)
        evicted.push(soonest as StoredBlock)
      }
    }
    this.blocks.set(block.id, block)
    this.version += 1
    return evicted
  }

  async removeBlock (id: string): Promise<StoredBlock | null> {
    const block = this.blocks.get(id)
    if (block === undefined) return null
    this.blocks.delete(id)
    this.version += 1
    return block
  }

  async listBlocks (now: number): Promise<StoredBlock[]> {
    for (const [id, block] of this.blocks) if (block.until <= now) this.blocks.delete(id)
    return [...this.blocks.values()].sort((a, b) => a.since - b.since || a.id.localeCompare(b.id))
  }

  async blocksVersion (): Promise<number> {
    return this.version
  }

  async close (): Promise<void> {
    this.scores.clear()
    this.blocks.clear()
  }
}
