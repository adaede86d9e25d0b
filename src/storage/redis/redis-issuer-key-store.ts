import type { Cluster, Redis } from 'ioredis'
import type { IssuerKeyStore, StoredIssuerKey } from '../issuer-key-store.js'
import { guarded } from '../store-errors.js'
import { issuerKeysKey } from './keys.js'
import { withScripts } from './scripted.js'

/** KEYS[1] the hash; ARGV[1] name, ARGV[2] the key as JSON. Writes unless taken; returns what is stored. */
const createIfAbsentScript = `
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[1], ARGV[1])`

interface IssuerKeyCommands {
  missiveIssuerKeyCreate (hash: string, name: string, json: string): Promise<string>
}
type ScriptedClient = (Redis | Cluster) & IssuerKeyCommands

/**
 * Issuer keys in one Redis hash, a field per key name. HSETNX makes the creation
 * exactly-once across instances without a lock: every instance derives the same name
 * from the clock, and the first write wins (the script returns the winner, so a loser
 * signs with the same key instead of its own). A few keys only: HGETALL is cheap.
 */
export class RedisIssuerKeyStore implements IssuerKeyStore {
  private readonly redis: ScriptedClient

  constructor (client: Redis | Cluster) {
    this.redis = withScripts(client, { missiveIssuerKeyCreate: { numberOfKeys: 1, lua: createIfAbsentScript } })
  }

  async createIfAbsent (key: StoredIssuerKey): Promise<StoredIssuerKey> {
    return await guarded(async () => parse(await this.redis.missiveIssuerKeyCreate(issuerKeysKey, key.name, JSON.stringify(key))))
  }

  async list (): Promise<StoredIssuerKey[]> {
    return await guarded(async () => Object.values(await this.redis.hgetall(issuerKeysKey)).map(parse))
  }

  async remove (names: readonly string[]): Promise<void> {
    if (names.length === 0) return
    await guarded(async () => await this.redis.hdel(issuerKeysKey, ...names))
  }
}

function parse (json: string): StoredIssuerKey {
  return JSON.parse(json) as StoredIssuerKey
}
