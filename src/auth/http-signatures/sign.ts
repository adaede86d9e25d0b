import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { serializeDictionary, type InnerList, type Parameters } from 'structured-headers'
import { jwkThumbprint, type PrivateSigningJwk, type PublicSigningJwk } from '../jwk.js'
import { contentDigestHeader } from './content-digest.js'
import { signatureBase, type HttpMessage } from './signature-base.js'

export interface SigningKey {
  jwk: PrivateSigningJwk
  /** default: the RFC 7638 thumbprint of the public part (what the server names registered keys by) */
  keyid?: string
}

export interface SignOptions {
  /** seconds since the epoch; default now */
  created?: number
  /** default 16 random bytes, base64url */
  nonce?: string
  /** default 'sig1' */
  label?: string
  /** default ['@method', '@target-uri'], and 'content-digest' when there is a body */
  components?: string[]
  expires?: number
}

export function publicPart (jwk: PrivateSigningJwk): PublicSigningJwk {
  return jwk.kty === 'OKP' ? { kty: 'OKP', crv: 'Ed25519', x: jwk.x } : { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }
}

// A client signs every request with the same key: import it once.
const privateKeys = new WeakMap<PrivateSigningJwk, KeyObject>()

function privateKeyObject (jwk: PrivateSigningJwk): KeyObject {
  let key = privateKeys.get(jwk)
  if (key === undefined) {
    key = createPrivateKey({ key: { ...jwk }, format: 'jwk' })
    privateKeys.set(jwk, key)
  }
  return key
}

/** RFC 9421 §3.3.4 / §3.3.6 over a signature base: 64 bytes (ECDSA as r||s, not DER). */
export function signBase (base: string, jwk: PrivateSigningJwk): Buffer {
  const data = Buffer.from(base, 'ascii')
  const key = privateKeyObject(jwk)
  return jwk.kty === 'OKP' ? sign(null, data, key) : sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' })
}

// fetch uppercases these methods only (Fetch standard, "normalize a method"): sign what it sends.
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'])

/**
 * Signs a request (RFC 9421) as the server checks it: returns the headers to add, namely
 * `content-digest` (when there is a body; it replaces one in `request.headers`), `signature-input`
 * and `signature`. Components other than the derived ones are read from `request.headers`.
 */
export function signRequest (
  request: { method: string, url: string, headers?: Record<string, string>, body?: string | Uint8Array },
  key: SigningKey,
  options: SignOptions = {}
): Record<string, string> {
  const hasBody = request.body !== undefined
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value
  const added: Record<string, string> = {}
  if (request.body !== undefined) added['content-digest'] = headers['content-digest'] = contentDigestHeader(request.body)

  const url = new URL(request.url)
  url.hash = '' // never sent
  const upper = request.method.toUpperCase()
  const message: HttpMessage = { method: NORMALIZED_METHODS.has(upper) ? upper : request.method, targetUri: url.href, headers }

  const params: Parameters = new Map()
  params.set('created', options.created ?? Math.floor(Date.now() / 1000))
  if (options.expires !== undefined) params.set('expires', options.expires)
  params.set('keyid', key.keyid ?? jwkThumbprint(publicPart(key.jwk)))
  params.set('nonce', options.nonce ?? randomBytes(16).toString('base64url'))
  const components = options.components ?? ['@method', '@target-uri', ...(hasBody ? ['content-digest'] : [])]
  const covered: InnerList = [components.map((name) => [name, new Map()]), params]

  const signature = signBase(signatureBase(message, covered), key.jwk)
  const label = options.label ?? 'sig1'
  added['signature-input'] = serializeDictionary(new Map([[label, covered]]))
  added.signature = serializeDictionary(new Map([[label, [signature, new Map()]]]))
  return added
}

/** A new key pair for signing requests; `keyid` is the thumbprint the server will name it by. */
export function generateSigningKey (kind: 'ed25519' | 'p-256' = 'ed25519'): { privateJwk: PrivateSigningJwk, publicJwk: PublicSigningJwk, keyid: string } {
  const { privateKey } = kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = privateKey.export({ format: 'jwk' })
  const privateJwk: PrivateSigningJwk = kind === 'ed25519'
    ? { kty: 'OKP', crv: 'Ed25519', x: jwk.x!, d: jwk.d! }
    : { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y!, d: jwk.d! }
  const publicJwk = publicPart(privateJwk)
  return { privateJwk, publicJwk, keyid: jwkThumbprint(publicJwk) }
}
