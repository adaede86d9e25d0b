import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import type { Test } from 'tap'
import type { App } from '../../src/app.js'
import { withKey } from '../api/api-helper.js'
import { basic, FORM_TYPE } from '../oauth/oauth-helper.js'

/**
 * DPoP (RFC 9449) proofs for the tests, made with jose as a client would, with every header
 * member and claim open to change, and the proofs no client library makes (alg none, HS256,
 * a private jwk) made by hand. API.md sections 2 and 7.
 */

export type ProofAlg = 'ES256' | 'EdDSA'
export const PROOF_ALGS: readonly ProofAlg[] = ['ES256', 'EdDSA']
/** What the server advertises and puts in its DPoP challenges. */
export const DPOP_ALGS_CHALLENGE = 'ES256 EdDSA Ed25519'

/** The origin of an injected request (PUBLIC_URL's default with HOST and PORT unset). */
export const INJECT_ORIGIN = 'http://127.0.0.1:3000'

export interface ProofKey {
  alg: ProofAlg
  privateKey: CryptoKey
  /** the public JWK, as it goes in a proof's header */
  jwk: JWK
  /** the private JWK (for the test that puts it in a header) */
  privateJwk: JWK
  /** RFC 7638 SHA-256 thumbprint of the public JWK, by jose */
  jkt: string
}

/** A new key pair for DPoP proofs. */
export async function proofKey (alg: ProofAlg = 'ES256'): Promise<ProofKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) })
  const jwk = await exportJWK(publicKey)
  return { alg, privateKey, jwk, privateJwk: await exportJWK(privateKey), jkt: await calculateJwkThumbprint(jwk, 'sha256') }
}

/** RFC 9449 §4.2 `ath`: base64url(SHA-256(token)), computed here independently of the server. */
export function ath (token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url')
}

export interface ProofOptions {
  /** `htm`; POST by default */
  method?: string
  /** `htu`: a path (put after `origin`) or an absolute URL */
  url?: string
  /** the origin a path is put after; INJECT_ORIGIN by default */
  origin?: string
  /** the access token the proof goes with: sets `ath` */
  token?: string
  /** seconds to add to now for `iat` (negative: in the past) */
  iatOffset?: number
  /** header members to set (undefined removes one) */
  header?: Record<string, unknown>
  /** claims to set (undefined removes one) */
  claims?: Record<string, unknown>
  /** claims to remove */
  drop?: string[]
}

/** The header and claims of a proof for `options`, before any signature. */
export function proofParts (key: ProofKey, options: ProofOptions = {}): { header: Record<string, unknown>, claims: Record<string, unknown> } {
  const url = options.url ?? '/api/v1/auth/token'
  const htu = /^https?:/i.test(url) ? url : (options.origin ?? INJECT_ORIGIN) + url
  const claims: Record<string, unknown> = {
    jti: randomUUID(),
    htm: options.method ?? 'POST',
    htu,
    iat: Math.floor(Date.now() / 1000) + (options.iatOffset ?? 0),
    ...(options.token === undefined ? {} : { ath: ath(options.token) }),
    ...options.claims
  }
  for (const name of options.drop ?? []) delete claims[name]
  const header: Record<string, unknown> = { alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk, ...options.header }
  for (const [name, value] of Object.entries(header)) if (value === undefined) delete header[name]
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name]
  return { header, claims }
}

/** A proof signed by `key` with jose (SignJWT), every header member and claim open to change. */
export async function makeProof (key: ProofKey, options: ProofOptions = {}): Promise<string> {
  const { header, claims } = proofParts(key, options)
  return await new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key.privateKey)
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** An `alg: none` proof made by hand (jose will not): with an empty signature part, or `signature`. */
export function noneProof (key: ProofKey, options: ProofOptions = {}, signature = ''): string {
  const { header, claims } = proofParts(key, options)
  return `${b64({ ...header, alg: 'none' })}.${b64(claims)}.${signature}`
}

/**
 * An HS256 proof, made by hand: an HMAC over the JWS signing input with `secret` (by default
 * the base64url x coordinate of the public jwk, which anyone knows: the classic key confusion).
 */
export function hs256Proof (key: ProofKey, options: ProofOptions = {}, secret?: Buffer): string {
  const { header, claims } = proofParts(key, options)
  const input = `${b64({ ...header, alg: 'HS256' })}.${b64(claims)}`
  const hmacKey = secret ?? Buffer.from(String(key.jwk.x), 'utf8')
  return `${input}.${createHmac('sha256', hmacKey).update(input).digest('base64url')}`
}

/** A proof whose header carries the private jwk (RFC 9449 §4.2: MUST NOT), signed by that key. */
export async function privateJwkProof (key: ProofKey, options: ProofOptions = {}): Promise<string> {
  return await makeProof(key, { ...options, header: { jwk: key.privateJwk, ...options.header } })
}

