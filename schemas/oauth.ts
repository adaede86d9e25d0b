import { Type, type Static, type TOptional, type TString } from '@sinclair/typebox'
import { OAUTH_ERROR_CODES } from '../src/auth/oauth/oauth-errors.js'
import { ErrorSchema } from './common.js'

// Form bodies (application/x-www-form-urlencoded). Each field is one string: a parameter
// sent twice arrives as an array and is refused (RFC 6749 §3.1, "MUST NOT be included more
// than once"). Unknown parameters are ignored, as RFC 6749 §3.2 requires, unlike our JSON
// bodies. Required fields are checked by the handler, so that a missing one gets the right
// RFC 6749 error code instead of a schema message.
function Field (description: string): TOptional<TString> {
  return Type.Optional(Type.String({ maxLength: 4096, description }))
}
const ClientFields = {
  client_id: Field('client_secret_post: the key id'),
  client_secret: Field('client_secret_post: the whole API key, msk_<keyId>_<secret>')
}

export const TokenFormSchema = Type.Object({
  grant_type: Field('client_credentials (required)'),
  scope: Field('space-separated scopes, a subset of the key\'s; absent = all of them'),
  ...ClientFields
}, { additionalProperties: true })
export type TokenForm = Static<typeof TokenFormSchema>

export const TokenOperationFormSchema = Type.Object({
  token: Field('the access token (required)'),
  token_type_hint: Field('access_token; a hint only, ignored'),
  ...ClientFields
}, { additionalProperties: true })
export type TokenOperationForm = Static<typeof TokenOperationFormSchema>

export const ClientAuthHeadersSchema = Type.Object({
  authorization: Type.Optional(Type.String({ description: 'Basic base64(form-urlencoded client_id ":" form-urlencoded client_secret)' })),
  dpop: Type.Optional(Type.String({ description: 'token endpoint: an RFC 9449 DPoP proof (htm POST, htu the token endpoint): the token is bound to its key' })),
  'signature-input': Type.Optional(Type.String({ description: 'RFC 9421 signature (required for a key with requireSignature), as on /api/v1' })),
  signature: Type.Optional(Type.String()),
  'content-digest': Type.Optional(Type.String({ description: 'RFC 9530, checked against the form body when present' }))
})

export const IntrospectionResponseSchema = Type.Union([
  Type.Object({
    active: Type.Literal(true),
    scope: Type.String(),
    client_id: Type.String(),
    sub: Type.String(),
    iss: Type.String(),
    aud: Type.String(),
    exp: Type.Integer(),
    iat: Type.Integer(),
    jti: Type.String(),
    token_type: Type.String({ description: 'Bearer, or DPoP for a bound token (RFC 9449 §6.2)' }),
    cnf: Type.Optional(Type.Object({ jkt: Type.String() }, { additionalProperties: false, description: 'RFC 9449 §6: the thumbprint of the key a DPoP-bound token is bound to' }))
  }, { additionalProperties: false }),
  Type.Object({ active: Type.Literal(false) }, { additionalProperties: false })
], { description: 'RFC 7662 §2.2' })

export const OAuthErrorSchema = Type.Object({
  error: Type.Union(OAUTH_ERROR_CODES.map((code) => Type.Literal(code))),
  error_description: Type.Optional(Type.String())
}, { additionalProperties: false, title: 'OAuthError', description: 'RFC 6749 §5.2' })

/** The statuses of an OAuth POST route: §5.2 bodies for 400/401/413, the standard body for the rest. */
export const oauthErrorResponses = {
  400: OAuthErrorSchema,
  401: OAuthErrorSchema,
  413: OAuthErrorSchema,
  429: ErrorSchema,
  500: ErrorSchema,
  503: ErrorSchema,
  // a DPoP jti, a signature nonce or a token's deny-list entry that a full Redis cannot take
  507: ErrorSchema
}

const PublicJwkSchema = Type.Object({
  kty: Type.String(),
  crv: Type.String(),
  x: Type.String(),
  y: Type.Optional(Type.String()),
  kid: Type.String(),
  alg: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA')]),
  use: Type.Literal('sig')
}, { additionalProperties: false })
export const JwksSchema = Type.Object({ keys: Type.Array(PublicJwkSchema) }, { additionalProperties: false, description: 'RFC 7517 JWK set: public parts only' })

export const MetadataSchema = Type.Object({
  issuer: Type.String(),
  token_endpoint: Type.String(),
  jwks_uri: Type.String(),
  revocation_endpoint: Type.String(),
  introspection_endpoint: Type.String(),
  grant_types_supported: Type.Array(Type.String()),
  response_types_supported: Type.Array(Type.String()),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
  scopes_supported: Type.Array(Type.String()),
  dpop_signing_alg_values_supported: Type.Array(Type.String()),
  service_documentation: Type.String()
}, { additionalProperties: false, description: 'RFC 8414 §2' })
