import { randomBytes } from 'node:crypto'
import { InvalidPolicy, PolicyVersionMismatch } from '../errors.js'
import { isoTime } from '../iso-time.js'
import { type Poller, startPoller } from '../poller.js'
import type { PolicyStore, StoredPolicy } from '../storage/policy-store.js'
import type { EventContext, SecurityEventSink } from './events.js'
import { compileOriginPatterns, OriginPatternError } from './origin-patterns.js'

/**
 * Runtime policy (API.md section 8): the settings an operator may change without a restart.
 * The environment gives the defaults; a stored override, versioned, wins on every instance.
 *
 * How a change travels: the instance that makes it applies it at once; every other instance
 * reads the store's version (one small read) every `pollMs` (1 s) off the request path, and
 * re-reads the document only when the version moved, so every instance follows within about
 * a second, and a missed poll cannot leave one behind (the next poll catches up). While the
 * store does not answer, an instance keeps the policy it has (one warning per outage).
 *
 * Per request, `current()` is a field read: a frozen snapshot, replaced (never mutated) on a
 * change, so a consumer may cache what it derives from one snapshot object (the CORS
 * matcher, the web page) and compare by identity.
 *
 * Versions are opaque: "env" for the environment's defaults never changed, otherwise a random
 * id that is new with every replace and every reset (a reset is stored too, so an `If-Match`
 * taken before a change and a reset never matches again).
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
  /** ISO 8601 of the last replace or reset; null for the environment's defaults never changed */
  readonly updatedAt: string | null
  /** the key id (or "key-tool") that made the last replace or reset; null for the defaults never changed */
  readonly updatedBy: string | null
}

export interface PolicyDefaults {
  readonly corsOrigins: readonly string[]
  readonly RATE_LIMIT_WINDOW_MS: number
  readonly RATE_LIMIT_CREATE_MAX: number
  readonly RATE_LIMIT_READ_MAX: number
  readonly RATE_LIMIT_API_MAX: number
  readonly MESSAGE_MAX_TTL_SECONDS: number
  /** the lifetime of a message that names none: the maximum may not go below it */
  readonly MESSAGE_DEFAULT_TTL_SECONDS: number
}

/** the version of the environment's defaults, before any change */
export const ENV_VERSION = 'env'

/** The bounds a policy is validated against (the environment's, plus sane maxima). */
export const POLICY_BOUNDS = Object.freeze({
  windowMs: { min: 1000, max: 2_147_483_647 },
  limit: { min: 1, max: 1_000_000_000 },
  maxTtlSeconds: { min: 60, max: 315_360_000 }
})

/** The environment's policy, version "env". */
export function defaultPolicy (config: PolicyDefaults): PolicySnapshot {
  return snapshot(ENV_VERSION, valuesOf(config), null, null)
}

function valuesOf (config: PolicyDefaults): PolicyValues {
  return {
    corsOrigins: config.corsOrigins,
    rateLimits: {
      windowMs: config.RATE_LIMIT_WINDOW_MS,
      create: config.RATE_LIMIT_CREATE_MAX,
      read: config.RATE_LIMIT_READ_MAX,
      api: config.RATE_LIMIT_API_MAX
    },
    maxTtlSeconds: config.MESSAGE_MAX_TTL_SECONDS,
    anonymousCreate: true
  }
}

function snapshot (version: string, values: PolicyValues, updatedAt: string | null, updatedBy: string | null): PolicySnapshot {
  return Object.freeze({
    version,
    corsOrigins: Object.freeze([...values.corsOrigins]),
    rateLimits: Object.freeze({
      windowMs: values.rateLimits.windowMs,
      create: values.rateLimits.create,
      read: values.rateLimits.read,
      api: values.rateLimits.api
    }),
    maxTtlSeconds: values.maxTtlSeconds,
    anonymousCreate: values.anonymousCreate,
    updatedAt,
    updatedBy
  })
}

/** The four fields of a policy, as PUT takes them. */
export function policyValues (policy: PolicyValues): PolicyValues {
  const { corsOrigins, rateLimits, maxTtlSeconds, anonymousCreate } = policy
  return { corsOrigins: [...corsOrigins], rateLimits: { ...rateLimits }, maxTtlSeconds, anonymousCreate }
}