/** Not a JWT at all. */
export function garbageProof (): string {
  return randomBytes(48).toString('base64url')
}

/**
 * Waits (at most 5 s) until the app is past any start-up event-loop stall: under-pressure
 * answers 503 for a second after one, which on a loaded machine can follow the first build.
 */
export async function settle (app: App): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if ((await app.inject('/ready')).statusCode === 200) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The token endpoints the tests bind tokens at. */
export type TokenEndpoint = '/api/v1/auth/token' | '/oauth/token'
export const TOKEN_ENDPOINTS: readonly TokenEndpoint[] = ['/api/v1/auth/token', '/oauth/token']

/**
 * A token request to `endpoint` with the API key `id`/`key`, and `dpop` as the DPoP header
 * (a string, an array of headers, or none).
 */
export async function requestToken (app: App, endpoint: TokenEndpoint, id: string, key: string, dpop?: string | string[], scope?: string): Promise<LightMyRequestResponse> {
  const dpopHeader = dpop === undefined ? {} : { dpop }
  if (endpoint === '/api/v1/auth/token') {
    return await app.inject({
      method: 'POST',
      url: endpoint,
      headers: { ...withKey(key), ...dpopHeader } as Record<string, string>,
      ...(scope === undefined ? {} : { payload: { scopes: scope.split(' ') } })
    })
  }
  return await app.inject({
    method: 'POST',
    url: endpoint,
    headers: { 'content-type': FORM_TYPE, authorization: basic(id, key), ...dpopHeader } as Record<string, string>,
    payload: new URLSearchParams({ grant_type: 'client_credentials', ...(scope === undefined ? {} : { scope }) }).toString()
  })
}

/** A DPoP-bound token for `proof`'s key from `endpoint` (fails the caller when refused). */
export async function boundToken (app: App, endpoint: TokenEndpoint, id: string, key: string, signer: ProofKey, scope?: string): Promise<string> {
  const res = await requestToken(app, endpoint, id, key, await makeProof(signer, { url: endpoint }), scope)
  if (res.statusCode !== 200) throw new Error(`bound token request failed: ${res.statusCode} ${res.body}`)
  const body = res.json()
  if (body.token_type !== 'DPoP') throw new Error(`not a DPoP token: ${res.body}`)
  return body.access_token
}

/** The claims of a JWT, unverified. */
export function jwtClaims (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
}

export interface Challenge { scheme: string, params: Record<string, string> }

/** A WWW-Authenticate value as its challenges (schemes lowercased), for the forms the server sends. */
export function parseChallenges (value: string | string[] | number | undefined): Challenge[] {
  if (typeof value !== 'string') return []
  // A challenge starts with its scheme and a space (`DPoP algs=…`); its parameters are `name="value"`.
  return value.split(/,\s*(?=[A-Za-z][\w-]*\s+[A-Za-z][\w-]*=)/).map((part) => {
    const scheme = /^\s*([A-Za-z][\w-]*)/.exec(part)?.[1] ?? ''
    const params: Record<string, string> = {}
    for (const [, name, v] of part.matchAll(/([A-Za-z][\w-]*)="([^"]*)"/g)) params[name as string] = v as string
    return { scheme: scheme.toLowerCase(), params }
  })
}

/**
 * A 401 refusal at a resource: the standard body, a DPoP challenge with algs, and `error` on
 * exactly the scheme `on` (none when `on` is undefined).
 */
export function assertRefused (t: Test, res: LightMyRequestResponse, what: string, expected?: { on: 'bearer' | 'dpop', error: 'invalid_token' | 'invalid_dpop_proof' }): void {
  t.equal(res.statusCode, 401, `${what}: 401`)
  const body = res.json() as Record<string, unknown>
  t.equal(body.statusCode, 401, `${what}: the standard body`)
  t.ok(Object.keys(body).every((k) => ['statusCode', 'error', 'message', 'code'].includes(k)), `${what}: only the standard fields`)
  const header = res.headers['www-authenticate']
  const challenges = parseChallenges(header)
  const dpop = challenges.find((c) => c.scheme === 'dpop')
  t.equal(dpop?.params.algs, DPOP_ALGS_CHALLENGE, `${what}: DPoP algs="${DPOP_ALGS_CHALLENGE}" (${String(header)})`)
  t.ok(challenges.some((c) => c.scheme === 'bearer'), `${what}: a Bearer challenge too`)
  const withError = challenges.filter((c) => c.params.error !== undefined)
  if (expected === undefined) {
    t.same(withError, [], `${what}: no error code`)
  } else {
    t.same(withError.map((c) => [c.scheme, c.params.error]), [[expected.on, expected.error]], `${what}: error="${expected.error}" on the ${expected.on} challenge (${String(header)})`)
  }
  t.notMatch(res.body, /eyJ/, `${what}: no token or proof echoed`)
}
