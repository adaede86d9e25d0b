import type { Cluster, Redis } from 'ioredis'
import type { FailureCount, KeyPatch, KeyStore, RevokeResult, Rotation, StoredKey, TokenGate } from '../key-store.js'
import { guarded } from '../store-errors.js'
import { SameTurnReads } from './same-turn-reads.js'
import { apiKeyEpochKey, apiKeyIndexKey, apiKeyKey, apiKeyTouchedKey, authFailuresKey, deniedTokenKey } from './keys.js'
import { withScripts } from './scripted.js'

// A key record is a Redis hash with short field names; an absent field is null.
// n name, s scopes (space-separated), c createdAt, x expiresAt, u lastUsedAt, r revokedAt,
// l rateLimit, h hash, ph previousHash, pu previousUntil, ip allowedIps (CIDRs, space-separated;
// absent: any address), rs requireSignature ('1'; absent: false). Records written before
// ip and rs existed read as any address and no signature required.
type Fields = Record<string, string>

/** KEYS[1] record; ARGV field, value pairs. Never overwrites: returns 1 when written, 0 when the id is taken. */
const createScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`

/** KEYS[1] record; ARGV[1] revokedAt. -1 unknown, 1 revoked now, 0 already revoked (the first time stays). */
const revokeScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HSETNX', KEYS[1], 'r', ARGV[1])`

/** KEYS[1] record; ARGV[1] hash, ARGV[2] previousHash or '', ARGV[3] previousUntil. The record after, or nil when unknown or revoked. */
const rotateScript = `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'r') == 1 then return nil end
redis.call('HSET', KEYS[1], 'h', ARGV[1])
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'ph', 'pu')
else redis.call('HSET', KEYS[1], 'ph', ARGV[2], 'pu', ARGV[3]) end
return redis.call('HGETALL', KEYS[1])`

/**
 * KEYS[1] record; ARGV[1] n, then n field, value pairs to set, then the fields to delete.
 * The record after, or nil (nothing written) when unknown or revoked.
 */
const updateScript = `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'r') == 1 then return nil end
local n = tonumber(ARGV[1])
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * n)) end
if #ARGV > 1 + 2 * n then redis.call('HDEL', KEYS[1], unpack(ARGV, 2 + 2 * n)) end
return redis.call('HGETALL', KEYS[1])`

