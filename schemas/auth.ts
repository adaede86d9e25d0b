import { Type, type Static } from '@sinclair/typebox'
import { SCOPES, type Scope } from '../src/api-keys.js'

export const ScopeSchema = Type.Union(SCOPES.map((scope) => Type.Literal(scope)), { description: 'a permission of an API key' })

/**
 * The credential headers of /api/v1, for validation and the OpenAPI document. The auth
 * plugin reads them before validation; a request must carry exactly one.
 */
const ApiKeyHeader = Type.Optional(Type.String({ description: 'an API key: msk_<keyId>_<secret>' }))
const BearerHeader = Type.Optional(Type.String({ description: 'Bearer <access token from POST /oauth/token or POST /api/v1/auth/token>, or DPoP <token> for a DPoP-bound one' }))
/** The proof-of-possession headers (API.md section 7): any protected route takes them. */
const ProofHeaders = {
  dpop: Type.Optional(Type.String({ description: 'an RFC 9449 DPoP proof: with Authorization: DPoP, or at a token endpoint to get a bound token' })),
  'signature-input': Type.Optional(Type.String({ description: 'RFC 9421: sig1=("@method" "@target-uri" ["content-digest"]);created=…;keyid="<thumbprint>";nonce="…"' })),
  signature: Type.Optional(Type.String({ description: 'RFC 9421: sig1=:<base64 signature>:' })),
  'content-digest': Type.Optional(Type.String({ description: 'RFC 9530: sha-256=:<base64 digest of the body>: (checked against the body when present)' }))
}
export const CredentialHeadersSchema = Type.Object({ 'x-api-key': ApiKeyHeader, authorization: BearerHeader, ...ProofHeaders })
/** The routes that take only one kind of credential document only that one. */
export const ApiKeyHeadersSchema = Type.Object({ 'x-api-key': ApiKeyHeader, ...ProofHeaders })
export const BearerHeadersSchema = Type.Object({ authorization: BearerHeader, ...ProofHeaders })

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
  access_token: Type.String({ description: 'an RFC 9068 JWT access token (ES256 or EdDSA), shown once' }),
  token_type: Type.Union([Type.Literal('Bearer'), Type.Literal('DPoP')], { description: 'DPoP: bound to the proof\'s key (RFC 9449), sent as Authorization: DPoP with a proof' }),
  expires_in: Type.Integer({ minimum: 0, description: 'seconds' }),
  scope: Type.String({ description: 'space-separated scopes' })
}, { additionalProperties: false })
export type TokenResponse = Static<typeof TokenResponseSchema>

/**
 * The OpenAPI security requirement of a route that takes either credential: an API key, a
 * bearer token, or (the same token, described as what issues it) the OAuth 2.0 client
 * credentials flow with the scope the route needs.
 */
export function eitherCredential (scope: Scope): Array<Record<string, string[]>> {
  return [{ apiKey: [] }, { bearerAuth: [] }, { oauth2: [scope] }]
}
