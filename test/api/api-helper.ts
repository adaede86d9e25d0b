import type { App } from '../../src/app.js'
import { SCOPES, type Scope } from '../../src/api-keys.js'

export const ALL_SCOPES: Scope[] = [...SCOPES]

export interface TestKey { id: string, key: string }

/** A key made through the app's own key service (as the key tool does). */
export async function makeKey (app: App, scopes: Scope[] = ALL_SCOPES, extra: { expiresInDays?: number, rateLimit?: number, name?: string } = {}): Promise<TestKey> {
  const { id, key } = await app.apiKeys.create({ name: extra.name ?? 'test', scopes, expiresInDays: extra.expiresInDays, rateLimit: extra.rateLimit })
  return { id, key }
}

export const withKey = (key: string): Record<string, string> => ({ 'x-api-key': key })
export const withToken = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

/** POST /api/v1/auth/token with a key; the access token. */
export async function tokenFor (app: App, key: string, scopes?: string[]): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(key), ...(scopes === undefined ? {} : { payload: { scopes } }) })
  if (res.statusCode !== 200) throw new Error(`token failed: ${res.statusCode} ${res.body}`)
  return res.json().access_token
}
