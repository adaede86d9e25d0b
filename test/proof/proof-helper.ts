import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { App } from '../../src/app.js'
import type { PrivateSigningJwk, PublicSigningJwk } from '../../src/auth/jwk.js'
import { generateSigningKey, signRequest, type SignOptions } from '../../src/auth/http-signatures/sign.js'
import { build, sleep, type BuildOptions } from '../helper.js'
import { makeKey, withKey } from '../api/api-helper.js'

/** Helpers for the proof-of-possession tests (API.md sections 2 and 7) through HTTP. */

export const STORES = ['memory', 'redis'] as const

export const ACCEPT_WITH_BODY = 'sig1=("@method" "@target-uri" "content-digest");created;keyid;nonce'
export const ACCEPT_WITHOUT_BODY = 'sig1=("@method" "@target-uri");created;keyid;nonce'

export interface ClientKeyPair { privateJwk: PrivateSigningJwk, publicJwk: PublicSigningJwk, keyid: string }

export interface Signer { jwk: PrivateSigningJwk, keyid?: string }

export const signer = (pair: ClientKeyPair): Signer => ({ jwk: pair.privateJwk, keyid: pair.keyid })

/** POST /api/v1/keys/:id/signing-keys with an admin key; the response. */
export async function postSigningKey (app: App, adminKey: string, id: string, jwk: unknown, extra: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: `/api/v1/keys/${id}/signing-keys`, headers: { ...withKey(adminKey), ...extra }, payload: { jwk } })
}

/** A fresh key pair, registered for key `id`. */
export async function registeredPair (app: App, adminKey: string, id: string, kind: 'ed25519' | 'p-256' = 'ed25519'): Promise<ClientKeyPair> {
  const pair = generateSigningKey(kind)
  const res = await postSigningKey(app, adminKey, id, pair.publicJwk)
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return pair
}

export interface Service {
  admin: { id: string, key: string }
  id: string
  key: string
  pair: ClientKeyPair
}

/**
 * An admin key and a service key (messages:read/write) with one registered signing key;
 * `requireSignature` set through PATCH when asked.
 */
export async function signingService (app: App, options: { requireSignature?: boolean, kind?: 'ed25519' | 'p-256', allowedIps?: string[] } = {}): Promise<Service> {
  const admin = await makeKey(app, ['keys:admin'], { name: 'admin' })
  const made = await app.inject({
    method: 'POST',
    url: '/api/v1/keys',
    headers: withKey(admin.key),
    payload: { name: 'svc', scopes: ['messages:read', 'messages:write'], ...(options.allowedIps === undefined ? {} : { allowedIps: options.allowedIps }) }
  })
  if (made.statusCode !== 201) throw new Error(`key create failed: ${made.statusCode} ${made.body}`)
  const { id, key } = made.json() as { id: string, key: string }
  const pair = await registeredPair(app, admin.key, id, options.kind)
  if (options.requireSignature === true) await patchKey(app, admin.key, id, { requireSignature: true })
  return { admin, id, key, pair }
}

