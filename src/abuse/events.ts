import { KEY_ID_PATTERN } from '../api-keys.js'
import type { EventLog, StoredSecurityEvent } from '../storage/event-log.js'

const KEY_ID = new RegExp(KEY_ID_PATTERN)

/**
 * Security events (API.md section 8, `GET /api/v1/security/events`): what a SIEM pulls.
 *
 * Events come from the domain services (ApiKeys, ClientKeys, Policy, Blocks) and from the
 * authentication steps, never from route handlers, so a change made with the key tool reaches
 * the feed like one made over HTTP. `emit` writes one log line (field `event`: the type) and
 * appends to the EventLog store without being awaited: a request never waits for, nor fails
 * because of, the feed. A store failure is logged (once per run of failures), never thrown.
 *
 * Never a secret, never message content. Callers pass only handles and facts: a key id, never a
 * key; a signing key's `keyid`, never a JWK; a reason, never a token. `detail` holds scalars
 * only, so nothing structured (a request body, a header map) can slip in, and as a last guard
 * any string that looks like a credential (an `msk_` API key, a JWT or JWS, a 32-byte
 * base64url value such as a key secret or a delete token) is replaced by "[redacted]", and
 * strings are cut to DETAIL_STRING_MAX characters. The only 43-character base64url values let
 * through are public-key thumbprints in the detail fields `keyid` and `jkt`. `keyId` must be
 * an API key id (12 of [a-z0-9]): anything else a client claimed is stored as null.
 */

/** The catalogue: every type the feed can carry, with what it means (README, "Security events"). */
export const SECURITY_EVENT_TYPES = {
  'auth.failure': 'a request presented a credential (API key, token, proof or signature) that was refused; detail.reason',
  'auth.ip_denied': 'a key (or one of its tokens) was used from an address outside its allowedIps',
  'auth.lockout': 'an address passed AUTH_FAILURE_MAX failed authentications and is locked out (once per lockout)',
  'proof.replayed': 'a DPoP proof jti or a request-signature nonce was presented a second time; detail.proof dpop|sig',
  'key.created': 'an API key was created (HTTP or the key tool); detail.name, detail.scopes',
  'key.revoked': 'an API key was revoked',
  'key.rotated': 'an API key got a new secret; detail.graceSeconds',
  'key.updated': 'an API key\'s name, scopes, limits, allowedIps or requireSignature changed; detail.fields',
  'signing_key.added': 'a public signing key was registered for an API key; detail.keyid',
  'signing_key.removed': 'a public signing key was removed from an API key; detail.keyid',
  'policy.changed': 'the runtime policy was replaced; detail.version',
  'policy.reset': 'the runtime policy went back to the environment\'s defaults',
  'block.added': 'a client network was blocked, automatically or by hand; detail.cidr, level, until, manual, reason',
  'block.lifted': 'a block was lifted before its end; detail.cidr',
  'webhook.created': 'a webhook endpoint was registered for a key; detail.webhookId, host, events',
  'webhook.deleted': 'a webhook endpoint was deleted; detail.webhookId',
  'webhook.secret_rotated': 'a webhook endpoint got a new signing secret (the previous one signs too for 24 hours); detail.webhookId',
  'webhook.disabled': 'a webhook endpoint was disabled after failing for too long; detail.webhookId, failingSince'
} as const satisfies Record<string, string>

export type SecurityEventType = keyof typeof SECURITY_EVENT_TYPES

export const SECURITY_EVENT_TYPE_LIST = Object.freeze(Object.keys(SECURITY_EVENT_TYPES)) as readonly SecurityEventType[]

export function isSecurityEventType (value: string): value is SecurityEventType {
  return Object.hasOwn(SECURITY_EVENT_TYPES, value)
}

export type SecurityEventDetail = Record<string, string | number | boolean | null>

/** What a caller emits. `ip`, `keyId`, `requestId`: null or absent when unknown. */
export interface SecurityEvent {
  readonly type: SecurityEventType
  /** the client address the event is about (request.ip) */
  readonly ip?: string | null
  /** the API key the event is about (a handle, never the key) */
  readonly keyId?: string | null
  /** the id of the request that caused it (x-request-id) */
  readonly requestId?: string | null
  /** a few non-secret scalar facts; never a key, token, proof, signature or message content */
  readonly detail?: SecurityEventDetail
}

/**
 * Who caused a change a domain service makes (ApiKeys, ClientKeys, Policy, Blocks): what the
 * caller knows, all optional. `by`: the API key id of the administrator, or "key-tool".
 */
export interface EventContext {
  readonly by?: string | null
  readonly ip?: string | null
  readonly requestId?: string | null
}

/** Where events go; what the domain services take, so a test or the key tool may pass its own. */
export interface SecurityEventSink {
  emit (event: SecurityEvent): void
}

/** The part of a pino logger this needs. */
export interface EventLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/** The longest string kept in `detail` (and for `ip`, `keyId`, `requestId`), in characters. */
export const DETAIL_STRING_MAX = 200
/** The most keys kept in `detail`. */
export const DETAIL_KEYS_MAX = 16