const POLICY_FIELDS = ['corsOrigins', 'rateLimits', 'maxTtlSeconds', 'anonymousCreate'] as const
const RATE_LIMIT_FIELDS = ['windowMs', 'create', 'read', 'api'] as const

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function exactFields (value: unknown, field: string, names: readonly string[]): Record<string, unknown> {
  const where = (name: string): string => field === '' ? name : `${field}/${name}`
  if (!isPlainObject(value)) throw new InvalidPolicy(field === '' ? '' : field, 'must be an object')
  for (const name of Object.keys(value)) if (!names.includes(name)) throw new InvalidPolicy(where(name), 'is not a field of the policy')
  for (const name of names) if (!Object.hasOwn(value, name)) throw new InvalidPolicy(where(name), 'is required (a policy is given whole)')
  return value
}

function integer (value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidPolicy(field, `must be an integer from ${min} to ${max}`)
  }
  return value
}

/** The fields a GET shows that a PUT may carry back: not settings, so set aside before validation. */
function withoutReadOnly (input: unknown): { values: unknown, version: string | undefined } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { values: input, version: undefined }
  const { version, updatedAt: _updatedAt, updatedBy: _updatedBy, ...values } = input as Record<string, unknown>
  return { values, version: typeof version === 'string' ? version : undefined }
}

/**
 * Validates a whole policy like the environment is validated (schemas/env.ts bounds and the
 * config's cross-check), and returns a copy. Throws InvalidPolicy (400, `body/<field>: why`)
 * naming the first bad field; a CORS entry is named by its index and shown with the reason.
 */
export function parsePolicyValues (input: unknown, defaults: Pick<PolicyDefaults, 'MESSAGE_DEFAULT_TTL_SECONDS'>): PolicyValues {
  const body = exactFields(input, '', POLICY_FIELDS)

  const origins = body.corsOrigins
  if (!Array.isArray(origins)) throw new InvalidPolicy('corsOrigins', 'must be an array of origins')
  origins.forEach((entry: unknown, index) => {
    if (typeof entry !== 'string') throw new InvalidPolicy(`corsOrigins/${index}`, 'must be a string')
  })
  try {
    compileOriginPatterns(origins as string[])
  } catch (err) {
    if (err instanceof OriginPatternError) throw new InvalidPolicy(`corsOrigins/${err.index}`, err.message)
    throw err
  }

  const limits = exactFields(body.rateLimits, 'rateLimits', RATE_LIMIT_FIELDS)
  const windowMs = integer(limits.windowMs, 'rateLimits/windowMs', POLICY_BOUNDS.windowMs.min, POLICY_BOUNDS.windowMs.max)
  const [create, read, api] = (['create', 'read', 'api'] as const)
    .map((name) => integer(limits[name], `rateLimits/${name}`, POLICY_BOUNDS.limit.min, POLICY_BOUNDS.limit.max))

  const maxTtlSeconds = integer(body.maxTtlSeconds, 'maxTtlSeconds', POLICY_BOUNDS.maxTtlSeconds.min, POLICY_BOUNDS.maxTtlSeconds.max)
  if (maxTtlSeconds < defaults.MESSAGE_DEFAULT_TTL_SECONDS) {
    throw new InvalidPolicy('maxTtlSeconds', `must be at least MESSAGE_DEFAULT_TTL_SECONDS (${defaults.MESSAGE_DEFAULT_TTL_SECONDS}), ` +
      'the lifetime of a message that names none, as the environment requires of MESSAGE_MAX_TTL_SECONDS')
  }

  if (typeof body.anonymousCreate !== 'boolean') throw new InvalidPolicy('anonymousCreate', 'must be true or false')

  return {
    corsOrigins: [...origins as string[]],
    rateLimits: { windowMs, create: create as number, read: read as number, api: api as number },
    maxTtlSeconds,
    anonymousCreate: body.anonymousCreate
  }
}

