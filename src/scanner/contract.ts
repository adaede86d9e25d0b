// The routes of ../shared/API.md sections 2, 3, 6–9 that need a credential, with the scope the
// contract's tables give them. The scope matrix takes its expected 2xx/403 from here, never
// from guessing; routes found in /docs/json but absent here are still probed for
// authentication bypass (they are protected), and listed as "not in the contract table" by the
// scope matrix. test/scanner/contract.test.ts compares this table with API.md.

export type AuthKind = 'any' | 'api-key' | 'bearer'

export interface ContractRoute {
  method: string
  /** OpenAPI-style template, as /docs/json writes it */
  path: string
  /** credential the route accepts */
  auth: AuthKind
  /** the scope it needs; null where the credential itself is the gate (auth/token, auth/revoke) */
  scope: string | null
  /** the contract says only the owner of the object may use it (a second owner gets 404) */
  ownerOnly?: boolean
  /** a harmless probe cannot be made (it would change the deployment): left out of the scope matrix */
  noProbe?: string
  /** the repository file that serves it (SARIF location); absent for routes not built yet */
  source?: string
}

const MESSAGES = 'routes/api/v1/messages.ts'
const KEYS = 'routes/api/v1/keys.ts'

export const CONTRACT_ROUTES: readonly ContractRoute[] = [
  { method: 'POST', path: '/api/v1/auth/token', auth: 'api-key', scope: null, noProbe: 'it issues a token', source: 'routes/api/v1/auth.ts' },
  { method: 'POST', path: '/api/v1/auth/revoke', auth: 'bearer', scope: null, noProbe: 'it revokes the token presented', source: 'routes/api/v1/auth.ts' },
  { method: 'POST', path: '/api/v1/messages', auth: 'any', scope: 'messages:write', source: MESSAGES },
  { method: 'GET', path: '/api/v1/messages', auth: 'any', scope: 'messages:read', ownerOnly: true, source: MESSAGES },
  { method: 'GET', path: '/api/v1/messages/{id}', auth: 'any', scope: 'messages:read', source: MESSAGES },
  { method: 'DELETE', path: '/api/v1/messages/{id}', auth: 'any', scope: 'messages:delete', ownerOnly: true, source: MESSAGES },
  { method: 'GET', path: '/api/v1/messages/{id}/receipt', auth: 'any', scope: 'messages:read', ownerOnly: true },
  { method: 'POST', path: '/api/v1/keys', auth: 'any', scope: 'keys:admin', source: KEYS },
  { method: 'GET', path: '/api/v1/keys', auth: 'any', scope: 'keys:admin', source: KEYS },
  { method: 'GET', path: '/api/v1/keys/{id}', auth: 'any', scope: 'keys:admin', source: KEYS },
  { method: 'DELETE', path: '/api/v1/keys/{id}', auth: 'any', scope: 'keys:admin', source: KEYS },
  { method: 'PATCH', path: '/api/v1/keys/{id}', auth: 'any', scope: 'keys:admin' },
  { method: 'POST', path: '/api/v1/keys/{id}/rotate', auth: 'any', scope: 'keys:admin', source: KEYS },
  { method: 'POST', path: '/api/v1/keys/{id}/signing-keys', auth: 'any', scope: 'keys:admin' },
  { method: 'GET', path: '/api/v1/keys/{id}/signing-keys', auth: 'any', scope: 'keys:admin' },
  { method: 'DELETE', path: '/api/v1/keys/{id}/signing-keys/{keyid}', auth: 'any', scope: 'keys:admin' },
  { method: 'GET', path: '/api/v1/security/policy', auth: 'any', scope: 'security:admin' },
  { method: 'PUT', path: '/api/v1/security/policy', auth: 'any', scope: 'security:admin' },
  { method: 'DELETE', path: '/api/v1/security/policy', auth: 'any', scope: 'security:admin', noProbe: 'it resets the runtime policy' },
  { method: 'GET', path: '/api/v1/security/blocks', auth: 'any', scope: 'security:admin' },
  { method: 'POST', path: '/api/v1/security/blocks', auth: 'any', scope: 'security:admin' },
  { method: 'DELETE', path: '/api/v1/security/blocks/{id}', auth: 'any', scope: 'security:admin' },
  { method: 'GET', path: '/api/v1/security/events', auth: 'any', scope: 'security:admin' },
  { method: 'POST', path: '/api/v1/webhooks', auth: 'any', scope: 'messages:write' },
  { method: 'GET', path: '/api/v1/webhooks', auth: 'any', scope: 'messages:write', ownerOnly: true },
  { method: 'GET', path: '/api/v1/webhooks/{id}', auth: 'any', scope: 'messages:write', ownerOnly: true },
  { method: 'DELETE', path: '/api/v1/webhooks/{id}', auth: 'any', scope: 'messages:write', ownerOnly: true },
  { method: 'POST', path: '/api/v1/webhooks/{id}/rotate-secret', auth: 'any', scope: 'messages:write', ownerOnly: true },
  { method: 'GET', path: '/api/v1/webhooks/{id}/deliveries', auth: 'any', scope: 'messages:write', ownerOnly: true },
  { method: 'GET', path: '/metrics', auth: 'any', scope: 'metrics:read', source: 'routes/metrics.ts' }
]

/** The scopes of API.md section 2, in its order. */
export const CONTRACT_SCOPES = ['messages:read', 'messages:write', 'messages:delete', 'keys:admin', 'metrics:read', 'security:admin'] as const

/** Where a route is served in this repository, for SARIF; a plugin file when no route file is known. */
export function sourceOf (method: string, path: string): string {
  const known = CONTRACT_ROUTES.find((r) => r.method === method && r.path === path)?.source
  if (known !== undefined) return known
  if (path.startsWith('/api/v1/messages')) return MESSAGES
  if (path.startsWith('/api/v1/keys')) return KEYS
  if (path.startsWith('/api/v1/auth')) return 'routes/api/v1/auth.ts'
  if (path === '/health' || path === '/ready') return 'routes/health.ts'
  if (path === '/metrics') return 'routes/metrics.ts'
  if (path.startsWith('/assets')) return 'routes/assets.ts'
  if (path === '/' || path.startsWith('/msg')) return 'routes/public.ts'
  return 'plugins/auth.ts'
}

export function contractRoute (method: string, path: string): ContractRoute | undefined {
  return CONTRACT_ROUTES.find((r) => r.method === method && r.path === path)
}