const REDACTED = '[redacted]'
const CREDENTIAL_LOOKING = [
  /msk_[a-z0-9]{12}_/i, // an API key
  /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\./ // a JWT / JWS (compact, its header starts with {")
]
/** 32 bytes in base64url, alone or within text: a key secret, a delete token (and a thumbprint: see below) */
const RANDOM_32_BYTES = /(?:^|[^A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?:$|[^A-Za-z0-9_-])/
/**
 * detail fields that hold RFC 7638 thumbprints of public keys (43 base64url characters, like a
 * secret, but public): a signing key's `keyid`, a DPoP key's `jkt`
 */
const THUMBPRINT_FIELDS: ReadonlySet<string> = new Set(['keyid', 'jkt'])
const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/

/** true when a string looks like a credential (an API key, a JWT, 32 random bytes) and must not be stored or logged. */
export function looksSecret (value: string): boolean {
  return CREDENTIAL_LOOKING.some(pattern => pattern.test(value)) || RANDOM_32_BYTES.test(value)
}

function cleanString (value: string, field?: string): string {
  const thumbprint = field !== undefined && THUMBPRINT_FIELDS.has(field) && THUMBPRINT.test(value)
  if (thumbprint ? CREDENTIAL_LOOKING.some(pattern => pattern.test(value)) : looksSecret(value)) return REDACTED
  return value.length > DETAIL_STRING_MAX ? value.slice(0, DETAIL_STRING_MAX) : value
}

function cleanHandle (value: string | null | undefined): string | null {
  if (typeof value !== 'string' || value === '') return null
  return cleanString(value)
}

function cleanDetail (detail: SecurityEventDetail | undefined): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {}
  if (detail === undefined || detail === null) return out
  let kept = 0
  for (const [name, value] of Object.entries(detail)) {
    if (kept >= DETAIL_KEYS_MAX) break
    if (name === '__proto__') continue
    if (value === null || typeof value === 'boolean') out[name] = value
    else if (typeof value === 'number') out[name] = Number.isFinite(value) ? value : null
    else if (typeof value === 'string') out[name] = cleanString(value, name)
    else continue // anything structured is dropped, whatever the type says
    kept++
  }
  return out
}

/** The event as stored and served, minus its id: every field present, secrets refused. */
export function toStoredEvent (event: SecurityEvent, now: number): StoredSecurityEvent {
  return {
    type: event.type,
    at: new Date(now).toISOString(),
    ip: cleanHandle(event.ip),
    keyId: typeof event.keyId === 'string' && KEY_ID.test(event.keyId) ? event.keyId : null,
    requestId: cleanHandle(event.requestId),
    detail: cleanDetail(event.detail)
  }
}

const WARN_TYPES: ReadonlySet<SecurityEventType> = new Set<SecurityEventType>([
  'auth.failure', 'auth.ip_denied', 'auth.lockout', 'proof.replayed', 'block.added'
])

const MESSAGES: Record<SecurityEventType, string> = {
  'auth.failure': 'authentication failed',
  'auth.ip_denied': 'key used from an address outside its allow-list',
  'auth.lockout': 'address locked out after repeated authentication failures',
  'proof.replayed': 'proof replayed',
  'key.created': 'API key created',
  'key.revoked': 'API key revoked',
  'key.rotated': 'API key rotated',
  'key.updated': 'API key updated',
  'signing_key.added': 'signing key registered',
  'signing_key.removed': 'signing key removed',
  'policy.changed': 'runtime policy changed',
  'policy.reset': 'runtime policy reset to the defaults',
  'block.added': 'client network blocked',
  'block.lifted': 'block lifted',
  'webhook.created': 'webhook endpoint registered',
  'webhook.deleted': 'webhook endpoint deleted',
  'webhook.secret_rotated': 'webhook secret rotated',
  'webhook.disabled': 'webhook endpoint disabled after repeated failures'
}

/** fields of a log line that pino or the request log already use: a detail of that name is logged as `detail_<name>` */
const LOG_RESERVED: ReadonlySet<string> = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'err', 'req', 'res', 'responseTime', 'event', 'ip', 'keyId', 'reqId'])

/** the detail as fields of the log line (flat, as the ad-hoc `event:` lines were), never hiding pino's own */
function logDetail (detail: SecurityEventDetail): SecurityEventDetail {
  const out: SecurityEventDetail = {}
  for (const [name, value] of Object.entries(detail)) out[LOG_RESERVED.has(name) ? `detail_${name}` : name] = value
  return out
}

export interface SecurityEventsOptions {
  readonly log: EventLogger
  /** null: log lines only (e.g. a tool without a store) */
  readonly store: EventLog | null
  readonly now?: () => number
}

/**
 * The emitter: one log line + one feed entry per event; `emit` returns at once.
 * Appends still running can be awaited with `flush()` (shutdown, tests).
 */
export class SecurityEvents implements SecurityEventSink {
  readonly #log: EventLogger
  readonly #store: EventLog | null
  readonly #now: () => number
  readonly #pending = new Set<Promise<void>>()
  #failing = false

  constructor (options: SecurityEventsOptions) {
    this.#log = options.log
    this.#store = options.store
    this.#now = options.now ?? Date.now
  }

  emit (event: SecurityEvent): void {
    if (!isSecurityEventType(event.type)) throw new TypeError(`unknown security event type: ${String(event.type)}`)
    const type = event.type
    const stored = toStoredEvent(event, this.#now())
    const line = { ...logDetail(stored.detail), event: type, ip: stored.ip, keyId: stored.keyId, reqId: stored.requestId ?? undefined }
    if (WARN_TYPES.has(type)) this.#log.warn(line, MESSAGES[type])
    else this.#log.info(line, MESSAGES[type])
    if (this.#store === null) return
    let appended: Promise<void>
    try {
      appended = this.#store.append(stored)
        .then(() => { this.#failing = false }, (err: unknown) => this.#failed(err))
        .finally(() => { this.#pending.delete(appended) })
    } catch (err) {
      this.#failed(err)
      return
    }
    this.#pending.add(appended)
  }

  /** Resolves when every append started so far has settled (never rejects). */
  async flush (): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending])
  }

  #failed (err: unknown): void {
    if (this.#failing) return
    this.#failing = true
    this.#log.error({ err }, 'security event not recorded in the feed: the event store failed (logged once until it recovers)')
  }
}
