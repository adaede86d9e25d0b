import { randomBytes } from 'node:crypto'
import jwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'
import { ApiKeys, KEY_ID_PATTERN, type Scope } from '../src/api-keys.js'
import { Forbidden, TooManyAuthFailures, Unauthorized } from '../src/errors.js'

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

/** The claims of an access token (API.md section 2). */
export interface TokenClaims {
  iss: string
  aud: string
  sub: string
  scope: string
  jti: string
  iat: number
  exp: number
  nbf?: number
}

/** A token that verified, with its scopes split once. */
interface VerifiedToken {
  claims: TokenClaims
  scopes: readonly string[]
}

export interface AuthorizeOptions {
  /** which credentials the route takes; both by default */
  accept?: readonly CredentialKind[]
}

declare module 'fastify' {
  interface FastifyInstance {
    apiKeys: ApiKeys
    /**
     * The onRequest hook of a protected route: authenticate, count the call against the
     * key's rate limit, then check `scope` (null: any authenticated caller).
     */
    authorize: (scope: Scope | null, options?: AuthorizeOptions) => onRequestAsyncHookHandler[]
    /** Signs an access token for a principal; returns it with its lifetime in seconds. */
    issueToken: (principal: Principal, scopes: readonly string[]) => { token: string, expiresIn: number }
  }
  interface FastifyRequest {
    principal: Principal | null
  }
}

export const AUDIENCE = 'missive-api'
/** the only algorithm a token may use: anything else, `none` included, is refused */
export const TOKEN_ALGORITHMS = ['HS256'] as const
/** failed authentications are counted per IP over this window (API.md section 4) */
export const AUTH_FAILURE_WINDOW_MS = 15 * 60 * 1000

const KEY_ID = new RegExp(KEY_ID_PATTERN)
const REALM = 'realm="missive"'

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

function challenge (accept: readonly CredentialKind[]): string {
  return accept.map((kind) => kind === 'jwt' ? `Bearer ${REALM}` : `ApiKey ${REALM}`).join(', ')
}

/**
 * One authentication plugin for /api/v1 and /metrics: `X-API-Key: msk_…` or
 * `Authorization: Bearer <jwt>`, a typed `request.principal`, a scope check per route,
 * and the per-IP lockout after AUTH_FAILURE_MAX failures in 15 minutes.
 *
 * Cost per request once warm: an API key is a SHA-256 and an LRU lookup (argon2 runs once
 * per cache period, see src/api-keys.ts); a bearer token is an HMAC check (once per token,
 * then an LRU lookup) and one round trip that reads the IP's failure count
 * and the token's deny-list entry together (keyStore.tokenGate: one MGET on a single
 * Redis). Both read the failure count because a locked IP must get 429 even with a valid
 * credential.
 */
export default fp(async function auth (app) {
  const { config, keyStore } = app

  await app.register(jwt, {
    secret: config.jwtSecret,
    // The issuer is the deployment's public URL (API.md sections 2 and 5).
    sign: { algorithm: 'HS256', iss: config.publicUrl, aud: AUDIENCE },
    verify: {
      algorithms: [...TOKEN_ALGORITHMS],
      allowedIss: config.publicUrl,
      allowedAud: AUDIENCE,
      requiredClaims: ['iss', 'aud', 'sub', 'scope', 'jti', 'iat', 'exp']
    }
  })

  // Tokens that verified, so a service reusing its token pays the HMAC and the decode
  // once; the scopes are split once too. Each hit is checked against its exp again;
  // revocation is checked on every request anyway (deny list, key state). Not fast-jwt's
  // own cache: it hashes with createHash on every lookup, ~12 µs of a request in a profile.
  // Keyed by the token itself, not a digest of it (a SHA-256 of a token was ~3 µs of a
  // request): a token is only worth what JWT_SECRET is, and the secret is in this same
  // memory, so keeping tokens (until their exp, 10 000 at most) exposes nothing more. API
  // keys are different, and their cache is keyed by a digest (src/api-keys.ts).
  const verifiedTokens = new LRUCache<string, VerifiedToken>({ max: 10_000 })
  function verifiedToken (token: string): VerifiedToken | null {
    const now = Date.now()
    const cached = verifiedTokens.get(token)
    if (cached !== undefined && cached.claims.exp * 1000 > now) return cached
    let claims: TokenClaims
    try {
      claims = app.jwt.verify<TokenClaims>(token)
    } catch {
      return null
    }
    const wellFormed = typeof claims.sub === 'string' && KEY_ID.test(claims.sub) &&
      typeof claims.scope === 'string' && typeof claims.jti === 'string' && typeof claims.exp === 'number'
    if (!wellFormed) return null
    // shared by every request that brings this token, so frozen
    const verified = { claims, scopes: Object.freeze(claims.scope.split(' ').filter(Boolean)) }
    verifiedTokens.set(token, verified, { ttl: Math.max(1, claims.exp * 1000 - now) })
    return verified
  }

  const apiKeys = new ApiKeys(keyStore)
  app.decorate('apiKeys', apiKeys)
  app.addHook('onClose', async () => { apiKeys.close() })
  app.decorateRequest('principal', null)

  /** 401 (or 429 once the IP has failed too often), after counting the failure. */
  async function refuse (request: FastifyRequest, reply: FastifyReply, accept: readonly CredentialKind[], reason: string, keyId?: string): Promise<never> {
    request.log.warn({ event: 'auth.failure', reason, keyId, ip: request.ip }, 'authentication failed')
    const failures = await keyStore.recordAuthFailure(request.ip, AUTH_FAILURE_WINDOW_MS)
    if (failures.count > config.AUTH_FAILURE_MAX) lockedOut(reply, failures.resetMs)
    reply.header('www-authenticate', challenge(accept))
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

  async function authenticateToken (request: FastifyRequest, reply: FastifyReply, accept: readonly CredentialKind[], token: string): Promise<Principal> {
    const verified = verifiedToken(token)
    if (verified === null) {
      await ensureNotLocked(request, reply)
      return await refuse(request, reply, accept, 'token')
    }
    const { claims, scopes } = verified
    // The key's state is nearly always cached (see ApiKeys): then only the store's read is awaited.
    const knownActive = apiKeys.cachedKeyState(claims.sub)
    const [{ failures, denied }, active] = knownActive === undefined
      ? await Promise.all([keyStore.tokenGate(request.ip, claims.jti), apiKeys.isKeyActive(claims.sub)])
      : [await keyStore.tokenGate(request.ip, claims.jti), knownActive]
    if (failures.count > config.AUTH_FAILURE_MAX) lockedOut(reply, failures.resetMs)
    if (denied || !active) return await refuse(request, reply, accept, denied ? 'token-revoked' : 'key-inactive', claims.sub)
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
        return await refuse(request, reply, accept, 'malformed')
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

  app.decorate('issueToken', function issueToken (principal: Principal, scopes: readonly string[]) {
    const now = Math.floor(Date.now() / 1000)
    // A token never outlives the credential it came from (a key's expiry, a rotation's grace).
    const keyLimit = principal.validUntil === null ? Infinity : Math.floor(principal.validUntil / 1000)
    const exp = Math.min(now + config.JWT_TTL_SECONDS, keyLimit)
    const claims = { sub: principal.keyId, scope: scopes.join(' '), jti: randomBytes(16).toString('base64url'), iat: now, exp }
    return { token: app.jwt.sign(claims), expiresIn: exp - now }
  })
}, { name: 'auth', dependencies: ['config', 'storage', 'rate-limit'] })
