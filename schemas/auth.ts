import { Type, type Static } from '@sinclair/typebox'
import { SCOPES } from '../src/api-keys.js'

export const ScopeSchema = Type.Union(SCOPES.map((scope) => Type.Literal(scope)), { description: 'a permission of an API key' })

/**
 * The credential headers of /api/v1, for validation and the OpenAPI document. The auth
 * plugin reads them before validation; a request must carry exactly one.
 */
const ApiKeyHeader = Type.Optional(Type.String({ description: 'an API key: msk_<keyId>_<secret>' }))
const BearerHeader = Type.Optional(Type.String({ description: 'Bearer <access token from POST /api/v1/auth/token>' }))
export const CredentialHeadersSchema = Type.Object({ 'x-api-key': ApiKeyHeader, authorization: BearerHeader })
/** The routes that take only one kind of credential document only that one. */
export const ApiKeyHeadersSchema = Type.Object({ 'x-api-key': ApiKeyHeader })
export const BearerHeadersSchema = Type.Object({ authorization: BearerHeader })

// Scopes asked for are checked against the key's own (403 when not a subset), so any
// string is accepted here: an unknown scope is just one the key does not have.
export const TokenRequestSchema = Type.Object({
  scopes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
    minItems: 1,
    maxItems: 16,
    uniqueItems: true,
    description: 'a subset of the key\'s scopes; absent = all of them'
  }))
}, { additionalProperties: false })
export type TokenRequest = Static<typeof TokenRequestSchema>

/** POST /api/v1/auth/revoke takes no fields: the token revoked is the one presented. */
export const RevokeRequestSchema = Type.Object({}, { additionalProperties: false, description: 'empty, or no body at all' })

export const TokenResponseSchema = Type.Object({
  access_token: Type.String({ description: 'a JWT (HS256), shown once' }),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ minimum: 0, description: 'seconds' }),
  scope: Type.String({ description: 'space-separated scopes' })
}, { additionalProperties: false })
export type TokenResponse = Static<typeof TokenResponseSchema>

/** The OpenAPI security requirement of a route that takes either credential. */
export const eitherCredential: Array<Record<string, string[]>> = [{ apiKey: [] }, { bearerAuth: [] }]
