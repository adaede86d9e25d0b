import { randomBytes } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose'
import { LRUCache } from 'lru-cache'
import { KEY_ID_PATTERN } from '../api-keys.js'
import { ISSUER_ALGS, type IssuerKeys } from './issuer-keys.js'

export const AUDIENCE = 'missive-api'
/** RFC 9068 §2.1: the media type of a JWT access token, in the `typ` header */
export const ACCESS_TOKEN_TYP = 'at+jwt'

/** The claims of an access token (API.md section 2, RFC 9068 §2.2). */
export interface TokenClaims {
  iss: string
  aud: string
  sub: string
  client_id: string
  scope: string
  jti: string
  iat: number
  exp: number
  nbf?: number
  /** RFC 9449 §6.1: a DPoP-bound token names the thumbprint of its proof key */
  cnf?: { jkt: string }
}

/** A token that verified, with its scopes split once. Shared by every request that brings it: frozen. */
export interface VerifiedToken {
  readonly claims: Readonly<TokenClaims>
  readonly scopes: readonly string[]
  readonly kid: string
}

/** To whom a token is issued, and until when that credential itself is valid. */
export interface TokenSubject {
  readonly keyId: string
  /** ms; null: never expires. A token never outlives it (a key's expiry, a rotation's grace). */
  readonly validUntil: number | null
}

interface Options {
  issuer: string
  ttlSeconds: number
  now?: () => number
}

const KEY_ID = new RegExp(KEY_ID_PATTERN)
/** a SHA-256 thumbprint, base64url */
const JKT = /^[A-Za-z0-9_-]{43}$/
const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'client_id', 'scope', 'jti', 'iat', 'exp']

/**
 * Issues and verifies the RFC 9068 JWT access tokens of API.md section 2, signed with the
 * issuer keys (ES256 or EdDSA). Verification accepts only `typ: at+jwt`, an asymmetric
 * algorithm that is the one of the key the `kid` names (never `none`, never HS*: the
 * algorithm-confusion attack has no key to use), the issuer, the audience, and a live
 * exp/nbf. Revocation is not decided here: the caller checks the deny list and the key.
 *
 * Cost: a signature is verified once per token; then `verify` answers synchronously from
 * an LRU (an exp check and a map lookup). Keyed by the token itself, not a digest of it
 * (a SHA-256 of a token was ~3 µs of a request): the cache holds only tokens that
 * verified, which a holder of this process' memory could mint anyway with the private key
 * beside them. API keys are different, and their cache is keyed by a digest (src/api-keys.ts).
 */
export class AccessTokens {
  private readonly issuer: string
  private readonly ttlSeconds: number
  private readonly now: () => number
  private readonly verified = new LRUCache<string, VerifiedToken>({ max: 10_000 })
  /** signature checks under way, so a burst of requests with one new token checks it once */
  private readonly inFlight = new Map<string, Promise<VerifiedToken | null>>()

  constructor (private readonly keys: IssuerKeys, options: Options) {
    this.issuer = options.issuer
    this.ttlSeconds = options.ttlSeconds
    this.now = options.now ?? Date.now
  }

