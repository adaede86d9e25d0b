import { isoTime } from '../iso-time.js'
import type { ReceiptState } from '../receipts/receipt.js'

/**
 * The body of a webhook delivery (API.md section 9, issue 19):
 * `{"type","timestamp","data":{"id","owner","state","views","remainingViews"}}`.
 * It tells a service what happened to one of its messages, never what the message said: the
 * fields are copied one by one, so a caller handing in a larger object (a stored message with
 * its content) cannot leak anything else into a request that leaves for another network.
 */

/** The events a webhook endpoint can subscribe to; the routes' schema and the queue import this list. */
export const WEBHOOK_EVENT_TYPES = ['message.viewed', 'message.burned', 'message.deleted', 'message.expired'] as const

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number]

export function isWebhookEventType (value: unknown): value is WebhookEventType {
  return typeof value === 'string' && (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value)
}

/** What an event says about its message: the receipt's counts and state, nothing else. */
export interface WebhookEventData {
  /** the message id */
  id: string
  /** the key id that owns the message (only owned messages have webhooks) */
  owner: string
  /** the receipt state after the event */
  state: ReceiptState
  views: number
  /** views left; null when the message has no view limit */
  remainingViews: number | null
}

export interface WebhookPayload {
  type: WebhookEventType
  /** when the event happened (ISO 8601), not when it was delivered: retries carry the same body */
  timestamp: string
  data: WebhookEventData
}

/**
 * The JSON body for an event of `type` that happened at `at` (milliseconds since the epoch).
 * A string, because the signature covers these exact bytes: the queue stores it as it is and
 * every attempt sends (and signs) the same body.
 */
export function webhookPayload (type: WebhookEventType, at: number, data: WebhookEventData): string {
  if (!isWebhookEventType(type)) throw new TypeError(`not a webhook event type: ${String(type)}`)
  const payload: WebhookPayload = {
    type,
    timestamp: isoTime(at),
    data: {
      id: data.id,
      owner: data.owner,
      state: data.state,
      views: data.views,
      remainingViews: data.remainingViews
    }
  }
  return JSON.stringify(payload)
}
