import { isWebhookEventType, type WebhookEventType } from '../webhooks/payloads.js'

/**
 * A webhook event as the message store recorded it (issue 19), in the same atomic step as what
 * caused it: the read that counted a view (and burned), the delete, or the expiry noticed by
 * the schedule. Only counts and times, like the receipt it is recorded beside.
 */
export interface OutboxEvent {
  /** 1, 2, 3… per message: with the message id, the event's stable id */
  readonly seq: number
  readonly type: WebhookEventType
  readonly at: number
  readonly views: number
  /** views left after it; null when unlimited */
  readonly remainingViews: number | null
  readonly state: 'live' | 'burned' | 'expired' | 'deleted'
}

export interface PendingEvents {
  readonly owner: string
  readonly createdAt: number
  readonly expiresAt: number
  /** the message ended (burned, deleted, or its expiry recorded): no event will follow these */
  readonly ended: boolean
  /** oldest first, not yet acknowledged */
  readonly events: readonly OutboxEvent[]
}

/**
 * The webhook outbox of the message store: events of messages created with `notify` are kept
 * beside their receipt (in the message's slot on a Cluster) until acknowledged, and a schedule
 * shared by the instances says when to look at a message again: soon after a read (in case the
 * instance that read it died before handing the event on), and at its expiry (message.expired).
 */
export interface EventOutbox {
  /**
   * The message's unacknowledged events; first records message.expired (exactly once, however
   * many instances ask) when `now` is past its expiry with views left. null when its receipt is
   * gone or the message was not created with `notify`.
   */
  pending (id: string, now: number): Promise<PendingEvents | null>
  /** Drops the events up to `seq`: they are in the delivery queue. */
  acknowledge (id: string, seq: number): Promise<void>
  /** Looks at the message again at `at` (replacing an earlier time). */
  schedule (id: string, at: number): Promise<void>
  unschedule (id: string): Promise<void>
  /** Up to `limit` messages due at `now`, each hidden from other callers for `leaseMs`. */
  claimDue (now: number, leaseMs: number, limit: number): Promise<string[]>
}

const STATES = new Set(['live', 'burned', 'expired', 'deleted'])

/**
 * The most events a message keeps waiting for the delivery queue. The relay hands them over at
 * once, so a list this long means the queue has been out of reach for a while under a flood of
 * reads of one message: the oldest are dropped (message.viewed ones, in practice: burned,
 * deleted and expired come last) rather than let the list grow without bound, since these
 * scripts may write even when Redis is full (allow-oom).
 */
export const MAX_PENDING_EVENTS = 1000

/** An event as the Redis scripts store it: "seq|type|at|views|remainingViews(-1 unlimited)|state". */
export function parseOutboxEvent (raw: string): OutboxEvent {
  const [seq, type, at, views, left, state] = raw.split('|')
  if (type === undefined || !isWebhookEventType(type) || state === undefined || !STATES.has(state)) throw new Error('malformed outbox event')
  return { seq: Number(seq), type, at: Number(at), views: Number(views), remainingViews: Number(left) < 0 ? null : Number(left), state: state as OutboxEvent['state'] }
}
