import { hkdfSync } from 'node:crypto'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { clientAddress } from '../src/abuse/client-address.js'
import type { EventContext } from '../src/abuse/events.js'
import { ApiKeys, hashSecret, type KeyPolicy, type Scope } from '../src/api-keys.js'
import { AccessTokens, unverifiedSubject, type VerifiedToken } from '../src/auth/access-tokens.js'
import { challenge, type ChallengeError, type CredentialKind, insufficientScope } from '../src/auth/challenges.js'
import { defaultTiming, IssuerKeys, IssuerKeyUnusable } from '../src/auth/issuer-keys.js'
import { aesGcmContent, plainContent } from '../src/content-cipher.js'
import { Forbidden, StoreUnavailable, TooManyAuthFailures, Unauthorized } from '../src/errors.js'
import type { TokenGate } from '../src/storage/key-store.js'
import { ProofRefused } from '../src/auth/proof-refused.js'

export type { CredentialKind }

/** Who is calling, once authenticated. Never holds the credential itself. */
export interface Principal {
  readonly keyId: string
  readonly scopes: readonly string[]
  readonly via: CredentialKind
  /** the key's own requests per window; null: RATE_LIMIT_API_MAX */
  readonly rateLimit: number | null
  /** when the credential stops being valid (ms); null: never */
  readonly validUntil: number | null
  /** the token's id and expiry (s), and the DPoP key it is bound to, for access tokens */
  readonly token: { readonly jti: string, readonly exp: number, readonly jkt?: string } | null
  /** the client key (RFC 7638 thumbprint) whose RFC 9421 signature this request carried */
  readonly signedWith?: string
}

export interface AuthorizeOptions {
  /** which credentials the route takes; both by default */
  accept?: readonly CredentialKind[]
}

declare module 'fastify' {
  interface FastifyInstance {
    apiKeys: ApiKeys
    /** the server's token-signing keys (JWKS) */
    issuerKeys: IssuerKeys
    accessTokens: AccessTokens
    /** the per-IP failed-authentication lockout, for routes that authenticate on their own (OAuth) */
    authFailures: AuthFailureGate
    /**
     * The onRequest hook of a protected route: authenticate, count the call against the
     * key's rate limit, then check `scope` (null: any authenticated caller).
     */
    authorize: (scope: Scope | null, options?: AuthorizeOptions) => onRequestAsyncHookHandler[]
    /** Signs an access token for a principal (bound to a DPoP key when `jkt` is given); returns it with its lifetime in seconds. */
    issueToken: (principal: Principal, scopes: readonly string[], jkt?: string | null) => Promise<{ token: string, expiresIn: number }>
    /**
     * A token that verifies, is not on the deny list and whose key is active, else null
     * (introspection and revocation: no lockout, no counting).
     */
    liveToken: (token: string) => Promise<VerifiedToken | null>
  }
  interface FastifyRequest {
    principal: Principal | null
  }
}

export { AUDIENCE } from '../src/auth/access-tokens.js'

/** The lockout of API.md section 4, for a route that checks credentials itself. */
export interface AuthFailureGate {
  /** 429 (thrown) when the IP has failed too often: before any hash is computed */
  ensureNotLocked: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  /** counts one failure and logs it; throws 429 once the IP is over the limit, else returns */
  count: (request: FastifyRequest, reply: FastifyReply, reason: string, keyId?: string) => Promise<void>
}

/** Why a credential was refused, for the log line and the challenge it gets. */
interface Refusal {
  reason: string
  keyId?: string | undefined
  /** the scheme whose challenge carries an RFC 6750 / RFC 9449 error code */
  error?: ChallengeError | undefined
  /** the key id was read from a token whose signature was not checked yet (a claim, for the log) */
  claimed?: boolean
  /** a signature was missing or bad: the answer says what to sign (Accept-Signature) */
  signature?: boolean
}
/** failed authentications are counted per IP over this window (API.md section 4) */
export const AUTH_FAILURE_WINDOW_MS = 15 * 60 * 1000

