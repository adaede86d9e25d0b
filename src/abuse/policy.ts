/**
 * Runtime policy (API.md section 8): the settings an operator may change without a restart.
 * The environment gives the defaults; a stored override, versioned, wins on every instance.
 *
 * SKELETON (issue 17 in progress): `current()` is the environment's defaults only; the stored
 * override, `replace` with If-Match and `reset` come with the policy store.
 */

export interface RateLimitPolicy {
  readonly windowMs: number
  /** anonymous creates per client address per window (RATE_LIMIT_CREATE_MAX) */
  readonly create: number
  /** anonymous reads per client address per window (RATE_LIMIT_READ_MAX) */
  readonly read: number
  /** requests per key per window for keys without their own rateLimit (RATE_LIMIT_API_MAX) */
  readonly api: number
}

/** What PUT /api/v1/security/policy takes: all of it. */
export interface PolicyValues {
  /** exact origins or one-label subdomain wildcards (src/abuse/origin-patterns.ts) */
  readonly corsOrigins: readonly string[]
  readonly rateLimits: RateLimitPolicy
  readonly maxTtlSeconds: number
  /** false: POST / answers 403, creating needs the API */
  readonly anonymousCreate: boolean
}

/** The policy in force: read synchronously on every request that needs it. */
export interface PolicySnapshot extends PolicyValues {
  /** changes with every replace or reset; what If-Match carries */
  readonly version: string
  /** ISO 8601, null for the environment's defaults */
  readonly updatedAt: string | null
  /** the key id (or "key-tool") that made the change, null for the defaults */
  readonly updatedBy: string | null
}

export interface PolicyDefaults {
  readonly corsOrigins: readonly string[]
  readonly RATE_LIMIT_WINDOW_MS: number
  readonly RATE_LIMIT_CREATE_MAX: number
  readonly RATE_LIMIT_READ_MAX: number
  readonly RATE_LIMIT_API_MAX: number
  readonly MESSAGE_MAX_TTL_SECONDS: number
}

/** The environment's policy, version "env". */
export function defaultPolicy (config: PolicyDefaults): PolicySnapshot {
  return Object.freeze({
    version: 'env',
    corsOrigins: Object.freeze([...config.corsOrigins]),
    rateLimits: Object.freeze({
      windowMs: config.RATE_LIMIT_WINDOW_MS,
      create: config.RATE_LIMIT_CREATE_MAX,
      read: config.RATE_LIMIT_READ_MAX,
      api: config.RATE_LIMIT_API_MAX
    }),
    maxTtlSeconds: config.MESSAGE_MAX_TTL_SECONDS,
    anonymousCreate: true,
    updatedAt: null,
    updatedBy: null
  })
}

export class RuntimePolicy {
  private snapshot: PolicySnapshot

  constructor (private readonly defaults: PolicyDefaults) {
    this.snapshot = defaultPolicy(defaults)
  }

  /** The policy in force on this instance: synchronous, no store read. */
  current (): PolicySnapshot {
    return this.snapshot
  }
}
