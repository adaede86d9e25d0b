import { KEY_ID_PATTERN } from '../../api-keys.js'
import { OAuthError } from './oauth-errors.js'

/** What a client presented to authenticate: RFC 6749 §2.3.1, by either method. */
export interface ClientCredentials {
  readonly clientId: string
  /** the whole API key, `msk_<keyId>_<secret>` (API.md section 6) */
  readonly clientSecret: string
  readonly method: 'client_secret_basic' | 'client_secret_post'
}

/** The form fields client authentication may use (already checked to be single strings). */
export interface ClientForm {
  readonly client_id?: string
  readonly client_secret?: string
}

const KEY_ID = new RegExp(KEY_ID_PATTERN)

/**
 * Reads the client's credentials from `Authorization: Basic` or from the form.
 *
 * - Basic: RFC 6749 §2.3.1 says the id and the secret are each form-urlencoded (Appendix B)
 *   before they are joined with ':' and base64-encoded, so both are decoded here ('+' is a
 *   space, %XX a byte of UTF-8): a stock client that encodes reserved characters works.
 * - Both methods at once is invalid_request (§2.3: one method per request); a Basic
 *   header that does not decode, or ids that disagree, is a failed authentication.
 * - null: the request brings no client authentication at all.
 *
 * Only the shape is checked here; whether the secret is right is ApiKeys' business.
 */
export function readClientCredentials (authorization: string | undefined, form: ClientForm): ClientCredentials | null {
  const basic = authorization === undefined ? null : /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization)
  if (authorization !== undefined && basic === null) {
    throw new OAuthError('invalid_client', 'client authentication must use HTTP Basic or client_secret_post')
  }
  if (basic !== null) {
    if (form.client_secret !== undefined) throw new OAuthError('invalid_request', 'use one client authentication method, not both')
    const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon < 0) throw new OAuthError('invalid_client', 'the Basic credentials are not client_id:client_secret')
    const clientId = formDecode(decoded.slice(0, colon))
    const clientSecret = formDecode(decoded.slice(colon + 1))
    if (clientId === null || clientSecret === null) throw new OAuthError('invalid_client', 'the Basic credentials are not form-urlencoded')
    if (form.client_id !== undefined && form.client_id !== clientId) throw new OAuthError('invalid_client', 'client_id differs from the authenticated client')
    return checked({ clientId, clientSecret, method: 'client_secret_basic' })
  }
  if (form.client_secret !== undefined) {
    if (form.client_id === undefined) throw new OAuthError('invalid_request', 'client_secret_post needs client_id with client_secret')
    return checked({ clientId: form.client_id, clientSecret: form.client_secret, method: 'client_secret_post' })
  }
  if (form.client_id !== undefined) throw new OAuthError('invalid_client', 'client authentication is required: every client is confidential')
  return null
}

/** the client id is a key id, and the secret is that key's: anything else fails before any hash */
function checked (credentials: ClientCredentials): ClientCredentials {
  if (!KEY_ID.test(credentials.clientId) || !credentials.clientSecret.startsWith(`msk_${credentials.clientId}_`)) {
    throw new OAuthError('invalid_client', 'client authentication failed')
  }
  return credentials
}

/** application/x-www-form-urlencoded decoding of one value; null when it is not valid. */
export function formDecode (value: string): string | null {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '))
  } catch {
    return null
  }
}