/**
 * Names how issuer keys are sealed: 'plain', or 8 characters derived from ENCRYPTION_KEY with
 * HKDF (which say nothing about the key, and differ when the key does).
 */
function sealTag (encryptionKey: Buffer | null): string {
  // A subkey (HKDF) rather than the AES key itself: one key, one purpose.
  return encryptionKey === null ? 'plain' : Buffer.from(hkdfSync('sha256', encryptionKey, '', 'missive issuer-key seal', 6)).toString('base64url')
}

/** The challenge of the route a signed request went to, for a refusal after authentication (its body's digest). */
const signedRequestChallenges = new WeakMap<FastifyRequest, string>()
export function challengeOfSigned (request: FastifyRequest): string {
  return signedRequestChallenges.get(request) ?? challenge(['api-key', 'jwt'])
}

/** A token's scopes that its key still holds, worked out once per token and key policy. */
const scopesFor = new WeakMap<VerifiedToken, { policy: KeyPolicy, scopes: readonly string[] }>()
function scopesNow (token: VerifiedToken, policy: KeyPolicy): readonly string[] {
  const known = scopesFor.get(token)
  if (known !== undefined && known.policy === policy) return known.scopes
  const scopes = token.scopes.every((scope) => policy.scopes.includes(scope)) ? token.scopes : token.scopes.filter((scope) => policy.scopes.includes(scope))
  scopesFor.set(token, { policy, scopes })
  return scopes
}

/** Who makes a change, for the security events of the domain services (src/abuse/events.ts). */
export function who (request: FastifyRequest): EventContext {
  return { by: request.principal?.keyId ?? null, ip: request.ip, requestId: request.id }
}

/** The caller, on a route whose onRequest hooks authenticated it. */
export function principalOf (request: FastifyRequest): Principal {
  if (request.principal === null) throw new Unauthorized()
  return request.principal
}

/**
 * preValidation for routes whose JSON body is optional: no body at all validates as `{}`
 * (Fastify would otherwise check `undefined` against the object schema).
 */
export async function absentBodyIsEmpty (request: FastifyRequest): Promise<void> {
  request.body ??= {}
}

type Credential =
  | { kind: 'api-key', key: string }
  | { kind: 'jwt', token: string, scheme: 'bearer' | 'dpop' }
  | { kind: 'malformed' }

/** The one credential of a request; null when it brings none. */
function readCredential (request: FastifyRequest): Credential | null {
  const apiKey = request.headers['x-api-key']
  const authorization = request.headers.authorization
  if (apiKey === undefined && authorization === undefined) return null
  // Two credentials at once, a repeated header, another scheme (Basic) or an empty token:
  // all refused the same way.
  if (apiKey !== undefined && authorization !== undefined) return { kind: 'malformed' }
  if (apiKey !== undefined) return typeof apiKey === 'string' && apiKey !== '' ? { kind: 'api-key', key: apiKey } : { kind: 'malformed' }
  const match = /^(Bearer|DPoP) +([A-Za-z0-9_.-]+)$/i.exec(authorization ?? '')
  if (match === null) return { kind: 'malformed' }
  return { kind: 'jwt', token: match[2] as string, scheme: (match[1] as string).toLowerCase() === 'dpop' ? 'dpop' : 'bearer' }
}