/** KEYS[1] record, KEYS[2] its guard; ARGV[1] lastUsedAt, ARGV[2] interval (ms). One write per interval across instances. */
const touchScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'u', ARGV[1])
return 1`

/**
 * KEYS[1] an IP's failure counter; ARGV[1] window (ms). The window starts with the first failure. {count, ms left}
 * allow-oom: a full Redis (maxmemory, noeviction) must still count failed logins (one small
 * counter per IP), or every wrong credential would get 507 instead of 401 and a brute force
 * would go uncounted for as long as the store is full.
 */
const recordFailureScript = `#!lua flags=allow-oom
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}`

interface KeyCommands {
  missiveKeyCreate (record: string, ...fields: string[]): Promise<number>
  missiveKeyRevoke (record: string, at: number): Promise<number>
  missiveKeyRotate (record: string, hash: string, previousHash: string, previousUntil: string): Promise<string[] | null>
  missiveKeyUpdate (record: string, setCount: number, ...fields: string[]): Promise<string[] | null>
  missiveKeyTouch (record: string, guard: string, at: number, intervalMs: number): Promise<number>
  missiveAuthFailure (counter: string, windowMs: number): Promise<[number, number]>
}
type ScriptedClient = (Redis | Cluster) & KeyCommands

export class RedisKeyStore implements KeyStore {
  private readonly redis: ScriptedClient
  /** a single Redis: one script may read keys of any slot */
  private readonly oneNode: boolean
  private readonly sameTurn = new SameTurnReads()

  constructor (client: Redis | Cluster, private readonly now: () => number = Date.now) {
    this.redis = withScripts(client, KEY_SCRIPTS)
    this.oneNode = !client.isCluster
  }

  async create (key: StoredKey): Promise<boolean> {
    return await guarded(async () => {
      const created = await this.redis.missiveKeyCreate(apiKeyKey(key.id), ...Object.entries(toFields(key)).flat()) === 1
      if (created) await this.redis.sadd(apiKeyIndexKey, key.id)
      return created
    })
  }

  async get (id: string): Promise<StoredKey | null> {
    return await guarded(async () => fromFields(id, await this.redis.hgetall(apiKeyKey(id))))
  }

  async list (): Promise<StoredKey[]> {
    return await guarded(async () => {
      const ids = await this.redis.smembers(apiKeyIndexKey)
      const records = await Promise.all(ids.map(async (id) => fromFields(id, await this.redis.hgetall(apiKeyKey(id)))))
      return records
        .filter((key): key is StoredKey => key !== null)
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
    })
  }

  async revoke (id: string, at: number): Promise<RevokeResult> {
    return await guarded(async () => {
      const reply = await this.redis.missiveKeyRevoke(apiKeyKey(id), at)
      if (reply === -1) return 'unknown'
      await this.redis.incr(apiKeyEpochKey)
      return reply === 1 ? 'revoked' : 'already-revoked'
    })
  }

  async rotate (id: string, rotation: Rotation): Promise<StoredKey | null> {
    return await guarded(async () => {
      const reply = await this.redis.missiveKeyRotate(apiKeyKey(id), rotation.hash, rotation.previousHash ?? '', String(rotation.previousUntil ?? ''))
      if (reply === null) return null
      await this.redis.incr(apiKeyEpochKey)
      return fromFields(id, pairs(reply))
    })
  }

  async update (id: string, patch: KeyPatch): Promise<StoredKey | null> {
    const { set, remove } = patchFields(patch)
    return await guarded(async () => {
      const reply = await this.redis.missiveKeyUpdate(apiKeyKey(id), set.length / 2, ...set, ...remove)
      if (reply === null) return null
      await this.redis.incr(apiKeyEpochKey)
      return fromFields(id, pairs(reply))
    })
  }

  async touch (id: string, at: number, intervalMs: number): Promise<void> {
    await guarded(async () => { await this.redis.missiveKeyTouch(apiKeyKey(id), apiKeyTouchedKey(id), at, intervalMs) })
  }

  async epoch (): Promise<number> {
    return await guarded(async () => Number(await this.redis.get(apiKeyEpochKey) ?? 0))
  }

  async bumpEpoch (): Promise<void> {
    await guarded(async () => { await this.redis.incr(apiKeyEpochKey) })
  }

  async denyToken (jti: string, expiresAt: number): Promise<void> {
    if (expiresAt <= this.now()) return
    await guarded(async () => { await this.redis.set(deniedTokenKey(jti), '1', 'PXAT', expiresAt) })
  }

  async isTokenDenied (jti: string): Promise<boolean> {
    return await guarded(async () => await this.redis.exists(deniedTokenKey(jti)) === 1)
  }

  async recordAuthFailure (ip: string, windowMs: number): Promise<FailureCount> {
    return await guarded(async () => toFailureCount(await this.redis.missiveAuthFailure(authFailuresKey(ip), windowMs)))
  }

  // The reads below run on every authenticated request: plain commands, not scripts (a
  // script call costs Redis several times a GET: ~10 µs per EVALSHA against ~0.2 µs per GET
  // under load), shared by the requests of one event-loop turn that ask the same (see
  // SameTurnReads). Almost every IP has no failures, so its PTTL is asked only when there
  // is a count to report.
  async authFailures (ip: string): Promise<FailureCount> {
    return await this.sameTurn.read(`failures ${ip}`, async () =>
      await guarded(async () => await this.withReset(ip, await this.redis.get(authFailuresKey(ip)))))
  }

  async tokenGate (ip: string, jti: string): Promise<TokenGate> {
    if (!this.oneNode) {
      const [failures, denied] = await Promise.all([this.authFailures(ip), this.isTokenDenied(jti)])
      return { failures, denied }
    }
    // A single Redis: both keys in one MGET (on a Cluster they are in different slots).
    return await this.sameTurn.read(`gate ${ip} ${jti}`, async () => await guarded(async () => {
      const [count, denied] = await this.redis.mget(authFailuresKey(ip), deniedTokenKey(jti))
      return { failures: await this.withReset(ip, count ?? null), denied: denied != null }
    }))
  }

  /** A failure count as read, with the time its window has left (a second command, only when there is a count). */
  private async withReset (ip: string, count: string | null): Promise<FailureCount> {
    const failures = Number(count ?? 0)
    if (!(failures > 0)) return { count: 0, resetMs: 0 }
    const left = await this.redis.pttl(authFailuresKey(ip))
    // -2: the window ended between the two reads, and nothing is counted any more.
    return left === -2 ? { count: 0, resetMs: 0 } : { count: failures, resetMs: Math.max(0, left) }
  }

  async close (): Promise<void> {
    // The client belongs to whoever made it (the storage plugin, the key tool).
  }
}

const KEY_SCRIPTS = {
  missiveKeyCreate: { numberOfKeys: 1, lua: createScript },
  missiveKeyRevoke: { numberOfKeys: 1, lua: revokeScript },
  missiveKeyRotate: { numberOfKeys: 1, lua: rotateScript },
  missiveKeyUpdate: { numberOfKeys: 1, lua: updateScript },
  missiveKeyTouch: { numberOfKeys: 2, lua: touchScript },
  missiveAuthFailure: { numberOfKeys: 1, lua: recordFailureScript }
}

function toFailureCount ([count, pttl]: [number, number]): FailureCount {
  return { count, resetMs: Math.max(0, pttl) }
}

function toFields (key: StoredKey): Fields {
  const fields: Fields = { n: key.name, s: key.scopes.join(' '), c: String(key.createdAt), h: key.hash }
  const optional: Array<[string, string | number | null]> = [
    ['x', key.expiresAt], ['u', key.lastUsedAt], ['r', key.revokedAt], ['l', key.rateLimit],
    ['ph', key.previousHash], ['pu', key.previousUntil]
  ]
  for (const [name, value] of optional) if (value !== null) fields[name] = String(value)
  if (key.allowedIps.length > 0) fields.ip = key.allowedIps.join(' ')
  if (key.requireSignature) fields.rs = '1'
  return fields
}

/** A patch as the update script takes it: field, value pairs to set and fields to delete. */
function patchFields (patch: KeyPatch): { set: string[], remove: string[] } {
  const set: string[] = []
  const remove: string[] = []
  if (patch.name !== undefined) set.push('n', patch.name)
  if (patch.scopes !== undefined) set.push('s', patch.scopes.join(' '))
  if (patch.rateLimit === null) remove.push('l')
  else if (patch.rateLimit !== undefined) set.push('l', String(patch.rateLimit))
  if (patch.allowedIps !== undefined) {
    if (patch.allowedIps.length === 0) remove.push('ip')
    else set.push('ip', patch.allowedIps.join(' '))
  }
  if (patch.requireSignature === true) set.push('rs', '1')
  else if (patch.requireSignature === false) remove.push('rs')
  return { set, remove }
}

/** An HGETALL reply as a script returns it (a flat list) as fields. */
function pairs (reply: string[]): Fields {
  const fields: Fields = {}
  for (let i = 0; i + 1 < reply.length; i += 2) fields[reply[i] as string] = reply[i + 1] as string
  return fields
}

function fromFields (id: string, f: Fields): StoredKey | null {
  if (f.h === undefined || f.c === undefined) return null
  const num = (value: string | undefined): number | null => value === undefined ? null : Number(value)
  return {
    id,
    name: f.n ?? '',
    scopes: f.s === undefined || f.s === '' ? [] : f.s.split(' '),
    createdAt: Number(f.c),
    expiresAt: num(f.x),
    lastUsedAt: num(f.u),
    revokedAt: num(f.r),
    rateLimit: num(f.l),
    hash: f.h,
    previousHash: f.ph ?? null,
    previousUntil: num(f.pu),
    allowedIps: f.ip === undefined || f.ip === '' ? [] : f.ip.split(' '),
    requireSignature: f.rs === '1'
  }
}
