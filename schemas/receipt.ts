import { Type, type Static } from '@sinclair/typebox'
import { MessageIdSchema } from './common.js'

const Timestamp = Type.String({ format: 'date-time' })
const MaybeTimestamp = Type.Union([Timestamp, Type.Null()])

/** GET /msg/:id/receipt and GET /api/v1/messages/:id/receipt (API.md sections 1 and 2). */
export const ReceiptSchema = Type.Object({
  id: MessageIdSchema,
  state: Type.Union([Type.Literal('live'), Type.Literal('burned'), Type.Literal('expired'), Type.Literal('deleted')], {
    description: 'live: readable; burned: its last view was taken; expired: its time ran out; deleted: with its delete token or by its owner'
  }),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  maxViews: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description: 'null = unlimited' }),
  views: Type.Integer({ minimum: 0, description: 'successful reads' }),
  firstViewedAt: MaybeTimestamp,
  lastViewedAt: MaybeTimestamp,
  endedAt: Type.Union([Timestamp, Type.Null()], { description: 'when it burned, was deleted or expired; null while live' })
}, { additionalProperties: false, title: 'Receipt' })
export type Receipt = Static<typeof ReceiptSchema>
