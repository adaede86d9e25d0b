import { Type, type Static } from '@sinclair/typebox'
import { KEY_ID_PATTERN } from '../src/api-keys.js'
import { ScopeSchema } from './auth.js'

const Timestamp = Type.String({ format: 'date-time' })
const NullableTimestamp = Type.Union([Timestamp, Type.Null()])

export const KeyIdSchema = Type.String({ pattern: KEY_ID_PATTERN, description: '12 chars of [a-z0-9]: the public part of a key' })
export const KeyIdParamsSchema = Type.Object({ id: KeyIdSchema }, { additionalProperties: false })
export type KeyIdParams = Static<typeof KeyIdParamsSchema>

export const CreateKeyBodySchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 64 }),
  scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: 5, uniqueItems: true }),
  expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  rateLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'requests per RATE_LIMIT_WINDOW_MS; default RATE_LIMIT_API_MAX' }))
}, { additionalProperties: false })
export type CreateKeyBody = Static<typeof CreateKeyBodySchema>

export const RotateKeyBodySchema = Type.Object({
  graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 604_800, default: 0, description: 'how long the old secret keeps working' }))
}, { additionalProperties: false })
export type RotateKeyBody = Static<typeof RotateKeyBodySchema>

/** create and rotate: the only time the plaintext key is ever shown */
export const IssuedKeySchema = Type.Object({
  id: KeyIdSchema,
  key: Type.String({ description: 'msk_<id>_<secret>: shown once, only its argon2id hash is stored' }),
  name: Type.String(),
  scopes: Type.Array(ScopeSchema),
  createdAt: Timestamp,
  expiresAt: NullableTimestamp
}, { additionalProperties: false })

export const KeyItemSchema = Type.Object({
  id: KeyIdSchema,
  name: Type.String(),
  scopes: Type.Array(ScopeSchema),
  createdAt: Timestamp,
  expiresAt: NullableTimestamp,
  lastUsedAt: Type.Union([Timestamp, Type.Null()], { description: 'recorded at most once a minute' }),
  revokedAt: NullableTimestamp
}, { additionalProperties: false })

export const KeyListSchema = Type.Object({ items: Type.Array(KeyItemSchema) }, { additionalProperties: false })
