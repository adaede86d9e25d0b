import type { WebhookEventType } from '../webhooks/payloads.js'

// The events a webhook endpoint can ask for (API.md section 9): one list, in payloads.ts.
export { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../webhooks/payloads.js'

/**
 * A webhook endpoint as the store keeps it, under its owner (an API key id). Times are epoch
 * milliseconds. The secrets are opaque to the store: the domain (src/webhooks/endpoints.ts)
 * seals them with the ContentCipher before they get here.
 */
export interface StoredWebhookEndpoint {
  readonly id: string
  readonly url: string
  readonly events: readonly WebhookEventType[]
  readonly description: string | null
  /** the current signing secret, sealed */
  readonly secret: string
  /** the secret before the last rotation, sealed; it keeps signing until previousSecretUntil */
  readonly previousSecret: string | null
  readonly previousSecretUntil: number | null
  readonly createdAt: number
  /** set once the endpoint failed for too long: no more deliveries */
  readonly disabledAt: number | null
  /** the start of the current run of failed deliveries; null while deliveries succeed */
  readonly failingSince: number | null
  /** the last failed delivery of that run: a long quiet gap after it starts a new run */
  readonly lastFailureAt: number | null
}

export type DeliveryState = 'pending' | 'delivered' | 'failed'

/** One event's delivery to one endpoint, as its log keeps it. */
export interface StoredDelivery {
  /** the event's id (the webhook-id header): the log holds one entry per event */
  readonly eventId: string
  readonly type: WebhookEventType
  readonly attempts: number
  /** the HTTP status of the last attempt; null when it got no answer (refused, timed out) */
  readonly lastStatus: number | null
  readonly lastAttemptAt: number | null
  readonly nextAttemptAt: number | null
  readonly state: DeliveryState
  /**
   * when the event happened: orders the log (newest first) and decides which entries the trim
   * drops. The first record of an event sets it; later records of the same event keep it.
   */
  readonly createdAt: number
}

/** How many deliveries each endpoint's log keeps (API.md section 9: "the last 100"). */
export const DELIVERY_LOG_MAX = 100

export type AddWebhookResult = 'added' | 'exists' | 'full'

/**
 * The webhook endpoints of every API key, and each endpoint's delivery log. A Redis and an
 * in-memory implementation pass the same contract tests (test/storage/webhook-store.contract.ts).
 * Failures reject with StoreUnavailable (503) or StorageFull (507).
 *
 * What it promises beyond plain reads and writes:
 * - `add` never exceeds `max` endpoints per owner, however many race, and never overwrites;
 * - `update` loses no change: racing updates of one endpoint are applied one after the other;
 * - `remove` takes the endpoint's delivery log with it, and `recordDelivery` never recreates a
 *   log for an endpoint that is gone, so no log outlives its endpoint.
 */
export interface WebhookStore {
  /**
   * Adds `endpoint` under `owner` unless that id is taken ('exists', nothing changed) or the
   * owner already has `max` endpoints ('full'). `max` must be a whole number ≥ 0; otherwise a
   * RangeError.
   */
  add (owner: string, endpoint: StoredWebhookEndpoint, max: number): Promise<AddWebhookResult>
  /** The owner's endpoints, oldest first (createdAt, then id). */
  list (owner: string): Promise<StoredWebhookEndpoint[]>
  get (owner: string, id: string): Promise<StoredWebhookEndpoint | null>
  /**
   * Replaces the endpoint with `change(current)`, atomically: if another update lands between
   * the read and the write, `change` runs again on the newer endpoint. So `change` must be a
   * pure function of its argument (it may run more than once). Returning `current` itself
   * writes nothing. The id cannot change. Resolves to the endpoint as stored afterwards, or
   * null when there is no such endpoint.
   */
  update (owner: string, id: string, change: (current: StoredWebhookEndpoint) => StoredWebhookEndpoint): Promise<StoredWebhookEndpoint | null>
  /** Forgets the endpoint and its delivery log; false when there was no such endpoint. */
  remove (owner: string, id: string): Promise<boolean>
  /**
   * Adds or replaces (by eventId) an entry of the endpoint's delivery log, keeping the entry's
   * first createdAt, then drops the oldest entries past DELIVERY_LOG_MAX. False, and nothing
   * written, when the endpoint does not exist (it was removed while a delivery ran).
   */
  recordDelivery (owner: string, endpointId: string, delivery: StoredDelivery): Promise<boolean>
  /** The endpoint's delivery log, newest first (createdAt, then eventId, both descending); [] for an unknown endpoint. */
  listDeliveries (owner: string, endpointId: string): Promise<StoredDelivery[]>
  close (): Promise<void>
}

/** oldest first (createdAt, then id) */
export function endpointsByAge (a: StoredWebhookEndpoint, b: StoredWebhookEndpoint): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** newest first (createdAt, then eventId, both descending): the order of a Redis ZREVRANGE */
export function deliveriesNewestFirst (a: StoredDelivery, b: StoredDelivery): number {
  return b.createdAt - a.createdAt || (a.eventId < b.eventId ? 1 : a.eventId > b.eventId ? -1 : 0)
}

/** `max` as given; a RangeError unless it is a whole number ≥ 0. */
export function webhookMax (max: number): number {
  if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`the most webhook endpoints must be a whole number ≥ 0, not ${max}`)
  return max
}