/** PATCH /api/v1/keys/:id; throws unless 200. */
export async function patchKey (app: App, adminKey: string, id: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await app.inject({ method: 'PATCH', url: `/api/v1/keys/${id}`, headers: withKey(adminKey), payload: body })
  if (res.statusCode !== 200) throw new Error(`PATCH failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export interface SignedRequest {
  method?: 'GET' | 'POST' | 'DELETE' | 'PATCH' | 'PUT'
  url: string
  /** credential and other headers (not signed unless named in options.components) */
  headers?: Record<string, string>
  /** a JSON body (object, serialized here) or raw text */
  body?: unknown
  remoteAddress?: string
}

/** The exact body bytes a SignedRequest sends, or undefined. */
export function bodyText (body: unknown): string | undefined {
  if (body === undefined) return undefined
  return typeof body === 'string' ? body : JSON.stringify(body)
}

/**
 * The headers of a signed request to `app` (target URI: PUBLIC_URL + url), with content-type
 * application/json when there is a body.
 */
export function signedHeaders (app: App, request: SignedRequest, key: Signer, options: SignOptions = {}): Record<string, string> {
  const text = bodyText(request.body)
  const headers: Record<string, string> = { ...(text === undefined ? {} : { 'content-type': 'application/json' }), ...request.headers }
  const signed = signRequest({ method: request.method ?? 'GET', url: app.config.publicUrl + request.url, headers, ...(text === undefined ? {} : { body: text }) }, key, options)
  return { ...headers, ...signed }
}

/** Injects a request as SignedRequest describes, with `headers` as given (signed or not). */
export async function send (app: App, request: SignedRequest, headers: Record<string, string>): Promise<LightMyRequestResponse> {
  const text = bodyText(request.body)
  return await app.inject({
    method: request.method ?? 'GET',
    url: request.url,
    headers,
    ...(text === undefined ? {} : { payload: text }),
    ...(request.remoteAddress === undefined ? {} : { remoteAddress: request.remoteAddress })
  })
}

/** Signs and sends a request. */
export async function signedInject (app: App, request: SignedRequest, key: Signer, options: SignOptions = {}): Promise<LightMyRequestResponse> {
  return await send(app, request, signedHeaders(app, request, key, options))
}

/** A POST /api/v1/messages request with credential headers. */
export const createRequest = (credential: Record<string, string>, content = 'signed'): SignedRequest =>
  ({ method: 'POST', url: '/api/v1/messages', headers: credential, body: { content, maxViews: 1 } })

export type Scheme = 'ApiKey' | 'Bearer' | 'DPoP'
const ALL_SCHEMES: readonly Scheme[] = ['ApiKey', 'Bearer', 'DPoP']
/** the schemes a route that takes only API keys challenges with */
export const API_KEY_ONLY: readonly Scheme[] = ['ApiKey']
const CHALLENGES: Record<Scheme, RegExp> = { ApiKey: /ApiKey realm="missive"/, Bearer: /Bearer realm="missive"/, DPoP: /DPoP algs="/ }

/**
 * The uniform refusal: 401, code UNAUTHORIZED, the generic message, `WWW-Authenticate` with the
 * schemes of the route (all three by default), and for a refused signature `Accept-Signature` as given (undefined: no such header).
 */
export function assertUniform401 (t: Test, res: LightMyRequestResponse, acceptSignature: string | undefined, what: string, schemes: readonly Scheme[] = ALL_SCHEMES): void {
  t.equal(res.statusCode, 401, `${what}: 401 (${res.body})`)
  if (res.statusCode !== 401) return
  const body = res.json()
  t.equal(body.code, 'UNAUTHORIZED', `${what}: code UNAUTHORIZED`)
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: the standard error fields only`)
  t.equal(body.message, UNIFORM_MESSAGE, `${what}: the same message as any bad credential`)
  const challenge = String(res.headers['www-authenticate'] ?? '')
  for (const scheme of ALL_SCHEMES) {
    if (schemes.includes(scheme)) t.match(challenge, CHALLENGES[scheme], `${what}: WWW-Authenticate ${scheme}`)
    else t.notMatch(challenge, CHALLENGES[scheme], `${what}: WWW-Authenticate without ${scheme}`)
  }
  t.equal(res.headers['accept-signature'], acceptSignature, `${what}: Accept-Signature ${acceptSignature ?? 'absent'}`)
}

/** The message of every 401 (read from the answer to a made-up key, once per file). */
let UNIFORM_MESSAGE = ''
export async function learnUniformMessage (app: App): Promise<void> {
  const res = await app.inject({ url: '/api/v1/messages', headers: withKey(`msk_aaaaaaaaaaaa_${'A'.repeat(43)}`) })
  if (res.statusCode !== 401) throw new Error(`expected a 401, got ${res.statusCode}`)
  UNIFORM_MESSAGE = res.json().message
}

/**
 * build() of ../helper.ts, then a wait (at most 5 s) until /ready says 200: right after start,
 * on a loaded machine, under-pressure can answer 503 for a second after a start-up stall of
 * the event loop.
 */
export async function settledBuild (test: Test, options: BuildOptions = {}): Promise<App> {
  const app = await build(test, options)
  await settle(app)
  return app
}

/** Waits (at most 5 s) until /ready answers 200 (see settledBuild). */
export async function settle (app: App): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if ((await app.inject('/ready')).statusCode === 200) return
    await sleep(100)
  }
}

/**
 * Polls `attempt` every 100 ms until `done` says so, for at most `limitMs`; returns the
 * elapsed time, or null when it never happened.
 */
export async function within (limitMs: number, attempt: () => Promise<boolean>): Promise<number | null> {
  const started = Date.now()
  for (;;) {
    if (await attempt()) return Date.now() - started
    if (Date.now() - started > limitMs) return null
    await sleep(100)
  }
}

export { redisCallsDuring } from '../helper.js'

/** The named log lines (pino JSON) with `event`. */
export function events (logs: string[], event: string): Array<Record<string, unknown>> {
  return logs.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>
      return parsed.event === event ? [parsed] : []
    } catch {
      return []
    }
  })
}
