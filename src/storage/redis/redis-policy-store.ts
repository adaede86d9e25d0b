import type { Cluster, Redis } from 'ioredis'
import type { PolicyStore, StoredPolicy } from '../policy-store.js'
import { guarded } from '../store-errors.js'
import { policyKey } from './keys.js'
import { withScripts } from './scripted.js'

/**
 * KEYS[1] the policy hash; ARGV[1] '1' conditional, '0' not; ARGV[2] the expected version
 * ('' for "nothing stored"); ARGV[3] the new version; ARGV[4] the document. 1 written, 0 not.
 */
const compareAndSetScript = `
if ARGV[1] == '1' then
  local current = redis.call('HGET', KEYS[1], 'v')
  if ARGV[2] == '' then
    if current then return 0 end
  elseif current ~= ARGV[2] then
    return 0
  end
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'd', ARGV[4])
return 1`

interface PolicyCommands {
  missivePolicyCas (key: string, conditional: string, expected: string, version: string, document: string): Promise<number>
}
type ScriptedClient = (Redis | Cluster) & PolicyCommands

/**
 * The policy in one Redis hash, `{missive-policy}:current` (one slot on a Cluster), fields
 * `v` (the version) and `d` (the document). `version()` is one HGET of the short field: what
 * each instance runs every second. No expiry.
 */
export class RedisPolicyStore implements PolicyStore {
  private readonly redis: ScriptedClient

  constructor (client: Redis | Cluster) {
    this.redis = withScripts(client, { missivePolicyCas: { numberOfKeys: 1, lua: compareAndSetScript } })
  }

  async read (): Promise<StoredPolicy | null> {
    return await guarded(async () => {
      const [version, document] = await this.redis.hmget(policyKey, 'v', 'd')
      return version === null || version === undefined || document === null || document === undefined ? null : { version, document }
    })
  }

  async version (): Promise<string | null> {
    return await guarded(async () => await this.redis.hget(policyKey, 'v'))
  }

  async compareAndSet (next: StoredPolicy, expected: string | null | undefined): Promise<boolean> {
    if (next.version === '') throw new RangeError('a policy version must not be empty')
    return await guarded(async () => await this.redis.missivePolicyCas(
      policyKey, expected === undefined ? '0' : '1', expected ?? '', next.version, next.document) === 1)
  }

  async close (): Promise<void> {
    // The client belongs to whoever made it (the storage plugin, or the key tool).
  }
}
