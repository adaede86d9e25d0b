import { hkdfSync } from 'node:crypto'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { ApiKeys, type Scope } from '../src/api-keys.js'
import { AccessTokens, type VerifiedToken } from '../src/auth/access-tokens.js'
import { defaultTiming, IssuerKeys, IssuerKeyUnusable } from '../src/auth/issuer-keys.js'
import { aesGcmContent, plainContent } from '../src/content-cipher.js'
import { Forbidden, StoreUnavailable, TooManyAuthFailures, Unauthorized } from '../src/errors.js'

export type CredentialKind = 'api-key' | 'jwt'

/** Who is calling, once authenticated. Never holds the credential itself. */
export interface Principal {
  readonly keyId: string
  readonly scopes: readonly string[]
  readonly via: CredentialKind
  /** the key's own requests per window; null: RATE_LIMIT_API_MAX */
  readonly rateLimit: number | null
  /** when the credential stops being valid (ms); null: never */
  readonly validUntil: number | null
  /** the token's id and expiry (s), for bearer tokens */
  readonly token: { readonly jti: string, readonly exp: number } | null
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
    /** Signs an access token for a principal; returns it with its lifetime in seconds. */
    issueToken: (principal: Principal, scopes: readonly string[]) => Promise<{ token: string, expiresIn: number }>
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
/** failed authentications are counted per IP over this window (API.md section 4) */
export const AUTH_FAILURE_WINDOW_MS = 15 * 60 * 1000

const REALM = 'realm="missive"'

/**
 * Names how issuer keys are sealed: 'plain', or 8 characters derived from ENCRYPTION_KEY with
 * HKDF (which say nothing about the key, and differ when the key does).
 */
function sealTag (encryptionKey: Buffer | null): string {
  // A subkey (HKDF) rather than the AES key itself: one key, one purpose.
  return encryptionKey === null ? 'plain' : Buffer.from(hkdfSync('sha256', encryptionKey, '', 'missive issuer-key seal', 6)).toString('base64url')
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
  | { kind: 'jwt', token: string }
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
  const match = /^Bearer +([A-Za-z0-9_.-]+)$/i.exec(authorization ?? '')
  return match === null ? { kind: 'malformed' } : { kind: 'jwt', token: match[1] as string }
}

/**
 * The WWW-Authenticate challenges of a 401: one per credential the route takes. A bearer
 * token that was presented and refused gets RFC 6750's `error="invalid_token"` (§3.1);
 * a request without one gets no error code (§3.1: it did not try).
 */
function challenge (accept: readonly CredentialKind[], badToken = false): string {
  return accept.map((kind) => kind === 'jwt'
    ? `Bearer ${REALM}${badToken ? ', error="invalid_token"' : ''}`
    : `ApiKey ${REALM}`).join(', ')
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

  const apiKeys = new ApiKeys(keyStore)
  app.decorate('apiKeys', apiKeys)
  app.addHook('onClose', async () => { apiKeys.close() })
  app.decorateRequest('principal', null)

  async function countFailure (request: FastifyRequest, reply: FastifyReply, reason: string, keyId?: string): Promise<void> {
    request.log.warn({ event: 'auth.failure', reason, keyId, ip: request.ip }, 'authentication failed')
    const failures = await keyStore.recordAuthFailure(request.ip, AUTH_FAILURE_WINDOW_MS)
    if (failures.count > config.AUTH_FAILURE_MAX) lockedOut(reply, failures.resetMs)
  }

  /** 401 (or 429 once the IP has failed too often), after counting the failure. */
  async function refuse (request: FastifyRequest, reply: FastifyReply, accept: readonly CredentialKind[], reason: string, keyId?: string, badToken = false): Promise<never> {
    await countFailure(request, reply, reason, keyId)
    reply.header('www-authenticate', challenge(accept, badToken))
    throw new Unauthorized()
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
    const failures = await keyStore.authFailures(request.ip)
    if (failures.count > config.AUTH_FAILURE_MAX) lockedOut(reply, failures.resetMs)
  }

  async function authenticateKey (request: FastifyRequest, reply: FastifyReply, accept: readonly CredentialKind[], key: string): Promise<Principal> {
    // The failure count comes first: a locked IP must not make the server run argon2.
    await ensureNotLocked(request, reply)
    const verified = await apiKeys.verifyKey(key)
    if (verified === null) return await refuse(request, reply, accept, 'api-key', /^msk_([a-z0-9]{12})_/.exec(key)?.[1])
    return { keyId: verified.keyId, scopes: verified.scopes, via: 'api-key', rateLimit: verified.rateLimit, validUntil: verified.expiresAt, token: null }
  }

  app.decorate('authFailures', { ensureNotLocked, count: countFailure })

  async function authenticateToken (request: FastifyRequest, reply: FastifyReply, accept: readonly CredentialKind[], token: string): Promise<Principal> {
    // A token seen before is answered from memory; only a new one awaits its signature check.
    let verified = accessTokens.verify(token)
    if (verified instanceof Promise) verified = await verified
    if (verified === null) {
      await ensureNotLocked(request, reply)
      return await refuse(request, reply, accept, 'token', undefined, true)
    }
    const { claims, scopes } = verified
    // The key's state is nearly always cached (see ApiKeys): then only the store's read is awaited.
    const knownActive = apiKeys.cachedKeyState(claims.sub)
    const [{ failures, denied }, active] = knownActive === undefined
      ? await Promise.all([keyStore.tokenGate(request.ip, claims.jti), apiKeys.isKeyActive(claims.sub)])
      : [await keyStore.tokenGate(request.ip, claims.jti), knownActive]
    if (failures.count > config.AUTH_FAILURE_MAX) lockedOut(reply, failures.resetMs)
    if (denied || !active) return await refuse(request, reply, accept, denied ? 'token-revoked' : 'key-inactive', claims.sub, true)
    return {
      keyId: claims.sub,
      scopes,
      via: 'jwt',
      rateLimit: null,
      validUntil: claims.exp * 1000,
      token: { jti: claims.jti, exp: claims.exp }
    }
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
        principal = await authenticateToken(request, reply, accept, credential.token)
      } else {
        await ensureNotLocked(request, reply)
        return await refuse(request, reply, accept, 'malformed', undefined, /^bearer(\s|$)/i.test(request.headers.authorization ?? ''))
      }
      request.principal = principal
      request.log.debug({ event: 'auth.success', keyId: principal.keyId, via: principal.via, ip: request.ip }, 'authenticated')
      apiKeys.noteUse(principal.keyId)?.catch((err: unknown) => request.log.warn({ err }, 'could not record lastUsedAt'))
    }
  }

  function requireScope (request: FastifyRequest, reply: FastifyReply, scope: Scope): void {
    if (request.principal?.scopes.includes(scope) === true) return
    request.log.info({ event: 'auth.forbidden', keyId: request.principal?.keyId, scope, ip: request.ip }, 'scope missing')
    reply.header('www-authenticate', `Bearer ${REALM}, error="insufficient_scope", scope="${scope}"`)
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

  app.decorate('issueToken', async function issueToken (principal: Principal, scopes: readonly string[]) {
    try {
      const { token, expiresIn } = await accessTokens.issue(principal, scopes)
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
}, { name: 'auth', dependencies: ['config', 'storage', 'rate-limit'] })