/**
 * An If-Match header: undefined when absent or `*` (the policy always exists, so `*` always
 * matches: unconditional), else the entity tags it lists, unquoted. A weak tag (`W/"…"`) never
 * matches (If-Match compares strongly), so it is dropped; an empty list matches nothing.
 */
export function parseIfMatch (header: string | null | undefined): string[] | undefined {
  if (header === null || header === undefined) return undefined
  const trimmed = header.trim()
  if (trimmed === '*' || trimmed === '') return trimmed === '*' ? undefined : []
  return trimmed.split(',').map((tag) => tag.trim()).filter((tag) => tag !== '' && !tag.startsWith('W/'))
    .map((tag) => tag.length >= 2 && tag.startsWith('"') && tag.endsWith('"') ? tag.slice(1, -1) : tag)
}

/** What the store's document holds: the values (null after a reset: the defaults), when and by whom. */
interface PolicyDocument {
  values: PolicyValues | null
  updatedAt: number
  updatedBy: string
}

/** The part of a pino logger the poller needs. */
export interface PolicyLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
}

export interface RuntimePolicyOptions {
  /** how often the store's version is read; 0: never (the key tool) */
  pollMs?: number
  now?: () => number
  log?: PolicyLogger
  /** where policy.changed and policy.reset go (every caller's change, the API's and the key tool's) */
  events?: SecurityEventSink
}

/** who made a change, for its security event: where the request came from (none from a shell) */
export type PolicyChangeContext = Pick<EventContext, 'ip' | 'requestId'>

export const DEFAULT_POLICY_POLL_MS = 1000

const silent: PolicyLogger = { info () {}, warn () {} }

/** the store's version as the API shows it */
const shown = (version: string | null): string => version ?? ENV_VERSION
/** an If-Match tag as the store's version */
const stored = (tag: string): string | null => tag === ENV_VERSION ? null : tag

export class RuntimePolicy {
  private snapshot: PolicySnapshot
  /** the store version in force here (null: nothing stored, the defaults) */
  private applied: string | null = null
  /** moves with every change made here, so that a poll that raced it does not undo it */
  private generation = 0
  private poller: Poller | null = null
  private failing = false
  private readonly pollMs: number
  private readonly now: () => number
  private readonly log: PolicyLogger
  private readonly events: SecurityEventSink | null

  constructor (private readonly store: PolicyStore, private readonly defaults: PolicyDefaults, options: RuntimePolicyOptions = {}) {
    this.snapshot = defaultPolicy(defaults)
    this.events = options.events ?? null
    this.pollMs = options.pollMs ?? DEFAULT_POLICY_POLL_MS
    this.now = options.now ?? Date.now
    this.log = options.log ?? silent
  }

  /** The policy in force on this instance: synchronous, no store read. */
  current (): PolicySnapshot {
    return this.snapshot
  }

  /**
   * Reads the stored policy once and starts polling. A store that does not answer yet leaves
   * the environment's defaults in force (with a warning) until a poll gets through.
   */
  async start (): Promise<void> {
    try {
      await this.refresh()
    } catch (err) {
      this.warnOnce(err)
    }
    this.poller ??= startPoller(async () => { await this.poll() }, this.pollMs)
  }

  /** Reads the stored policy now (GET, the key tool) and applies it here; the snapshot in force after. */
  async refresh (): Promise<PolicySnapshot> {
    const generation = this.generation
    const found = await this.store.read()
    // A change made here while the read was on its way is at least as new: keep it.
    if (generation === this.generation) this.apply(found)
    return this.snapshot
  }

  /**
   * Replaces the whole policy (validated like the environment: InvalidPolicy names the field)
   * when `ifMatch` (an If-Match header: see parseIfMatch; absent = unconditional) matches the
   * stored version; otherwise PolicyVersionMismatch (412). In force here at once.
   */
  async replace (input: unknown, ifMatch: string | null | undefined, by: string, context: PolicyChangeContext = {}): Promise<PolicySnapshot> {
    const { values: fields, version } = withoutReadOnly(input)
    const values = parsePolicyValues(fields, this.defaults)
    // A policy as GET answered it, edited and sent back: its version is the If-Match it implies.
    const replaced = await this.write({ values, updatedAt: this.now(), updatedBy: by }, ifMatch ?? version)
    this.emit('policy.changed', replaced, by, context)
    return replaced
  }

