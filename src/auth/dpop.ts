import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto'
import { LRUCache } from 'lru-cache'

/**
 * The proof algorithms accepted (and advertised as `dpop_signing_alg_values_supported`):
 * asymmetric only (RFC 9449 §4.2, §11.6). EdDSA only with crv Ed25519, also under its RFC 9864
 * name `Ed25519` (what openid-client and oauth4webapi send for an Ed25519 key).
 */
export const DPOP_ALGS = ['ES256', 'EdDSA', 'Ed25519'] as const
export type DpopAlg = typeof DPOP_ALGS[number]

/** RFC 9449 §4.2: the explicit type of a proof, so no other JWT can pass for one (§11.5). */
const DPOP_TYP = 'dpop+jwt'
/** A header carries one small proof: anything bigger is not worth a parse. */
const MAX_PROOF_CHARS = 8 * 1024
const MAX_JTI_CHARS = 256
/** JWK members that only a private (or symmetric) key has; RFC 9449 §4.2: "MUST NOT contain a private key". */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
/** 32 bytes (a P-256 coordinate, an Ed25519 key), unpadded base64url */
const B64URL_32_BYTES = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/** Why a proof was refused, for the logs; the HTTP layer answers `invalid_dpop_proof` whatever it is. */
export class DpopProofError extends Error {
  constructor (readonly reason: string) {
    super(`invalid DPoP proof: ${reason}`)
    this.name = 'DpopProofError'
  }
}

export interface DpopExpectation {
  /** the request's method, compared exactly with `htm` */
  method: string
  /** the server's own URL for this request (query allowed: it is ignored) */
  htu: string
  /** for a resource request: `ath` is then required and must be this token's hash */
  accessToken?: string
  nowMs: number
  /** how old a proof may be, and how far ahead of the clock */
  maxAgeSeconds: number
}

export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's `jwk`, base64url: what `cnf.jkt` binds */
  jkt: string
  jti: string
  iat: number
}

/** RFC 9449 §4.2 `ath`: base64url(SHA-256(ASCII token)). */
export function accessTokenHash (token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url')
}

const UNRESERVED = /[A-Za-z0-9\-._~]/
/** RFC 3986 characters (unreserved, reserved, '%'): anything else is not a URI, but maybe an IRI or a typo. */
const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/
const PCT_TRIPLET = /%([0-9A-Fa-f]{2})/g

/**
 * The `htu` comparison form (RFC 9449 §4.3 asks for RFC 3986 §6.2.2 syntax-based and §6.2.3
 * scheme-based normalization): an absolute http(s) URI without query and fragment, scheme
 * and host lowercased, default port removed, empty path as '/', dot segments removed,
 * percent-encodings with uppercase hex and unreserved characters decoded.
 * Null when `uri` is not an absolute http(s) URI (no authority, userinfo, characters
 * outside RFC 3986, a broken percent-encoding).
 */
