import { randomBytes } from 'node:crypto'
import createError from '@fastify/error'
import type { EventContext, SecurityEventDetail, SecurityEventSink } from '../abuse/events.js'
import type { ContentCipher } from '../content-cipher.js'
import { randomBase64url } from '../ids.js'
import { isoTime } from '../iso-time.js'
import {
  type DeliveryState, type StoredDelivery, type StoredWebhookEndpoint, WEBHOOK_EVENT_TYPES, type WebhookEventType,
  type WebhookStore
} from '../storage/webhook-store.js'
import { checkDestinationUrl, DestinationRefused, InvalidDestination } from './destination.js'

export { WEBHOOK_EVENT_TYPES, type WebhookEventType, type StoredDelivery, type DeliveryState }

// The errors of this domain (same shape as src/errors.ts: code, message, status; no stack for 4xx).
export const WebhookNotFound = createError('NOT_FOUND', 'Webhook not found', 404, undefined, false)
/**
 * 409 rather than 400: the request is well-formed, it conflicts with what the key already has
 * (the same status as the signing-key limit, SIGNING_KEY_LIMIT).
 */
/** RECEIPT_RETENTION_SECONDS=0: events are recorded on receipts, so none would ever be sent. */
export const WebhooksUnavailable = createError('WEBHOOKS_UNAVAILABLE', 'Webhooks are off on this server: it keeps no receipts (RECEIPT_RETENTION_SECONDS=0), and events are recorded on them', 409, undefined, false)
export const WebhookLimit = createError<'WEBHOOK_LIMIT', 409, [number]>('WEBHOOK_LIMIT', 'A key may have at most %d webhook endpoints: delete one first', 409, undefined, false)
export const InvalidWebhookUrl = createError<'INVALID_DESTINATION', 400, [string]>('INVALID_DESTINATION', 'body/url: %s', 400, undefined, false)
export const RefusedWebhookUrl = createError<'DESTINATION_REFUSED', 400, [string]>('DESTINATION_REFUSED', 'body/url: %s', 400, undefined, false)

/** At most this many endpoints per API key (disabled ones count until deleted). */
export const MAX_WEBHOOK_ENDPOINTS = 10
/** How long the secret before a rotation keeps signing deliveries beside the new one (API.md section 9). */
export const SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000
/** The Standard Webhooks secret format: this prefix, then the base64 of the key bytes. */
export const SECRET_PREFIX = 'whsec_'
const SECRET_BYTES = 32
const ID_PREFIX = 'wh_'
/** 'wh_' + 128 random bits as 22 chars of base64url */
export const WEBHOOK_ID_PATTERN = '^wh_[A-Za-z0-9_-]{22}$'
const CREATE_ATTEMPTS = 3

/** An endpoint as the delivery side sees it: its owner, its URL, and its secrets still sealed (see signingSecrets). */
export interface WebhookEndpoint extends StoredWebhookEndpoint {
  readonly owner: string
}

/** What the routes show of an endpoint: never a secret. */
export interface WebhookEndpointView {
  id: string
  url: string
  events: WebhookEventType[]
  description: string | null
  createdAt: string
  disabledAt: string | null
}

/** The answer to a registration or a rotation: the only times the secret is shown. */
export interface IssuedWebhookEndpoint extends WebhookEndpointView {
  secret: string
}

export interface DeliveryView {
  eventId: string
  type: WebhookEventType
  attempts: number
  lastStatus: number | null
  lastAttemptAt: string | null
  nextAttemptAt: string | null
  state: DeliveryState
}

export interface NewWebhookEndpoint {
  url: string
  events: readonly WebhookEventType[]
  description?: string | undefined
}

