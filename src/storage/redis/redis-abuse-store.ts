import type { Cluster, Redis } from 'ioredis'
import { type AbuseStore, decayScore, type ScoreOutcome, type ScoreRule, type StoredBlock } from '../abuse-store.js'
import { guarded } from '../store-errors.js'
import { abuseScoreKey, blocksKey, blocksVersionKey } from './keys.js'
import { withScripts } from './scripted.js'

/**
 * The score step of AbuseStore.addScore, atomic in Redis: decay, add, and at the threshold
 * reset and take the next ladder level (the same arithmetic as decayScore and ladderLevel in
 * ../abuse-store.ts; the contract tests run both stores through the same cases). ARGV[6..]
 * are the ladder's durations. The hash lives memoryMs after the address's last offence or the
 * end of its last block, whichever is later.
 */
const addScoreScript = `
local h = redis.call('HMGET', KEYS[1], 's', 't', 'l', 'b')
local now = tonumber(ARGV[1])
local weight = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local halfLife = tonumber(ARGV[4])
local memory = tonumber(ARGV[5])
local levels = #ARGV - 5
local score = tonumber(h[1]) or 0
local at = tonumber(h[2]) or now
local level = tonumber(h[3]) or 0
local blockEnd = tonumber(h[4]) or 0
if score > 0 and now > at then score = score / math.pow(2, math.floor((now - at) / halfLife)) end
score = score + weight
local crossed = 0
if score >= threshold then
  if level <= 0 or now - blockEnd >= memory then crossed = 1 else crossed = math.min(level + 1, levels) end
  score = 0
  level = crossed
  blockEnd = now + tonumber(ARGV[5 + crossed])
end
redis.call('HSET', KEYS[1], 's', string.format('%.17g', score), 't', now, 'l', level, 'b', blockEnd)
local keep = math.max(now, blockEnd) - now + memory
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return {string.format('%.17g', score), crossed}`

/** put (ARGV[2] set) or remove a block, and move the version when something changed; a removal returns what it removed */
const changeBlockScript = `
if ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('INCR', KEYS[2])
  return 1
end
local removed = redis.call('HGET', KEYS[1], ARGV[1])
if not removed then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[2])
return removed`

type AbuseClient = (Redis | Cluster) & {
  missiveChangeBlock: (blocks: string, version: string, id: string, json?: string) => Promise<number | string | null>
  missiveAddScore: (key: string, now: number, weight: number, threshold: number, halfLife: number, memory: number, ...durations: number[]) => Promise<[string, number]>
}

/** what a removed block whose JSON this version cannot read is reported as */
const UNREADABLE: StoredBlock = { id: '', cidr: '', reason: '', level: 0, since: 0, until: 0, manual: false, by: null }

function parseBlock (json: string): StoredBlock | null {
  try {
    const b = JSON.parse(json) as StoredBlock
    return typeof b.id === 'string' && typeof b.until === 'number' ? b : null
  } catch {
    return null
  }
}

/**
 * Scores in `abuse:{<address>}:score` (a hash: s score, t last write, l level, b the end of the
 * last block); blocks in one hash `{missive-abuse}:blocks` (id → JSON) with a version counter in the
 * same slot, changed together by one script. Instances poll the version (one GET a second).
 */
export class RedisAbuseStore implements AbuseStore {
  private readonly redis: AbuseClient

  constructor (redis: Redis | Cluster) {
    this.redis = withScripts(redis, {
      missiveAddScore: { numberOfKeys: 1, lua: addScoreScript },
      missiveChangeBlock: { numberOfKeys: 2, lua: changeBlockScript }
    })
  }

  async addScore (address: string, weight: number, now: number, rule: ScoreRule): Promise<ScoreOutcome> {
    return await guarded(async () => {
      const [score, level] = await this.redis.missiveAddScore(abuseScoreKey(address), Math.floor(now), weight, rule.threshold, rule.halfLifeMs, rule.memoryMs, ...rule.durationsMs)
      return { score: Number(score), level: Number(level) }
    })
  }

  async score (address: string, now: number, rule: ScoreRule): Promise<number> {
    return await guarded(async () => {
      const [score, at] = await this.redis.hmget(abuseScoreKey(address), 's', 't')
      if (score === null || at === null) return 0
      return decayScore(Number(score), now - Number(at), rule.halfLifeMs)
    })
  }

  async putBlock (block: StoredBlock): Promise<void> {
    await guarded(async () => {
      await this.redis.missiveChangeBlock(blocksKey, blocksVersionKey, block.id, JSON.stringify(block))
    })
  }

  async removeBlock (id: string): Promise<StoredBlock | null> {
    return await guarded(async () => {
      const removed = await this.redis.missiveChangeBlock(blocksKey, blocksVersionKey, id)
      return typeof removed === 'string' ? parseBlock(removed) ?? { ...UNREADABLE, id } : null
    })
  }

  async listBlocks (now: number): Promise<StoredBlock[]> {
    return await guarded(async () => {
      const all = await this.redis.hgetall(blocksKey)
      const live: StoredBlock[] = []
      const ended: string[] = []
      for (const [id, json] of Object.entries(all)) {
        const block = parseBlock(json)
        if (block === null || block.until <= now) ended.push(id)
        else live.push(block)
      }
      // Ended blocks are dropped by whoever lists them (no version move: they ended everywhere).
      if (ended.length > 0) await this.redis.hdel(blocksKey, ...ended)
      return live.sort((a, b) => a.since - b.since || a.id.localeCompare(b.id))
    })
  }

  async blocksVersion (): Promise<number> {
    return await guarded(async () => Number(await this.redis.get(blocksVersionKey) ?? 0))
  }

  async close (): Promise<void> {
    // The client belongs to whoever made it (the storage plugin).
  }
}
