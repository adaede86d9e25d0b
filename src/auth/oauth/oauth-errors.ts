/**
 * The error codes of RFC 6749 §5.2 (the token endpoint; RFC 7009 and 7662 reuse them), and
 * RFC 9449 §5's `invalid_dpop_proof` for a token request whose DPoP proof does not hold.
 */
export const OAUTH_ERROR_CODES = [
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope', 'invalid_dpop_proof'
] as const
export type OAuthErrorCode = typeof OAUTH_ERROR_CODES[number]

/**
 * An RFC 6749 §5.2 error: `{ error, error_description }`, 400, or 401 for a failed client
 * authentication (the route adds `WWW-Authenticate: Basic`). The description is ours,
 * fixed text: it never echoes what the client sent.
 */
export class OAuthError extends Error {
  readonly statusCode: 400 | 401 | 413
  /** RFC 9421 §5.1: for a refused or missing request signature, what to sign */
  acceptSignature?: string

  constructor (readonly error: OAuthErrorCode, readonly description: string, statusCode?: 400 | 401 | 413) {
    super(description)
    this.name = 'OAuthError'
    this.statusCode = statusCode ?? (error === 'invalid_client' ? 401 : 400)
  }
}