export interface WebhookEndpointsOptions {
  store: WebhookStore
  /** seals the signing secrets at rest: aesGcmContent under ENCRYPTION_KEY, else plainContent */
  cipher: ContentCipher
  /** WEBHOOK_ALLOW_PRIVATE: URLs whose host is a private or loopback IP literal are accepted */
  allowPrivate: boolean
  now?: () => number
  /** where webhook.created, .deleted, .secret_rotated and .disabled go (the feed and the log); null: nowhere */
  events?: SecurityEventSink | null
  /** false when no event can be recorded (RECEIPT_RETENTION_SECONDS=0): registration is refused rather than silent */
  available?: boolean
}

/**
 * A key's webhook endpoints (API.md section 9): registration, listing, deletion, secret
 * rotation, and what delivery needs (who subscribes to an event, the secrets to sign with, the
 * failing / disabled marks, the delivery log).
 *
 * What it enforces that the route schemas cannot: the URL's SSRF rules at registration
 * (https only, no user or password, an IP literal must be public unless allowPrivate; names are
 * checked again at each delivery, src/webhooks/destination.ts), at most MAX_WEBHOOK_ENDPOINTS
 * per key, even under racing registrations, and that an endpoint is only ever seen by its
 * owner: another key's id is the same 404 as an unknown one.
 *
 * The signing secret is a Standard Webhooks `whsec_<base64 of 32 random bytes>`. It has to be
 * usable for signing, so it cannot be hashed: it is sealed with the ContentCipher (AES-256-GCM
 * under ENCRYPTION_KEY, bound to the owner and endpoint id so it cannot be moved to another
 * endpoint; as is without ENCRYPTION_KEY) and shown only in the answers to registration and
 * rotation. A rotation keeps the replaced secret for SECRET_OVERLAP_MS, so receivers can switch
 * without losing a delivery; rotating again within that time drops the older one.
 */
export class WebhookEndpoints {
  private readonly store: WebhookStore
  private readonly cipher: ContentCipher
  private readonly allowPrivate: boolean
  private readonly now: () => number
  private readonly events: SecurityEventSink | null
  private readonly available: boolean
  /** told the owner whose endpoints were added, removed or disabled here (the subscriber cache of this instance) */
  onChange: ((owner: string) => void) | null = null

  constructor (options: WebhookEndpointsOptions) {
    this.store = options.store
    this.cipher = options.cipher
    this.allowPrivate = options.allowPrivate
    this.now = options.now ?? Date.now
    this.events = options.events ?? null
    this.available = options.available ?? true
  }

