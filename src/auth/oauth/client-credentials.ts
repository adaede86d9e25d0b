import { SCOPES } from '../../api-keys.js'
import { OAuthError } from './oauth-errors.js'

export const GRANT_TYPE = 'client_credentials'

/**
 * The scopes a client credentials token gets (RFC 6749 §3.3, §4.4.2): the `scope` asked
 * for, which must be a subset of the key's, or all the key's scopes when absent. It narrows,
 * never widens: a scope the key lacks, one that does not exist, or an empty list is
 * invalid_scope. Order and duplicates of the request do not matter.
 */
export function grantedScopes (requested: string | undefined, keyScopes: readonly string[]): readonly string[] {
  if (requested === undefined) return keyScopes
  const asked = [...new Set(requested.split(' ').filter(Boolean))]
  if (asked.length === 0) throw new OAuthError('invalid_scope', 'scope is empty')
  if (!asked.every((scope) => (SCOPES as readonly string[]).includes(scope))) throw new OAuthError('invalid_scope', 'scope names an unknown scope')
  if (!asked.every((scope) => keyScopes.includes(scope))) throw new OAuthError('invalid_scope', 'scope asks for more than the client\'s key holds')
  return asked
}
