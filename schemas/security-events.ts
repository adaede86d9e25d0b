import { type Static, type TNull, type TString, type TUnion, Type } from '@sinclair/typebox'
import { SECURITY_EVENT_TYPE_LIST } from '../src/abuse/events.js'
import { EVENT_PAGE_MAX } from '../src/storage/event-log.js'

const EventId = Type.String({ description: 'opaque, increasing: `<integer>-<integer>` (a Redis Stream id)' })

export const SecurityEventsQuerySchema = Type.Object({
  after: Type.Optional(Type.String({
    maxLength: 41,
    description: 'the id of the last event seen (the previous page\'s `next`, or the last item\'s id): the page starts after it. ' +
      'Absent: from the oldest event kept; an id older than the oldest kept: from the oldest kept too. Not an event id: 400'
  })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: EVENT_PAGE_MAX, default: 100 }))
}, { additionalProperties: false })
export type SecurityEventsQuery = Static<typeof SecurityEventsQuerySchema>

function Nullable (description: string): TUnion<[TString, TNull]> {
  return Type.Union([Type.String({ maxLength: 200 }), Type.Null()], { description })
}

export const SecurityEventSchema = Type.Object({
  id: EventId,
  type: Type.String({ description: `one of: ${SECURITY_EVENT_TYPE_LIST.join(', ')} (README, "Security events")` }),
  at: Type.String({ format: 'date-time' }),
  ip: Nullable('the client address, null when unknown'),
  keyId: Nullable('the API key the event is about, null when unknown'),
  requestId: Nullable('the x-request-id of the request that caused it, null when unknown (the key tool)'),
  detail: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]), {
    description: 'a few non-secret facts, by type (README, "Security events")'
  })
}, { additionalProperties: false, title: 'SecurityEvent' })

export const SecurityEventPageSchema = Type.Object({
  items: Type.Array(SecurityEventSchema, { description: 'oldest first' }),
  next: Type.Union([EventId, Type.Null()], {
    description: 'when more events follow this page: pass it as `after` (it is the last item\'s id). ' +
      'null: nothing more right now; poll again later with the last item\'s id (or the same `after` when the page is empty)'
  })
}, { additionalProperties: false, title: 'SecurityEventPage' })