  async register (owner: string, input: NewWebhookEndpoint, context: EventContext = {}): Promise<IssuedWebhookEndpoint> {
    if (!this.available) throw new WebhooksUnavailable()
    const url = this.checkedUrl(input.url)
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      const id = ID_PREFIX + randomBase64url(16)
      const secret = newSecret()
      const endpoint: StoredWebhookEndpoint = {
        id,
        url: input.url,
        events: [...new Set(input.events)],
        description: input.description ?? null,
        secret: this.seal(owner, id, secret),
        previousSecret: null,
        previousSecretUntil: null,
        createdAt: this.now(),
        disabledAt: null,
        failingSince: null,
        lastFailureAt: null
      }
      const result = await this.store.add(owner, endpoint, MAX_WEBHOOK_ENDPOINTS)
      if (result === 'full') throw new WebhookLimit(MAX_WEBHOOK_ENDPOINTS)
      if (result === 'added') {
        // The host only: people put tokens in webhook paths and query strings.
        this.onChange?.(owner)
        this.emit('webhook.created', owner, context, { webhookId: id, host: url.host, events: endpoint.events.join(',') })
        return { ...view(endpoint), secret }
      }
    }
    throw new Error('could not find a free webhook id')
  }

  /** The owner's endpoints, oldest first. */
  async list (owner: string): Promise<WebhookEndpointView[]> {
    return (await this.store.list(owner)).map(view)
  }

  /** One of the owner's endpoints; WebhookNotFound for anyone else's and for an unknown id. */
  async get (owner: string, id: string): Promise<WebhookEndpointView> {
    return view(await this.owned(owner, id))
  }

  /** Deletes the endpoint and its delivery log. */
  async remove (owner: string, id: string, context: EventContext = {}): Promise<void> {
    if (!await this.store.remove(owner, id)) throw new WebhookNotFound()
    this.onChange?.(owner)
    this.emit('webhook.deleted', owner, context, { webhookId: id })
  }

  /** A new secret, shown once; the replaced one keeps signing for SECRET_OVERLAP_MS. */
  async rotateSecret (owner: string, id: string, context: EventContext = {}): Promise<IssuedWebhookEndpoint> {
    const secret = newSecret()
    const sealed = this.seal(owner, id, secret)
    const rotatedAt = this.now()
    const rotated = await this.store.update(owner, id, (current) => ({
      ...current,
      secret: sealed,
      previousSecret: current.secret,
      previousSecretUntil: rotatedAt + SECRET_OVERLAP_MS
    }))
    if (rotated === null) throw new WebhookNotFound()
    this.emit('webhook.secret_rotated', owner, context, { webhookId: id })
    return { ...view(rotated), secret }
  }

  /** The endpoint's delivery log, newest first (at most DELIVERY_LOG_MAX). */
  async deliveries (owner: string, id: string): Promise<DeliveryView[]> {
    await this.owned(owner, id)
    return (await this.store.listDeliveries(owner, id)).map(deliveryView)
  }

  // ---- What delivery needs -----------------------------------------------------------------

  /** The owner's enabled endpoints that asked for `type` (one store read). */
  async subscribers (owner: string, type: WebhookEventType): Promise<WebhookEndpoint[]> {
    return (await this.store.list(owner))
      .filter((endpoint) => endpoint.disabledAt === null && endpoint.events.includes(type))
      .map((endpoint) => ({ ...endpoint, owner }))
  }

  /** One endpoint as it is now (re-read before each attempt: it may have been deleted, rotated or disabled), or null. */
  async find (owner: string, id: string): Promise<WebhookEndpoint | null> {
    const endpoint = await this.store.get(owner, id)
    return endpoint === null ? null : { ...endpoint, owner }
  }

  /**
   * The secrets to sign a delivery with, opened: [current], or [current, previous] while the
   * previous one is within its overlap. Standard Webhooks sends one signature per secret.
   */
  signingSecrets (endpoint: WebhookEndpoint, now: number = this.now()): string[] {
    const secrets = [this.open(endpoint.owner, endpoint.id, endpoint.secret)]
    if (endpoint.previousSecret !== null && endpoint.previousSecretUntil !== null && now < endpoint.previousSecretUntil) {
      secrets.push(this.open(endpoint.owner, endpoint.id, endpoint.previousSecret))
    }
    return secrets
  }

  /**
   * A delivery failed at `at`: remembers when the run of failures began (the first failure of a
   * run sets it) and its last failure. A failure more than `newRunAfterMs` after the run's last
   * one starts a new run: nothing was tried in between (no event was pending), so nothing says
   * the endpoint was down then, and an endpoint that failed once long ago is not disabled by its
   * next single failure. Null: no such endpoint.
   */
  async markFailing (owner: string, id: string, at: number, newRunAfterMs: number): Promise<WebhookEndpoint | null> {
    return this.owner(owner, await this.store.update(owner, id, (current) => {
      // (a run without lastFailureAt was stored before it existed: it goes on)
      const continues = current.failingSince !== null && (current.lastFailureAt === null || at - current.lastFailureAt <= newRunAfterMs)
      return {
        ...current,
        failingSince: continues ? current.failingSince : at,
        // racing attempts may finish out of order: the latest failure stays
        lastFailureAt: continues ? Math.max(at, current.lastFailureAt ?? at) : at
      }
    }))
  }

  /** A delivery succeeded: the run of failures is over. Null: no such endpoint. */
  async markSucceeded (owner: string, id: string): Promise<WebhookEndpoint | null> {
    return this.owner(owner, await this.store.update(owner, id, (current) =>
      current.failingSince === null && current.lastFailureAt === null ? current : { ...current, failingSince: null, lastFailureAt: null }))
  }

  /**
   * Stops deliveries to the endpoint (it failed for too long). It stays listed, with disabledAt,
   * until its owner deletes it. The security event is emitted once, by the call that disabled it.
   */
  async disable (owner: string, id: string, at: number, context: EventContext = {}): Promise<WebhookEndpoint | null> {
    let disabledHere = false
    const endpoint = await this.store.update(owner, id, (current) => {
      disabledHere = current.disabledAt === null
      return disabledHere ? { ...current, disabledAt: at } : current
    })
    if (endpoint !== null && disabledHere) {
      this.onChange?.(owner)
      this.emit('webhook.disabled', owner, context, {
        webhookId: id,
        failingSince: endpoint.failingSince === null ? null : isoTime(endpoint.failingSince)
      })
    }
    return this.owner(owner, endpoint)
  }

  /** Adds or updates the delivery of one event in the endpoint's log; false when the endpoint is gone. */
  async recordDelivery (owner: string, id: string, delivery: StoredDelivery): Promise<boolean> {
    return await this.store.recordDelivery(owner, id, delivery)
  }

  // ---- Helpers ------------------------------------------------------------------------------

  private async owned (owner: string, id: string): Promise<StoredWebhookEndpoint> {
    const endpoint = await this.store.get(owner, id)
    if (endpoint === null) throw new WebhookNotFound()
    return endpoint
  }

  private owner (owner: string, endpoint: StoredWebhookEndpoint | null): WebhookEndpoint | null {
    return endpoint === null ? null : { ...endpoint, owner }
  }

  private checkedUrl (url: string): URL {
    try {
      return checkDestinationUrl(url, this.allowPrivate)
    } catch (err) {
      if (err instanceof DestinationRefused) throw new RefusedWebhookUrl(err.message)
      if (err instanceof InvalidDestination) throw new InvalidWebhookUrl(err.message)
      throw err
    }
  }

  /** The associated data binds a sealed secret to its owner and endpoint. */
  private seal (owner: string, id: string, secret: string): string {
    return this.cipher.seal(`webhook:${owner}:${id}`, secret)
  }

  private open (owner: string, id: string, sealed: string): string {
    const secret = this.cipher.open(`webhook:${owner}:${id}`, sealed)
    // Stored sealed and read without ENCRYPTION_KEY, plainContent hands back the ciphertext:
    // signing with it would fail at every receiver, silently.
    if (!secret.startsWith(SECRET_PREFIX)) throw new Error(`webhook ${id}: the stored secret cannot be opened (was ENCRYPTION_KEY changed or removed?)`)
    return secret
  }

  private emit (type: 'webhook.created' | 'webhook.deleted' | 'webhook.secret_rotated' | 'webhook.disabled', owner: string, context: EventContext, detail: SecurityEventDetail): void {
    this.events?.emit({ type, keyId: owner, ip: context.ip ?? null, requestId: context.requestId ?? null, detail: { ...detail, by: context.by ?? null } })
  }
}

/** `whsec_` + base64 of 32 random bytes (Standard Webhooks). */
function newSecret (): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64')
}

function view (endpoint: StoredWebhookEndpoint): WebhookEndpointView {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: [...endpoint.events],
    description: endpoint.description,
    createdAt: isoTime(endpoint.createdAt),
    disabledAt: endpoint.disabledAt === null ? null : isoTime(endpoint.disabledAt)
  }
}

function deliveryView (delivery: StoredDelivery): DeliveryView {
  return {
    eventId: delivery.eventId,
    type: delivery.type,
    attempts: delivery.attempts,
    lastStatus: delivery.lastStatus,
    lastAttemptAt: delivery.lastAttemptAt === null ? null : isoTime(delivery.lastAttemptAt),
    nextAttemptAt: delivery.nextAttemptAt === null ? null : isoTime(delivery.nextAttemptAt),
    state: delivery.state
  }
}