  /** `bind`: a DPoP-bound token (RFC 9449 §6), usable only with proofs signed by that key. */
  async issue (subject: TokenSubject, scopes: readonly string[], bind?: { jkt: string }): Promise<{ token: string, expiresIn: number, claims: TokenClaims }> {
    const key = await this.keys.signing()
    const now = Math.floor(this.now() / 1000)
    const keyLimit = subject.validUntil === null ? Infinity : Math.floor(subject.validUntil / 1000)
    // Nor its signing key's publication (never the limit with the real timing: a key signs
    // until its period ends and stays published JWT_TTL_SECONDS longer).
    const exp = Math.min(now + this.ttlSeconds, keyLimit, Math.floor(key.publishedUntil / 1000))
    const claims: TokenClaims = {
      iss: this.issuer,
      aud: AUDIENCE,
      sub: subject.keyId,
      client_id: subject.keyId,
      scope: scopes.join(' '),
      jti: randomBytes(16).toString('base64url'),
      iat: now,
      exp
    }
    if (bind !== undefined) claims.cnf = { jkt: bind.jkt }
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: key.alg, typ: ACCESS_TOKEN_TYP, kid: key.kid })
      .sign(key.privateKey)
    return { token, expiresIn: exp - now, claims }
  }

  /** The token when it verified before and still holds (the synchronous part of verify), else undefined. */
  cached (token: string): VerifiedToken | undefined {
    const cached = this.verified.get(token)
    return cached !== undefined && cached.claims.exp * 1000 > this.now() && this.keys.isPublished(cached.kid) ? cached : undefined
  }

  /**
   * Whether an unverified token is worth a store read before its signature is checked: its
   * header names an issuer algorithm and a published key (a forged `sub` under it only gets
   * itself refused, and the per-IP lockout bounds how often).
   */
  plausible (token: string): boolean {
    try {
      const { kid, alg } = decodeProtectedHeader(token)
      return typeof kid === 'string' && (ISSUER_ALGS as readonly unknown[]).includes(alg) && this.keys.isPublished(kid)
    } catch {
      return false
    }
  }

  /**
   * The token's claims when it verifies, else null. Synchronous for a token seen before: its
   * exp, and that its key is still published (a key removed from the store takes its
   * tokens with it), are checked again on every hit.
   */
  verify (token: string): VerifiedToken | null | Promise<VerifiedToken | null> {
    const cached = this.cached(token)
    if (cached !== undefined) return cached
    let pending = this.inFlight.get(token)
    if (pending === undefined) {
      pending = this.verifySignature(token).finally(() => { this.inFlight.delete(token) })
      this.inFlight.set(token, pending)
    }
    return pending
  }

  private async verifySignature (token: string): Promise<VerifiedToken | null> {
    let kid: unknown
    let alg: unknown
    try {
      ({ kid, alg } = decodeProtectedHeader(token))
    } catch {
      return null
    }
    if (typeof kid !== 'string' || !(ISSUER_ALGS as readonly unknown[]).includes(alg)) return null
    const key = await this.keys.verificationKey(kid)
    if (key === null || key.alg !== alg) return null
    let claims: TokenClaims
    try {
      ({ payload: claims } = await jwtVerify<TokenClaims>(token, key.publicKey, {
        algorithms: [key.alg],
        typ: ACCESS_TOKEN_TYP,
        issuer: this.issuer,
        audience: AUDIENCE,
        requiredClaims: REQUIRED_CLAIMS,
        currentDate: new Date(this.now())
      }))
    } catch {
      return null
    }
    const wellFormed = typeof claims.sub === 'string' && KEY_ID.test(claims.sub) && claims.client_id === claims.sub &&
      typeof claims.scope === 'string' && typeof claims.jti === 'string' && claims.jti !== '' &&
      typeof claims.exp === 'number' && typeof claims.iat === 'number' &&
      (claims.cnf === undefined || (typeof claims.cnf === 'object' && claims.cnf !== null && typeof claims.cnf.jkt === 'string' && JKT.test(claims.cnf.jkt)))
    // A token we issued never expires after its key leaves the JWKS: a later exp was not made here.
    if (!wellFormed || claims.exp * 1000 > key.publishedUntil) return null
    const verified: VerifiedToken = Object.freeze({ claims: Object.freeze(claims), scopes: Object.freeze(claims.scope.split(' ').filter(Boolean)), kid })
    this.verified.set(token, verified, { ttl: Math.max(1, claims.exp * 1000 - this.now()) })
    return verified
  }
}

/**
 * The `sub` a token claims, read WITHOUT verifying it: only to look up the key's allow-list
 * before any signature is checked (a forged sub can only get itself refused). null when the
 * token does not decode or names no key id.
 */
export function unverifiedSubject (token: string): string | null {
  try {
    const { sub } = decodeJwt(token)
    return typeof sub === 'string' && KEY_ID.test(sub) ? sub : null
  } catch {
    return null
  }
}