export function normalizeHtu (uri: string): string | null {
  if (typeof uri !== 'string' || uri.length > MAX_PROOF_CHARS) return null
  // Query and fragment are ignored (§4.3 item 9), whatever they contain.
  const end = uri.search(/[?#]/)
  const base = end === -1 ? uri : uri.slice(0, end)
  // WHATWG URL forgives what RFC 3986 refuses ("https:host", "https:///host", '\', spaces):
  // those are refused here, first.
  if (!/^https?:\/\/[^/]/i.test(base) || !URI_CHARS.test(base)) return null
  if (/%(?![0-9A-Fa-f]{2})/.test(base)) return null
  let url: URL
  try {
    url = new URL(base)
  } catch {
    return null
  }
  // RFC 9110 §4.2.4: http(s) URIs carry no userinfo.
  if (url.username !== '' || url.password !== '') return null
  // URL has lowercased scheme and host, dropped a default or empty port, made an empty path
  // '/' and removed dot segments (%2e included); left to do: the percent-encodings of the path.
  const path = url.pathname.replace(PCT_TRIPLET, (_, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16))
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`
  })
  return `${url.protocol}//${url.host}${path}`
}

/** imported proof keys by thumbprint: a client signs many proofs with one key */
const importedKeys = new LRUCache<string, KeyObject>({ max: 1000 })

type PublicJwk = { kty: 'EC', crv: 'P-256', x: string, y: string } | { kty: 'OKP', crv: 'Ed25519', x: string }

/**
 * Checks a `DPoP` header value as RFC 9449 §4.3 says, except what needs storage (the `jti`
 * replay check, nonces) and the token binding (`cnf.jkt` against the returned `jkt`): those
 * are the caller's. Every cheap check comes before the one signature verification, so a
 * junk or misdirected proof costs no crypto. Throws DpopProofError.
 */
export async function verifyDpopProof (proof: string, expect: DpopExpectation): Promise<VerifiedDpopProof> {
  if (typeof proof !== 'string' || proof.length > MAX_PROOF_CHARS) throw new DpopProofError('not a JWT or too long')
  // One compact JWS: a JWE, a JSON serialization or several comma-joined headers fail here.
  if (!COMPACT_JWS.test(proof)) throw new DpopProofError('not a compact JWS')
  const [headerPart, payloadPart] = proof.split('.') as [string, string, string]
  const header = decodeJson(headerPart, 'header')
  const payload = decodeJson(payloadPart, 'payload')

  if (header.typ !== DPOP_TYP) throw new DpopProofError('typ is not dpop+jwt')
  const alg = header.alg
  // Before any crypto: `none`, HS* and RS* never reach a verifier.
  if (!DPOP_ALGS.includes(alg as DpopAlg)) throw new DpopProofError(`alg ${String(alg)} not accepted`)
  // No extension is understood here (b64: false would change what is signed).
  if (header.crit !== undefined || header.b64 !== undefined) throw new DpopProofError('crit or b64 header')
  const jwk = publicJwk(header.jwk, alg as DpopAlg)

  const { jti, htm, htu, iat, ath } = payload
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_CHARS) throw new DpopProofError('jti missing or not 1..256 chars')
  if (typeof htm !== 'string') throw new DpopProofError('htm missing')
  if (htm !== expect.method) throw new DpopProofError('htm does not match the method')
  if (typeof htu !== 'string') throw new DpopProofError('htu missing')
  const expectedHtu = normalizeHtu(expect.htu)
  if (expectedHtu === null) throw new DpopProofError('the request URL is not an absolute http(s) URI')
  if (normalizeHtu(htu) !== expectedHtu) throw new DpopProofError('htu does not match the request URL')
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new DpopProofError('iat missing or not a number')
  const age = expect.nowMs / 1000 - iat
  if (age > expect.maxAgeSeconds) throw new DpopProofError('iat too old')
  if (age < -expect.maxAgeSeconds) throw new DpopProofError('iat in the future')
  // A token request needs no ath; one there anyway is harmless and ignored.
  if (expect.accessToken !== undefined) {
    if (typeof ath !== 'string') throw new DpopProofError('ath missing')
    if (ath !== accessTokenHash(expect.accessToken)) throw new DpopProofError('ath does not match the access token')
  }

  const jkt = thumbprint(jwk)
  let key = importedKeys.get(jkt)
  if (key === undefined) {
    try {
      // Imported from the thumbprint's members alone, so one thumbprint is one key.
      key = createPublicKey({ key: { ...jwk }, format: 'jwk' })
    } catch {
      throw new DpopProofError('jwk is not a valid public key')
    }
    importedKeys.set(jkt, key)
  }
  // The JWS signature (RFC 7515 §5.2) over the ASCII of the first two parts, with Node's
  // crypto and a KeyObject: the header and claims are already checked above, and this costs
  // a fraction of a WebCrypto verification (one per request on every DPoP-bound call).
  // ES256 signatures are r||s (RFC 7518 §3.4); EdDSA/Ed25519 plain (RFC 8037 §3.1).
  const signature = Buffer.from(proof.slice(headerPart.length + payloadPart.length + 2), 'base64url')
  const signingInput = Buffer.from(proof.slice(0, headerPart.length + payloadPart.length + 1), 'ascii')
  const valid = alg === 'ES256'
    ? signature.length === 64 && verify('sha256', signingInput, { key, dsaEncoding: 'ieee-p1363' }, signature)
    : signature.length === 64 && verify(null, signingInput, key, signature)
  if (!valid) throw new DpopProofError('signature does not verify with the jwk')
  return { jkt, jti, iat }
}

function decodeJson (part: string, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    throw new DpopProofError(`${what} is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DpopProofError(`${what} is not a JSON object`)
  return value as Record<string, unknown>
}

/** The header's `jwk` reduced to its RFC 7638 members, once it is a public key of the alg's type. */
function publicJwk (value: unknown, alg: DpopAlg): PublicJwk {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DpopProofError('jwk missing')
  const jwk = value as Record<string, unknown>
  if (PRIVATE_MEMBERS.some((member) => Object.hasOwn(jwk, member))) throw new DpopProofError('jwk holds a private key')
  // base64url of 32 bytes with no stray bits, so one key has one thumbprint
  const coordinate = (name: string): string => {
    const v = jwk[name]
    if (typeof v !== 'string' || !B64URL_32_BYTES.test(v)) throw new DpopProofError(`jwk ${name} is not 32 bytes of base64url`)
    return v
  }
  if (alg === 'ES256') {
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new DpopProofError('ES256 needs an EC P-256 jwk')
    return { kty: 'EC', crv: 'P-256', x: coordinate('x'), y: coordinate('y') }
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') throw new DpopProofError(`${alg} needs an OKP Ed25519 jwk`)
  return { kty: 'OKP', crv: 'Ed25519', x: coordinate('x') }
}

/** RFC 7638: SHA-256 of the required members, in lexicographic order, without whitespace. */
function thumbprint (jwk: PublicJwk): string {
  // The values are base64url (checked): nothing for JSON to escape.
  const json = jwk.kty === 'EC'
    ? `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`
    : `{"crv":"${jwk.crv}","kty":"OKP","x":"${jwk.x}"}`
  return createHash('sha256').update(json).digest('base64url')
}