/**
 * One authentication plugin for /api/v1 and /metrics: `X-API-Key: msk_…` or
 * `Authorization: Bearer <jwt>`, a typed `request.principal`, a scope check per route,
 * and the per-IP lockout after AUTH_FAILURE_MAX failures in 15 minutes.
 *
 * Cost per request once warm: an API key is a SHA-256 and an LRU lookup (argon2 runs once
 * per cache period, see src/api-keys.ts); a bearer token is an ES256/EdDSA signature check (once per token,
 * then an LRU lookup) and one round trip that reads the IP's failure count
 * and the token's deny-list entry together (keyStore.tokenGate: one MGET on a single
 * Redis). Both read the failure count because a locked IP must get 429 even with a valid
 * credential.
 *
 * Proof of possession (API.md section 7) runs inside the same hook: the key's allow-list
 * before any hash, then a DPoP proof for a bound token and an RFC 9421 signature when one
 * is present or the key requires it, through `app.proof` (plugins/proof.ts). That plugin
 * is registered right after this one (it needs the key services made here) and is only
 * called at request time, so it is not in this plugin's `dependencies`.
 */
export default fp(async function auth (app) {
  const { config, keyStore } = app

  const issuerKeys = new IssuerKeys(app.issuerKeyStore, {
    alg: config.JWT_ALG,
    timing: { ...defaultTiming(config.JWT_KEY_ROTATION_DAYS, config.JWT_TTL_SECONDS), ...config.issuerKeyTiming },
    cipher: config.encryptionKey === null ? plainContent : aesGcmContent(config.encryptionKey),
    sealTag: sealTag(config.encryptionKey),
    onRefreshError: (err) => { app.log[err instanceof IssuerKeyUnusable ? 'error' : 'warn']({ err }, 'issuer keys: could not refresh or open the signing key') },
    warn: (message) => { app.log.warn(message) }
  })
  // Made (or found) before the first request, so a fresh deployment has its key in the
  // JWKS at once; a store that is down now is retried on the first token and every minute.
  app.addHook('onReady', async () => { await issuerKeys.start() })
  app.addHook('onClose', async () => { issuerKeys.close() })
  const accessTokens = new AccessTokens(issuerKeys, { issuer: config.publicUrl, ttlSeconds: config.JWT_TTL_SECONDS })
  app.decorate('issuerKeys', issuerKeys)
  app.decorate('accessTokens', accessTokens)

  const cost = config.apiKeyHashing
  const apiKeys = new ApiKeys(keyStore, { events: app.securityEvents, ...(cost === undefined ? {} : { hash: async (secret: string) => await hashSecret(secret, cost) }) })
  app.decorate('apiKeys', apiKeys)
  app.addHook('onClose', async () => { apiKeys.close() })
  app.decorateRequest('principal', null)

  async function countFailure (request: FastifyRequest, reply: FastifyReply, reason: string, keyId?: string, claimed = false): Promise<void> {
    const who = { ip: request.ip, keyId: keyId ?? null, requestId: request.id }
    if (reason === 'ip-denied') app.securityEvents.emit({ type: 'auth.ip_denied', ...who, detail: claimed ? { claimed } : {} })
    else app.securityEvents.emit({ type: 'auth.failure', ...who, detail: { reason } })
    // An exempt address is never scored (offence() skips it) but still meets the lockout: see
    // README "Under attack", the lockout guards the credentials, not the server.
    app.abuse.offence(request, 'auth-failure')
    const failures = await keyStore.recordAuthFailure(clientAddress(request.ip), AUTH_FAILURE_WINDOW_MS)
    // the one failure that passes the limit (the count is atomic): one event per lockout
    if (failures.count === config.AUTH_FAILURE_MAX + 1) app.abuse.offence(request, 'lockout')
    if (failures.count === config.AUTH_FAILURE_MAX + 1) app.securityEvents.emit({ type: 'auth.lockout', ip: request.ip, requestId: request.id, detail: { failures: failures.count, retryAfterSeconds: Math.max(1, Math.ceil(failures.resetMs / 1000)) } })
    if (failures.count > config.AUTH_FAILURE_MAX) lockedOut(reply, failures.resetMs)
  }

  /** 401 (or 429 once the IP has failed too often), after counting the failure. */
  async function refuse (request: FastifyRequest, reply: FastifyReply, accept: readonly CredentialKind[], refusal: Refusal): Promise<never> {
    await countFailure(request, reply, refusal.reason, refusal.keyId, refusal.claimed)
    reply.header('www-authenticate', challenge(accept, refusal.error))
    if (refusal.signature === true) reply.header('accept-signature', app.proof.acceptSignature(request))
    throw new Unauthorized()
  }

  /** The refusal for a failed proof of possession. */
  function proofRefusal (err: unknown, keyId: string, scheme: 'bearer' | 'dpop' | null): Refusal {
    if (!(err instanceof ProofRefused)) throw err
    return err.kind === 'dpop'
      ? { reason: err.message, keyId, error: { scheme: 'dpop', code: 'invalid_dpop_proof' } }
      : { reason: err.message, keyId, signature: true, error: scheme === null ? undefined : { scheme, code: 'invalid_token' } }
  }

  /** RFC 9421: a signature the request carries, or the key requires, must hold (API.md section 7). */
  async function checkSignature (request: FastifyRequest, reply: FastifyReply, accept: readonly CredentialKind[], keyId: string, required: boolean, scheme: 'bearer' | 'dpop' | null): Promise<string | undefined> {
    // No work at all for an unsigned request of a key that does not ask for signatures.
    if (!required && request.headers['signature-input'] === undefined && request.headers.signature === undefined) return undefined
    try {
      const keyid = await app.proof.checkSignature(request, keyId, required)
      if (keyid === null) return undefined
      signedRequestChallenges.set(request, challenge(accept))
      return keyid
    } catch (err) {
      return await refuse(request, reply, accept, proofRefusal(err, keyId, scheme))
    }
  }

  function lockedOut (reply: FastifyReply, resetMs: number): never {
    const seconds = Math.max(1, Math.ceil(resetMs / 1000))
    reply.header('retry-after', String(seconds))
    reply.header('x-ratelimit-limit', String(config.AUTH_FAILURE_MAX))
    reply.header('x-ratelimit-remaining', '0')
    reply.header('x-ratelimit-reset', String(seconds))
    throw new TooManyAuthFailures(`${seconds} seconds`)
  }

  async function ensureNotLocked (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const failures = await keyStore.authFailures(clientAddress(request.ip))
    if (failures.count > config.AUTH_FAILURE_MAX) lockedOut(reply, failures.resetMs)
  }

  async function authenticateKey (request: FastifyRequest, reply: FastifyReply, accept: readonly CredentialKind[], key: string): Promise<Principal> {
    // The failure count comes first: a locked IP must not make the server run argon2.
    await ensureNotLocked(request, reply)
    const check = await apiKeys.checkKey(key, request.ip)
    if (!check.ok) return await refuse(request, reply, accept, { reason: check.reason === 'ip-denied' ? 'ip-denied' : 'api-key', keyId: check.keyId ?? /^msk_([a-z0-9]{12})_/.exec(key)?.[1] })
    const verified = check.key
    const signedWith = await checkSignature(request, reply, accept, verified.keyId, verified.requireSignature, null)
    const principal: Principal = { keyId: verified.keyId, scopes: verified.scopes, via: 'api-key', rateLimit: verified.rateLimit, validUntil: verified.expiresAt, token: null }
    return signedWith === undefined ? principal : { ...principal, signedWith }
  }

  app.decorate('authFailures', { ensureNotLocked, count: countFailure })

  /** Refuses a token from an address outside its key's allow-list. */
  async function ensureAllowedAddress (request: FastifyRequest, reply: FastifyReply, accept: readonly CredentialKind[], keyId: string, policy: KeyPolicy, scheme: 'bearer' | 'dpop', claimed = false): Promise<void> {
    if (policy.allowedIps !== null && !policy.allowedIps.allows(request.ip)) {
      await ensureNotLocked(request, reply)
      await refuse(request, reply, accept, { reason: 'ip-denied', keyId, claimed, error: { scheme, code: 'invalid_token' } })
    }
  }

  async function authenticateToken (request: FastifyRequest, reply: FastifyReply, accept: readonly CredentialKind[], token: string, scheme: 'bearer' | 'dpop'): Promise<Principal> {
    const invalidToken = { scheme, code: 'invalid_token' } as const
    // A token seen before is answered from memory; only a new one awaits its signature check,
    // and not before its key's allow-list has seen the address (no hash for a refused address).
    let verified: VerifiedToken | null | undefined = accessTokens.cached(token)
    if (verified === undefined) {
      // Only a token that names a published issuer key is worth a read of its key's policy.
      const claimed = accessTokens.plausible(token) ? unverifiedSubject(token) : null
      if (claimed !== null) await ensureAllowedAddress(request, reply, accept, claimed, apiKeys.cachedPolicy(claimed) ?? await apiKeys.policy(claimed), scheme, true)
      verified = await accessTokens.verify(token)
    }
    if (verified === null) {
      await ensureNotLocked(request, reply)
      return await refuse(request, reply, accept, { reason: 'token', error: invalidToken })
    }
    const { claims } = verified
    const jkt = claims.cnf?.jkt
    // RFC 9449 §7.1: a bound token only goes with the DPoP scheme and a proof; an unbound one never does.
    if ((jkt === undefined) !== (scheme === 'bearer')) {
      await ensureNotLocked(request, reply)
      return await refuse(request, reply, accept, { reason: jkt === undefined ? 'unbound token as DPoP' : 'bound token as Bearer', keyId: claims.sub, error: invalidToken })
    }
    // The key's state is nearly always cached (see ApiKeys): then only the store's reads are awaited.
    const knownPolicy = apiKeys.cachedPolicy(claims.sub)
    let gate: TokenGate
    let policy: KeyPolicy
    let dpopFailure: unknown = null
    if (knownPolicy !== undefined && jkt === undefined) {
      // The common case, a plain token of a known key: one read, nothing else awaited.
      await ensureAllowedAddress(request, reply, accept, claims.sub, knownPolicy, scheme)
      policy = knownPolicy
      gate = await keyStore.tokenGate(clientAddress(request.ip), claims.jti)
    } else {
      if (knownPolicy !== undefined) await ensureAllowedAddress(request, reply, accept, claims.sub, knownPolicy, scheme)
      // A bound token's proof is checked while the deny list is read (its replay write goes in the same round trip).
      const dpop = jkt === undefined || knownPolicy === undefined ? null : app.proof.checkDpopForToken(request, token, jkt).catch((err: unknown) => { dpopFailure = err })
      ;[gate, policy] = await Promise.all([keyStore.tokenGate(clientAddress(request.ip), claims.jti), knownPolicy ?? apiKeys.policy(claims.sub), dpop])
    }
    const { failures, denied } = gate
    if (failures.count > config.AUTH_FAILURE_MAX) lockedOut(reply, failures.resetMs)
    if (denied || !policy.active) return await refuse(request, reply, accept, { reason: denied ? 'token-revoked' : 'key-inactive', keyId: claims.sub, error: invalidToken })
    if (knownPolicy === undefined) {
      await ensureAllowedAddress(request, reply, accept, claims.sub, policy, scheme)
      if (jkt !== undefined) await app.proof.checkDpopForToken(request, token, jkt).catch((err: unknown) => { dpopFailure = err })
    }
    if (dpopFailure !== null) return await refuse(request, reply, accept, proofRefusal(dpopFailure, claims.sub, scheme))
    const signedWith = await checkSignature(request, reply, accept, claims.sub, policy.requireSignature, scheme)
    const principal: Principal = {
      keyId: claims.sub,
      // A token is worth no more than its key now: scopes taken from the key since are gone.
      scopes: scopesNow(verified, policy),
      via: 'jwt',
      rateLimit: policy.rateLimit,
      validUntil: claims.exp * 1000,
      token: jkt === undefined ? { jti: claims.jti, exp: claims.exp } : { jti: claims.jti, exp: claims.exp, jkt }
    }
    return signedWith === undefined ? principal : { ...principal, signedWith }
  }

  function authenticator (accept: readonly CredentialKind[]): onRequestAsyncHookHandler {
    return async function authenticate (request, reply) {
      const credential = readCredential(request)
      if (credential === null || (credential.kind !== 'malformed' && !accept.includes(credential.kind))) {
        // Nothing to check (or a kind this route does not take): not a failed attempt, but
        // an anonymous request, so it costs a read of the IP's budget like any other.
        await app.readLimit.call(this, request, reply)
        reply.header('www-authenticate', challenge(accept))
        throw new Unauthorized()
      }
      let principal: Principal
      if (credential.kind === 'api-key') {
        principal = await authenticateKey(request, reply, accept, credential.key)
      } else if (credential.kind === 'jwt') {
        principal = await authenticateToken(request, reply, accept, credential.token, credential.scheme)
      } else {
        await ensureNotLocked(request, reply)
        const scheme = /^(bearer|dpop)(\s|$)/i.exec(request.headers.authorization ?? '')?.[1]?.toLowerCase()
        return await refuse(request, reply, accept, { reason: 'malformed', error: scheme === undefined ? undefined : { scheme: scheme === 'dpop' ? 'dpop' : 'bearer', code: 'invalid_token' } })
      }
      request.principal = principal
      request.log.debug({ event: 'auth.success', keyId: principal.keyId, via: principal.via, ip: request.ip }, 'authenticated')
      apiKeys.noteUse(principal.keyId)?.catch((err: unknown) => request.log.warn({ err }, 'could not record lastUsedAt'))
    }
  }

  function requireScope (request: FastifyRequest, reply: FastifyReply, scope: Scope): void {
    if (request.principal?.scopes.includes(scope) === true) return
    request.log.info({ event: 'auth.forbidden', keyId: request.principal?.keyId, scope, ip: request.ip }, 'scope missing')
    reply.header('www-authenticate', insufficientScope(scope))
    throw new Forbidden()
  }

  const both: readonly CredentialKind[] = ['api-key', 'jwt']
  // One limiter for every protected route: a key has one budget, whichever route it calls
  // (each rateLimit() call would otherwise get its own in-memory counters).
  const perKeyLimit = app.rateLimit(app.limits.api) as onRequestAsyncHookHandler
  app.decorate('authorize', function authorize (scope: Scope | null, options: AuthorizeOptions = {}) {
    const authenticate = authenticator(options.accept ?? both)
    // The three steps in one hook: one promise and one trip through Fastify's hook runner
    // per request instead of three.
    return [async function authorizeRequest (request, reply) {
      await authenticate.call(this, request, reply)
      await perKeyLimit.call(this, request, reply)
      if (scope !== null) requireScope(request, reply, scope)
    }]
  })

  app.decorate('issueToken', async function issueToken (principal: Principal, scopes: readonly string[], jkt?: string | null) {
    try {
      const { token, expiresIn } = await accessTokens.issue(principal, scopes, jkt === null || jkt === undefined ? undefined : { jkt })
      return { token, expiresIn }
    } catch (err) {
      // The reason (ENCRYPTION_KEY differs between instances) is for the log, not the client.
      if (err instanceof IssuerKeyUnusable) throw Object.assign(new StoreUnavailable(), { cause: err })
      throw err
    }
  })

  app.decorate('liveToken', async function liveToken (token: string) {
    const verified = await accessTokens.verify(token)
    if (verified === null) return null
    const { sub, jti } = verified.claims
    const [denied, active] = await Promise.all([keyStore.isTokenDenied(jti), apiKeys.isKeyActive(sub)])
    return denied || !active ? null : verified
  })
}, { name: 'auth', dependencies: ['config', 'storage', 'rate-limit', 'events'] })
