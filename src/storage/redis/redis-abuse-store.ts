import type { Cluster, Redis } from 'ioredis'
import { type AbuseStore, decayScore, type ScoreOutcome, type ScoreRule, type StoredBlock } from '../abuse-store.js'
import { guarded } from '../store-errors.js'
import { abuseScoreKey, automaticBlocksKey, blocksKey, blocksVersionKey } from './keys.js'
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
-- forgotten memoryMs after the last offence or block end by the caller's clock, as in memory
-- (the key's PEXPIRE does the same by Redis's clock)
if now - math.max(at, blockEnd) >= memory then
  score = 0
  level = 0
  blockEnd = 0
end
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

/**
 * KEYS[1] the blocks, KEYS[2] their version, KEYS[3] the automatic blocks by end. Puts a manual
 * block (ARGV[2] set) or removes one (from both), and moves the version when something changed;
 * a removal returns what it removed.
 */
const changeBlockScript = `
if ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('INCR', KEYS[2])
  return 1
end
local removed = redis.call('HGET', KEYS[1], ARGV[1])
if not removed then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('INCR', KEYS[2])
return removed`

/**
 * Puts an automatic block, the same keys; ARGV[1] id, ARGV[2] JSON, ARGV[3] its end, ARGV[4]
 * now (its since), ARGV[5] the most automatic blocks in force. Drops ended automatic blocks
 * (up to 1000 a call: listBlocks drops the rest), then, at the cap, those ending soonest
 * before adding this one, and returns their JSON.
 */
const putAutomaticBlockScript = `
local ended = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[4], 'LIMIT', 0, 1000)
if #ended > 0 then
  redis.call('ZREM', KEYS[3], unpack(ended))
  redis.call('HDEL', KEYS[1], unpack(ended))
end
local evicted = {}
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[5]) + 1
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[3], over)
  for i = 1, #popped, 2 do
    local json = redis.call('HGET', KEYS[1], popped[i])
    if json then
      evicted[#evicted + 1] = json
      redis.call('HDEL', KEYS[1], popped[i])
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('INCR', KEYS[2])
return evicted`

type AbuseClient = (Redis | Cluster) & {
  missiveChangeBlock: (blocks: string, version: string, automatic: string, id: string, json?: string) => Promise<number | string | null>
  missivePutAutomaticBlock: (blocks: string, version: string, automatic: string, id: string, json: string, until: number, now: number, maxAutomatic: number) => Promise<string[]>
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
 * last block); blocks in one hash `{missive-abuse}:blocks` (id → JSON) with a version counter and
 * the automatic blocks' ends (a sorted set, for the cap) in the same slot, changed together by
 * one script. Instances poll the version (one GET a second).
 */
export class RedisAbuseStore implements AbuseStore {
  private readonly redis: AbuseClient

  constructor (redis: Redis | Cluster) {
    this.redis = withScripts(redis, {
      missiveAddScore: { numberOfKeys: 1, lua: addScoreScript },
      missiveChangeBlock: { numberOfKeys: 3, lua: changeBlockScript },
      missivePutAutomaticBlock: { numberOfKeys: 3, lua: putAutomaticBlockScript }
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
      const [score, at, blockEnd] = await this.redis.hmget(abuseScoreKey(address), 's', 't', 'b')
      if (score === null || at === null) return 0
      // forgotten past memoryMs by the caller's clock, as in memory
      if (now - Math.max(Number(at), Number(blockEnd ?? 0)) >= rule.memoryMs) return 0
      return decayScore(Number(score), now - Number(at), rule.halfLifeMs)
    })
  }

  async putBlock (block: StoredBlock, maxAutomatic = Number.POSITIVE_INFINITY): Promise<StoredBlock[]> {
    return await guarded(async () => {
      const json = JSON.stringify(block)
      if (block.manual) {
        await this.redis.missiveChangeBlock(blocksKey, blocksVersionKey, automaticBlocksKey, block.id, json)
        return []
      }
      // (a finite stand-in for no cap: ARGV is a string)
      const cap = Number.isFinite(maxAutomatic) ? Math.floor(maxAutomatic) : Number.MAX_SAFE_INTEGER
      const evicted = await this.redis.missivePutAutomaticBlock(blocksKey, blocksVersionKey, automaticBlocksKey, block.id, json, block.until, block.since, cap)
      return evicted.map((each) => parseBlock(each)).filter((b) => b !== null)
    })
  }

  async removeBlock (id: string): Promise<StoredBlock | null> {
    return await guarded(async () => {
      const removed = await this.redis.missiveChangeBlock(blocksKey, blocksVersionKey, automaticBlocksKey, id)
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
      if (ended.length > 0) {
        await this.redis.hdel(blocksKey, ...ended)
        await this.redis.zrem(automaticBlocksKey, ...ended)
      }
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
