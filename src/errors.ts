import createError from '@fastify/error'

// The error catalogue: every error the app throws on purpose. Each becomes the body
// {statusCode, error, message, code} in plugins/error-handler.ts. 4xx errors skip the stack
// capture: they are expected, frequent (404s on the hot path) and never logged with a stack.
const noStack = false

export const MessageNotFound = createError('NOT_FOUND', 'Message not found', 404, undefined, noStack)
export const RouteNotFound = createError('NOT_FOUND', 'Route not found', 404, undefined, noStack)
export const MethodNotAllowed = createError<'METHOD_NOT_ALLOWED', 405, [string]>('METHOD_NOT_ALLOWED', 'Method %s is not allowed on this path', 405, undefined, noStack)
export const ContentTooLarge = createError<'PAYLOAD_TOO_LARGE', 413, [number]>('PAYLOAD_TOO_LARGE', 'content must be at most %d bytes of UTF-8', 413, undefined, noStack)
export const MissingBody = createError('VALIDATION_ERROR', 'a body is required: JSON (application/json) or the raw content (text/plain)', 400, undefined, noStack)
export const InvalidUtf8 = createError('VALIDATION_ERROR', 'content must be valid UTF-8', 400, undefined, noStack)
export const InvalidUtf8Body = createError('INVALID_BODY', 'the body must be valid UTF-8', 400, undefined, noStack)
export const MissingHost = createError('BAD_REQUEST', 'an HTTP/1.1 request must have a Host header', 400, undefined, noStack)
export const ForbiddenJsonKey = createError('INVALID_BODY', 'the body must not contain "__proto__" or "constructor.prototype" keys', 400, undefined, noStack)
export const UnsupportedContentEncoding = createError<'UNSUPPORTED_MEDIA_TYPE', 415, [string]>('UNSUPPORTED_MEDIA_TYPE', 'Content-Encoding %s is not supported: send the body uncompressed', 415, undefined, noStack)
export const UnsupportedCharset = createError<'UNSUPPORTED_MEDIA_TYPE', 415, [string]>('UNSUPPORTED_MEDIA_TYPE', 'charset %s is not supported: send the body as UTF-8', 415, undefined, noStack)
export const TtlTooLong = createError<'VALIDATION_ERROR', 400, [number]>('VALIDATION_ERROR', 'ttl must be at most %d seconds', 400, undefined, noStack)
export const OptionsInQuery = createError('VALIDATION_ERROR', 'with a JSON body, ttl, maxViews and encrypted go in the body, not the query string', 400, undefined, noStack)
export const RateLimited = createError<'RATE_LIMITED', 429, [string]>('RATE_LIMITED', 'Rate limit exceeded, retry in %s', 429, undefined, noStack)
export const StoreUnavailable = createError('SERVICE_UNAVAILABLE', 'Service temporarily unavailable, try again shortly', 503)
export const StorageFull = createError('INSUFFICIENT_STORAGE', 'The message store is full, try again later', 507)

// Authentication and the /api/v1 API. 401 and 403 never say which part of a credential was wrong.
export const Unauthorized = createError('UNAUTHORIZED', 'Authentication required: a valid API key or bearer token', 401, undefined, noStack)
export const Forbidden = createError('FORBIDDEN', 'The credential does not grant access to this resource', 403, undefined, noStack)
export const TooManyAuthFailures = createError<'RATE_LIMITED', 429, [string]>('RATE_LIMITED', 'Too many failed authentications, retry in %s', 429, undefined, noStack)
export const KeyNotFound = createError('NOT_FOUND', 'API key not found', 404, undefined, noStack)
export const KeyNotActive = createError('KEY_NOT_ACTIVE', 'The API key is revoked or expired', 409, undefined, noStack)
export const InvalidAllowedIps = createError<'VALIDATION_ERROR', 400, [string]>('VALIDATION_ERROR', 'body/allowedIps: %s', 400, undefined, noStack)

// Proof of possession (API.md section 7).
export const InvalidSigningKey = createError<'VALIDATION_ERROR', 400, [string]>('VALIDATION_ERROR', 'body/jwk: %s', 400, undefined, noStack)
export const SigningKeyExists = createError('SIGNING_KEY_EXISTS', 'This public key is already registered for the API key', 409, undefined, noStack)
export const SigningKeyLimit = createError<'SIGNING_KEY_LIMIT', 409, [number]>('SIGNING_KEY_LIMIT', 'An API key may have at most %d signing keys: remove one first', 409, undefined, noStack)
export const SigningKeyNotFound = createError('NOT_FOUND', 'Signing key not found', 404, undefined, noStack)
export const InvalidDpopProof = createError('INVALID_DPOP_PROOF', 'The DPoP proof is missing, malformed, stale, replayed or not for this request', 400, undefined, noStack)
export const DigestMismatch = createError('DIGEST_MISMATCH', 'Content-Digest does not match the body (RFC 9530)', 400, undefined, noStack)
// Abuse defence and runtime policy (API.md section 8).
export const Blocked = createError<'BLOCKED', 429, [string]>('BLOCKED', 'This address is blocked after repeated abuse, retry in %s', 429, undefined, noStack)
export const AnonymousCreateDisabled = createError('ANONYMOUS_CREATE_DISABLED', 'Anonymous creation is closed on this server: create messages through the API (/api/v1/messages) with a key', 403, undefined, noStack)
export const PolicyVersionMismatch = createError('PRECONDITION_FAILED', 'The policy changed since the version in If-Match: read it again and retry', 412, undefined, noStack)
export const InvalidPolicy = createError<'VALIDATION_ERROR', 400, [string, string]>('VALIDATION_ERROR', 'body/%s: %s', 400, undefined, noStack)
export const InvalidBlock = createError<'VALIDATION_ERROR', 400, [string, string]>('VALIDATION_ERROR', 'body/%s: %s', 400, undefined, noStack)
export const BlockNotFound = createError('NOT_FOUND', 'Block not found', 404, undefined, noStack)
export const InvalidEventCursor = createError('VALIDATION_ERROR', 'querystring/after is not an event id from this feed', 400, undefined, noStack)
export const InvalidCursor = createError('VALIDATION_ERROR', 'querystring/cursor is not a cursor from this API', 400, undefined, noStack)

/** Maps Fastify's own error codes to the catalogue's machine codes. */
export const fastifyErrorCodes: Readonly<Record<string, string>> = {
  FST_ERR_VALIDATION: 'VALIDATION_ERROR',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_BODY',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_BODY',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_NOT_FOUND: 'NOT_FOUND',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
  FST_ERR_ASYNC_CONSTRAINT: 'BAD_REQUEST'
}
