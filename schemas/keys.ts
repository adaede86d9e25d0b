import { Type, type Static } from '@sinclair/typebox'
import { KEY_ID_PATTERN, SCOPES } from '../src/api-keys.js'
import { ScopeSchema } from './auth.js'

const Timestamp = Type.String({ format: 'date-time' })
const NullableTimestamp = Type.Union([Timestamp, Type.Null()])

export const KeyIdSchema = Type.String({ pattern: KEY_ID_PATTERN, description: '12 chars of [a-z0-9]: the public part of a key' })
export const KeyIdParamsSchema = Type.Object({ id: KeyIdSchema }, { additionalProperties: false })
export type KeyIdParams = Static<typeof KeyIdParamsSchema>

const KeyName = Type.String({ minLength: 1, maxLength: 64 })
const KeyScopes = Type.Array(ScopeSchema, { minItems: 1, maxItems: SCOPES.length, uniqueItems: true })
const RateLimit = Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'requests per RATE_LIMIT_WINDOW_MS; default RATE_LIMIT_API_MAX' })
const AllowedIps = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
  maxItems: 32,
  description: 'CIDRs (or single addresses) the key and its tokens may be used from; [] = any. IPv4 as given (/32 for an address); ' +
    'an IPv6 entry is at least its /64. Stored and shown in canonical form'
})
const RequireSignature = Type.Boolean({ description: 'every request of the key and of its tokens must carry an RFC 9421 signature (API.md section 7)' })

export const CreateKeyBodySchema = Type.Object({
  name: KeyName,
  scopes: KeyScopes,
  expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  rateLimit: Type.Optional(RateLimit),
  allowedIps: Type.Optional(AllowedIps),
  requireSignature: Type.Optional(RequireSignature)
}, { additionalProperties: false })
export type CreateKeyBody = Static<typeof CreateKeyBodySchema>

export const UpdateKeyBodySchema = Type.Object({
  name: Type.Optional(KeyName),
  scopes: Type.Optional(KeyScopes),
  rateLimit: Type.Optional(Type.Union([RateLimit, Type.Null({ description: 'back to RATE_LIMIT_API_MAX' })])),
  allowedIps: Type.Optional(AllowedIps),
  requireSignature: Type.Optional(RequireSignature)
}, { additionalProperties: false, minProperties: 1, description: 'the fields to change; at least one' })
export type UpdateKeyBody = Static<typeof UpdateKeyBodySchema>

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
  expiresAt: NullableTimestamp,
  rateLimit: Type.Union([Type.Integer(), Type.Null()], { description: 'null: RATE_LIMIT_API_MAX' }),
  allowedIps: Type.Array(Type.String(), { description: 'canonical CIDRs; [] = any address' }),
  requireSignature: Type.Boolean()
}, { additionalProperties: false })

export const KeyItemSchema = Type.Object({
  id: KeyIdSchema,
  name: Type.String(),
  scopes: Type.Array(ScopeSchema),
  createdAt: Timestamp,
  expiresAt: NullableTimestamp,
  lastUsedAt: Type.Union([Timestamp, Type.Null()], { description: 'recorded at most once a minute' }),
  revokedAt: NullableTimestamp,
  rateLimit: Type.Union([Type.Integer(), Type.Null()], { description: 'null: RATE_LIMIT_API_MAX' }),
  allowedIps: Type.Array(Type.String(), { description: 'canonical CIDRs; [] = any address' }),
  requireSignature: Type.Boolean()
}, { additionalProperties: false })

export const KeyListSchema = Type.Object({ items: Type.Array(KeyItemSchema) }, { additionalProperties: false })

// ---- Signing keys (API.md section 7) -------------------------------------------------------

/** An RFC 7638 SHA-256 thumbprint, base64url */
export const ClientKeyIdSchema = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'the RFC 7638 SHA-256 thumbprint of the public key (the keyid of its signatures)' })

export const SigningKeyParamsSchema = Type.Object({ id: KeyIdSchema, keyid: ClientKeyIdSchema }, { additionalProperties: false })

export const RegisterSigningKeyBodySchema = Type.Object({
  jwk: Type.Object({}, {
    additionalProperties: true,
    description: 'a PUBLIC JWK: {"kty":"OKP","crv":"Ed25519","x"} or {"kty":"EC","crv":"P-256","x","y"}; a private one (with "d") is refused'
  })
}, { additionalProperties: false })

export const SigningKeySchema = Type.Object({
  keyid: ClientKeyIdSchema,
  alg: Type.Union([Type.Literal('ed25519'), Type.Literal('ecdsa-p256-sha256')], { description: 'the RFC 9421 algorithm of the key' }),
  createdAt: Timestamp
}, { additionalProperties: false })

export const SigningKeyListSchema = Type.Object({ items: Type.Array(SigningKeySchema) }, { additionalProperties: false })
