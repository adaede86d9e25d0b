import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import { LRUCache } from 'lru-cache'

/** A public key a service signs its requests with (RFC 8037 OKP, RFC 7518 EC): only its required members. */
export type PublicSigningJwk =
  | { kty: 'OKP', crv: 'Ed25519', x: string }
  | { kty: 'EC', crv: 'P-256', x: string, y: string }

export type PrivateSigningJwk =
  | { kty: 'OKP', crv: 'Ed25519', x: string, d: string }
  | { kty: 'EC', crv: 'P-256', x: string, y: string, d: string }

/** RFC 9421 §6.2 algorithm names. */
export type SignatureAlgorithm = 'ed25519' | 'ecdsa-p256-sha256'

/** A client-supplied JWK that cannot be used; the message is for a 400 and never holds key material. */
export class InvalidJwk extends Error {
  readonly statusCode = 400
  constructor (message: string) {
    super(message)
    this.name = 'InvalidJwk'
  }
}

// RFC 7517/7518 members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

/**
 * Validates a client-supplied public JWK: Ed25519 (OKP) or P-256 (EC), canonical base64url
 * coordinates, a point on the curve, and `alg`/`use`/`key_ops` (when present) that allow
 * verifying. Returns only the required members, so nothing else is ever stored.
 */
export function publicSigningJwk (input: unknown): PublicSigningJwk {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InvalidJwk('the key must be a JWK object')
  const jwk = input as Record<string, unknown>
  if (PRIVATE_MEMBERS.some((member) => jwk[member] !== undefined)) {
    throw new InvalidJwk('a private key was sent: send only its public part (no "d")')
  }
  let key: PublicSigningJwk
  if (jwk.kty === 'OKP') {
    if (jwk.crv !== 'Ed25519') throw new InvalidJwk('an OKP key must have crv "Ed25519"')
    key = { kty: 'OKP', crv: 'Ed25519', x: coordinate(jwk.x, 'x') }
    if (jwk.alg !== undefined && jwk.alg !== 'EdDSA' && jwk.alg !== 'Ed25519') throw new InvalidJwk('alg must be "EdDSA" (or "Ed25519") for an Ed25519 key')
  } else if (jwk.kty === 'EC') {
    if (jwk.crv !== 'P-256') throw new InvalidJwk('an EC key must have crv "P-256"')
    key = { kty: 'EC', crv: 'P-256', x: coordinate(jwk.x, 'x'), y: coordinate(jwk.y, 'y') }
    if (jwk.alg !== undefined && jwk.alg !== 'ES256') throw new InvalidJwk('alg must be "ES256" for a P-256 key')
  } else {
    throw new InvalidJwk('kty must be "OKP" (Ed25519) or "EC" (P-256)')
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new InvalidJwk('use must be "sig"')
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.every((op) => typeof op === 'string') && jwk.key_ops.includes('verify'))) {
    throw new InvalidJwk('key_ops must be an array that includes "verify"')
  }
  // Node imports any coordinates without checking them: check the point ourselves.
  if (!(key.kty === 'OKP' ? isEd25519Point(key.x) : isP256Point(key.x, key.y))) throw new InvalidJwk('the key is not a point on its curve')
  try {
    createPublicKey({ key, format: 'jwk' })
  } catch {
    throw new InvalidJwk('the key cannot be imported')
  }
  return key
}

/** 32 bytes, base64url without padding, canonical: one key has one thumbprint. */
function coordinate (value: unknown, name: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(value) || Buffer.from(value, 'base64url').toString('base64url') !== value) {
    throw new InvalidJwk(`${name} must be 32 bytes in base64url (43 characters, no padding)`)
  }
  return value
}

/** An RSA public JWK: only so that RFC 7638's own example can be checked. */
export interface RsaPublicJwk { kty: 'RSA', n: string, e: string }

/** RFC 7638 SHA-256 thumbprint, base64url: a hash of the required members in lexicographic order, no whitespace. */
export function jwkThumbprint (jwk: PublicSigningJwk | RsaPublicJwk): string {
  // JSON.stringify keeps insertion order: the members are written in RFC 7638 §3.2's order.
  let canonical: Record<string, string>
  switch (jwk.kty) {
    case 'RSA': canonical = { e: jwk.e, kty: jwk.kty, n: jwk.n }; break
    case 'EC': canonical = { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }; break
    case 'OKP': canonical = { crv: jwk.crv, kty: jwk.kty, x: jwk.x }; break
  }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url')
}

export function signatureAlgorithm (jwk: PublicSigningJwk): SignatureAlgorithm {
  return jwk.kty === 'OKP' ? 'ed25519' : 'ecdsa-p256-sha256'
}

// Importing costs more than hashing: verifiers see the same few keys again and again.
const keyObjects = new LRUCache<string, KeyObject>({ max: 1000 })

/** the same JWK object (a cached client key) skips even the thumbprint */
const byObject = new WeakMap<PublicSigningJwk, KeyObject>()

/** The key as Node's crypto takes it, cached by thumbprint. Throws when the key cannot be imported. */
export function publicKeyObject (jwk: PublicSigningJwk): KeyObject {
  const known = byObject.get(jwk)
  if (known !== undefined) return known
  const thumbprint = jwkThumbprint(jwk)
  let key = keyObjects.get(thumbprint)
  if (key === undefined) {
    key = createPublicKey({ key: { ...jwk }, format: 'jwk' })
    keyObjects.set(thumbprint, key)
  }
  byObject.set(jwk, key)
  return key
}

function modPow (base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n
  base %= modulus
  while (exponent > 0n) {
    if ((exponent & 1n) === 1n) result = (result * base) % modulus
    base = (base * base) % modulus
    exponent >>= 1n
  }
  return result
}

const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m
const bigEndian = (b64: string): bigint => BigInt('0x' + Buffer.from(b64, 'base64url').toString('hex'))

// FIPS 186-4 D.1.2.3 (P-256): y² = x³ - 3x + b over p
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn

function isP256Point (x64: string, y64: string): boolean {
  const x = bigEndian(x64)
  const y = bigEndian(y64)
  if (x >= P256_P || y >= P256_P) return false
  return mod(y * y - (x * x * x - 3n * x + P256_B), P256_P) === 0n
}

// RFC 8032 §5.1.3: decoding a point of edwards25519
const ED_P = 2n ** 255n - 19n
const ED_D = mod(-121665n * modPow(121666n, ED_P - 2n, ED_P), ED_P)

function isEd25519Point (x64: string): boolean {
  const bytes = Buffer.from(x64, 'base64url')
  const last = bytes[31]!
  const sign = last >> 7
  bytes[31] = last & 0x7f
  const y = BigInt('0x' + Buffer.from(bytes).reverse().toString('hex'))
  if (y >= ED_P) return false
  const u = mod(y * y - 1n, ED_P)
  const v = mod(ED_D * y * y + 1n, ED_P)
  let x = mod(u * modPow(v, 3n, ED_P) * modPow(u * modPow(v, 7n, ED_P), (ED_P - 5n) / 8n, ED_P), ED_P)
  const vx2 = mod(v * x * x, ED_P)
  if (vx2 !== u) {
    if (vx2 !== mod(-u, ED_P)) return false
    x = mod(x * modPow(2n, (ED_P - 1n) / 4n, ED_P), ED_P)
  }
  return !(x === 0n && sign === 1)
}