  /** Back to the environment's defaults (stored as a change of its own, with a new version). */
  async reset (ifMatch: string | null | undefined, by: string, context: PolicyChangeContext = {}): Promise<PolicySnapshot> {
    const reset = await this.write({ values: null, updatedAt: this.now(), updatedBy: by }, ifMatch)
    this.emit('policy.reset', reset, by, context)
    return reset
  }

  close (): void {
    this.poller?.close()
    this.poller = null
  }

  /** The change's security event: `by` a key id, or "key-tool" (then no keyId). */
  private emit (type: 'policy.changed' | 'policy.reset', policy: PolicySnapshot, by: string, context: PolicyChangeContext): void {
    this.events?.emit({ type, keyId: by === 'key-tool' ? null : by, ip: context.ip ?? null, requestId: context.requestId ?? null, detail: { version: policy.version, by } })
  }

  private async write (document: PolicyDocument, ifMatch: string | null | undefined): Promise<PolicySnapshot> {
    const expected = await this.expected(parseIfMatch(ifMatch))
    const next: StoredPolicy = { version: randomBytes(12).toString('base64url'), document: JSON.stringify(document) }
    if (!await this.store.compareAndSet(next, expected)) throw new PolicyVersionMismatch()
    this.generation++
    this.apply(next)
    return this.snapshot
  }

  /** The store version a write must find: undefined for any. */
  private async expected (tags: string[] | undefined): Promise<string | null | undefined> {
    if (tags === undefined) return undefined
    if (tags.length === 1) return stored(tags[0] as string)
    // Several tags: whichever is stored now, if it is one of them (the write still checks it).
    const version = await this.store.version()
    if (!tags.includes(shown(version))) throw new PolicyVersionMismatch()
    return version
  }

  /** One look at the store's version (the poller runs one at a time). */
  private async poll (): Promise<void> {
    try {
      const version = await this.store.version()
      if (version !== this.applied) await this.refresh()
      if (this.failing) this.log.info({ event: 'policy.store_restored' }, 'policy store answers again: following its policy')
      this.failing = false
    } catch (err) {
      this.warnOnce(err)
    }
  }

  private warnOnce (err: unknown): void {
    if (this.failing) return
    this.failing = true
    const cause = (err as { cause?: unknown }).cause ?? err
    this.log.warn({ event: 'policy.store_unavailable', err: { message: (cause as Error).message } },
      'policy store does not answer: keeping the policy in force until it does')
  }

  private apply (found: StoredPolicy | null): void {
    if (found === null) {
      if (this.applied !== null || this.snapshot.version !== ENV_VERSION) this.snapshot = defaultPolicy(this.defaults)
      this.applied = null
      return
    }
    if (found.version === this.applied) return
    this.applied = found.version
    let document: PolicyDocument
    try {
      document = JSON.parse(found.document) as PolicyDocument
      const values = document.values === null ? valuesOf(this.defaults) : parsePolicyValues(document.values, this.defaults)
      this.snapshot = snapshot(found.version, values, isoTime(document.updatedAt), document.updatedBy)
    } catch (err) {
      // Written by an instance configured otherwise (a longer default TTL) or by hand: this
      // instance keeps what it has rather than enforce what it cannot. Once per version.
      this.log.warn({ event: 'policy.unusable', version: found.version, err: { message: (err as Error).message } },
        'the stored policy cannot be applied on this instance: keeping the policy in force')
    }
  }
}

/**
 * A value derived from the policy, made again only when the snapshot changes (compared by
 * identity): a field read and a comparison per call.
 */
export function perPolicy<T> (policy: Pick<RuntimePolicy, 'current'>, make: (policy: PolicySnapshot) => T): () => T {
  let seen: PolicySnapshot | null = null
  let value: T
  return () => {
    const current = policy.current()
    if (current !== seen) {
      value = make(current)
      seen = current
    }
    return value
  }
}
