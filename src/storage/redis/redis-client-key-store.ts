import type { Cluster, Redis } from 'ioredis'
import { type AddClientKeyResult, byAge, clientKeyMax, type ClientKeyStore, type StoredClientKey } from '../client-key-store.js'
import { guarded } from '../store-errors.js'
import { apiKeySigningKeysKey } from './keys.js'
import { withScripts } from './scripted.js'

/** A client key as a field of the hash holds it (the keyid is the field's name). */
interface StoredJson { a: StoredClientKey['alg'], j: Record<string, string>, c: number }

/**
 * KEYS[1] the API key's client keys; ARGV[1] keyid, ARGV[2] the key as JSON, ARGV[3] max.
 * 1 added, 0 the keyid is there already, -1 full.
 */
const addScript = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`

interface ClientKeyCommands {
  missiveClientKeyAdd (hash: string, keyid: string, json: string, max: number): Promise<number>
}
type ScriptedClient = (Redis | Cluster) & ClientKeyCommands

const added: Record<number, AddClientKeyResult> = { 1: 'added', 0: 'exists', [-1]: 'full' }

/**
 * Client keys in one Redis hash per API key, `apikey:{<id>}:signing` (the slot of the key's
 * record), a field per keyid. A few keys per API key: HLEN and HGETALL are cheap.
 */
export class RedisClientKeyStore implements ClientKeyStore {
  private readonly redis: ScriptedClient

  constructor (client: Redis | Cluster) {
    this.redis = withScripts(client, { missiveClientKeyAdd: { numberOfKeys: 1, lua: addScript } })
  }

  async add (keyId: string, key: StoredClientKey, max: number): Promise<AddClientKeyResult> {
    const json: StoredJson = { a: key.alg, j: { ...key.jwk }, c: key.createdAt }
    clientKeyMax(max)
    return await guarded(async () => {
      const reply = await this.redis.missiveClientKeyAdd(apiKeySigningKeysKey(keyId), key.keyid, JSON.stringify(json), max)
      const result = added[reply]
      if (result === undefined) throw new Error(`unexpected reply to add: ${reply}`)
      return result
    })
  }

  async list (keyId: string): Promise<StoredClientKey[]> {
    return await guarded(async () => {
      const fields = await this.redis.hgetall(apiKeySigningKeysKey(keyId))
      return Object.entries(fields).map(([keyid, json]) => parse(keyid, json)).sort(byAge)
    })
  }

  async remove (keyId: string, keyid: string): Promise<boolean> {
    return await guarded(async () => await this.redis.hdel(apiKeySigningKeysKey(keyId), keyid) === 1)
  }

  async close (): Promise<void> {
    // The client belongs to whoever made it (the storage plugin).
  }
}

function parse (keyid: string, json: string): StoredClientKey {
  const stored = JSON.parse(json) as StoredJson
  return { keyid, alg: stored.a, jwk: stored.j, createdAt: stored.c }
}
