import { DPOP_ALGS } from './dpop.js'

/** The kinds of credential a protected route takes (API.md section 2). */
export type CredentialKind = 'api-key' | 'jwt'

/** An RFC 6750 / RFC 9449 error code, on the challenge of the scheme that was used. */
export interface ChallengeError {
  readonly scheme: 'bearer' | 'dpop'
  readonly code: 'invalid_token' | 'invalid_dpop_proof'
}

const REALM = 'realm="missive"'
const DPOP = `DPoP algs="${DPOP_ALGS.join(' ')}"`

/**
 * The `WWW-Authenticate` value of a 401: one challenge per scheme the route takes (an access
 * token goes as Bearer, or as DPoP when bound: RFC 9449 §7.1). The scheme of a token that was
 * presented and refused carries its error code (RFC 6750 §3.1 `invalid_token`, RFC 9449
 * `invalid_dpop_proof`); a request without one gets none (§3.1: it did not try).
 */
export function challenge (accept: readonly CredentialKind[], error?: ChallengeError): string {
  const code = (scheme: 'bearer' | 'dpop'): string => error?.scheme === scheme ? `, error="${error.code}"` : ''
  return accept.map((kind) => kind === 'jwt'
    ? `Bearer ${REALM}${code('bearer')}, ${DPOP}${code('dpop')}`
    : `ApiKey ${REALM}`).join(', ')
}

/** The DPoP challenge alone (a token endpoint's refused proof). */
export function dpopChallenge (code?: ChallengeError['code']): string {
  return code === undefined ? DPOP : `${DPOP}, error="${code}"`
}

/** 403 with the scope the route needs (RFC 6750 §3.1). */
export function insufficientScope (scope: string): string {
  return `Bearer ${REALM}, error="insufficient_scope", scope="${scope}"`
}
