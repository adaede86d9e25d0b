import { Type, type Static } from '@sinclair/typebox'
import { WEBHOOK_EVENT_TYPES, WEBHOOK_ID_PATTERN } from '../src/webhooks/endpoints.js'

// Webhooks (API.md section 9).

const Timestamp = Type.String({ format: 'date-time' })
const NullableTimestamp = Type.Union([Timestamp, Type.Null()])

export const WebhookIdSchema = Type.String({ pattern: WEBHOOK_ID_PATTERN, description: 'wh_ and 128 random bits in base64url' })
export const WebhookParamsSchema = Type.Object({ id: WebhookIdSchema }, { additionalProperties: false })
export type WebhookParams = Static<typeof WebhookParamsSchema>

export const WebhookEventTypeSchema = Type.Union(WEBHOOK_EVENT_TYPES.map((type) => Type.Literal(type)), { description: 'an event of the key\'s own messages' })

const WebhookUrl = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: 'https only, without user or password; a host that is an IP literal must be a public address, and a name must resolve to ' +
    'public addresses only when a delivery is made (both unless WEBHOOK_ALLOW_PRIVATE=true)'
})
const Events = Type.Array(WebhookEventTypeSchema, { minItems: 1, maxItems: WEBHOOK_EVENT_TYPES.length, uniqueItems: true, description: 'the events to deliver; at least one, each once' })
const Description = Type.String({ maxLength: 200, description: 'for the key\'s owner: what the endpoint is' })

export const CreateWebhookBodySchema = Type.Object({
  url: WebhookUrl,
  events: Events,
  description: Type.Optional(Description)
}, { additionalProperties: false })
export type CreateWebhookBody = Static<typeof CreateWebhookBodySchema>

/** rotate-secret takes no fields (an empty object, or no body at all). */
export const RotateWebhookSecretBodySchema = Type.Object({}, { additionalProperties: false, description: 'empty, or no body at all' })

const endpointProperties = {
  id: WebhookIdSchema,
  url: Type.String(),
  events: Type.Array(WebhookEventTypeSchema),
  description: Type.Union([Type.String(), Type.Null()])
}

export const WebhookSchema = Type.Object({
  ...endpointProperties,
  createdAt: Timestamp,
  disabledAt: Type.Union([Timestamp, Type.Null()], { description: 'set when the endpoint was disabled after failing for 5 days: no more deliveries' })
}, { additionalProperties: false })

/** registration and rotation: the only answers that carry the secret */
export const IssuedWebhookSchema = Type.Object({
  ...endpointProperties,
  secret: Type.String({
    pattern: '^whsec_[A-Za-z0-9+/]{43}=$',
    description: 'whsec_ + base64 of 32 random bytes (Standard Webhooks): shown only here, verify deliveries with it'
  }),
  createdAt: Timestamp,
  disabledAt: Type.Union([Timestamp, Type.Null()])
}, { additionalProperties: false })

export const WebhookListSchema = Type.Object({ items: Type.Array(WebhookSchema) }, { additionalProperties: false })

export const DeliverySchema = Type.Object({
  eventId: Type.String({ description: 'the webhook-id header of the delivery' }),
  type: WebhookEventTypeSchema,
  attempts: Type.Integer({ minimum: 0 }),
  lastStatus: Type.Union([Type.Integer(), Type.Null()], { description: 'the HTTP status of the last attempt; null when it got no answer' }),
  lastAttemptAt: NullableTimestamp,
  nextAttemptAt: Type.Union([Timestamp, Type.Null()], { description: 'null when no retry is planned' }),
  state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')])
}, { additionalProperties: false })

export const DeliveryListSchema = Type.Object({
  items: Type.Array(DeliverySchema, { maxItems: 100, description: 'the last 100 events for the endpoint, newest first' })
}, { additionalProperties: false })
