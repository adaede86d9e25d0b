import { SCOPES } from '../../api-keys.js'
import { DPOP_ALGS } from '../dpop.js'
import { GRANT_TYPE } from './client-credentials.js'

export const TOKEN_PATH = '/oauth/token'
export const REVOCATION_PATH = '/oauth/revoke'
export const INTROSPECTION_PATH = '/oauth/introspect'
export const JWKS_PATH = '/.well-known/jwks.json'
export const METADATA_PATH = '/.well-known/oauth-authorization-server'

export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const

/**
 * RFC 8414 authorization server metadata, every URL built from PUBLIC_URL (the issuer).
 * `response_types_supported` is REQUIRED by RFC 8414 §2 and empty here: there is no
 * authorization endpoint, only the client credentials grant.
 */
export interface AuthorizationServerMetadata {
  issuer: string
  token_endpoint: string
  jwks_uri: string
  revocation_endpoint: string
  introspection_endpoint: string
  grant_types_supported: string[]
  response_types_supported: string[]
  token_endpoint_auth_methods_supported: string[]
  revocation_endpoint_auth_methods_supported: string[]
  introspection_endpoint_auth_methods_supported: string[]
  scopes_supported: string[]
  dpop_signing_alg_values_supported: string[]
  service_documentation: string
}

export function authorizationServerMetadata (issuer: string): AuthorizationServerMetadata {
  return {
    issuer,
    token_endpoint: issuer + TOKEN_PATH,
    jwks_uri: issuer + JWKS_PATH,
    revocation_endpoint: issuer + REVOCATION_PATH,
    introspection_endpoint: issuer + INTROSPECTION_PATH,
    grant_types_supported: [GRANT_TYPE],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
    revocation_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
    introspection_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
    scopes_supported: [...SCOPES],
    dpop_signing_alg_values_supported: [...DPOP_ALGS],
    service_documentation: issuer + '/docs'
  }
}
