import { Type, type Static } from '@sinclair/typebox'
import { MessageIdSchema } from './common.js'
import { MessageCreatedSchema } from './message.js'

const Timestamp = Type.String({ format: 'date-time' })

/** POST /api/v1/messages answers what POST / does, plus the owner. */
export const OwnedMessageCreatedSchema = Type.Composite([
  MessageCreatedSchema,
  Type.Object({ owner: Type.String({ description: 'keyId of the creator' }) })
], { additionalProperties: false })

export const ListMessagesQuerySchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page' }))
}, { additionalProperties: false })
export type ListMessagesQuery = Static<typeof ListMessagesQuerySchema>

export const MessageListSchema = Type.Object({
  items: Type.Array(Type.Object({
    id: MessageIdSchema,
    createdAt: Timestamp,
    expiresAt: Timestamp,
    remainingViews: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])
  }, { additionalProperties: false })),
  nextCursor: Type.Union([Type.String(), Type.Null()])
}, { additionalProperties: false })
