import { Type, type Static } from '@sinclair/typebox'
import { MessageIdSchema } from './common.js'

const Ttl = Type.Integer({ minimum: 60, description: 'seconds until the message expires; at most MESSAGE_MAX_TTL_SECONDS' })
const MaxViews = Type.Integer({ minimum: 1, maximum: 1000, description: 'burn after this many reads; absent = unlimited until expiry' })
const Encrypted = Type.Boolean({ description: 'content is ciphertext made by the client' })
const ReadToken = Type.String({
  pattern: '^[A-Za-z0-9_-]{22,86}$',
  description: 'reads must present it as X-Read-Token (else 404, no view counted); only its SHA-256 is stored. The web page derives it from the link\'s key.'
})

// The byte limit on content is checked after parsing (413, not 400), so the schema only
// asks for a non-empty string.
export const CreateMessageBodySchema = Type.Object({
  content: Type.String({ minLength: 1, description: '1 .. MESSAGE_MAX_BYTES bytes of UTF-8; with encrypted: true, up to ⌈(MESSAGE_MAX_BYTES + 1024) × 4 / 3⌉' }),
  ttl: Type.Optional(Ttl),
  maxViews: Type.Optional(MaxViews),
  encrypted: Type.Optional(Encrypted),
  readToken: Type.Optional(ReadToken)
}, { additionalProperties: false })
export type CreateMessageBody = Static<typeof CreateMessageBodySchema>

/** With `Content-Type: text/plain` the raw body is the content and the options come from here. */
export const CreateMessageQuerySchema = Type.Object({
  ttl: Type.Optional(Ttl),
  maxViews: Type.Optional(MaxViews),
  encrypted: Type.Optional(Encrypted)
}, { additionalProperties: false })
export type CreateMessageQuery = Static<typeof CreateMessageQuerySchema>

export const PlainContentSchema = Type.String({ minLength: 1, description: 'the raw content, UTF-8' })

const Timestamp = Type.String({ format: 'date-time' })

export const MessageCreatedSchema = Type.Object({
  id: MessageIdSchema,
  url: Type.String(),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  maxViews: Type.Union([Type.Integer(), Type.Null()]),
  deleteToken: Type.String({ minLength: 32, description: 'shown once; only its hash is stored' })
}, { additionalProperties: false })
export type MessageCreated = Static<typeof MessageCreatedSchema>

export const MessageReadSchema = Type.Object({
  id: MessageIdSchema,
  content: Type.String(),
  encrypted: Type.Boolean(),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  remainingViews: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'views left after this read; null = unlimited' })
}, { additionalProperties: false })
export type MessageRead = Static<typeof MessageReadSchema>

export const ReadMessageHeadersSchema = Type.Object({
  // Unconstrained for the same reason as x-delete-token: a malformed token is a wrong one (404).
  'x-read-token': Type.Optional(Type.String({ description: 'the readToken the message was created with, if any' }))
})
export type ReadMessageHeaders = Static<typeof ReadMessageHeadersSchema>

export const DeleteMessageHeadersSchema = Type.Object({
  // Deliberately unconstrained: a missing or malformed token must get the same 404 as a
  // wrong one, never a 400 that tells an attacker the id exists.
  'x-delete-token': Type.Optional(Type.String())
})
export type DeleteMessageHeaders = Static<typeof DeleteMessageHeadersSchema>

export const ServiceInfoSchema = Type.Object({
  name: Type.Literal('missive'),
  version: Type.String(),
  docs: Type.String()
}, { additionalProperties: false })
