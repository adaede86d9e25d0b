import { verify } from 'node:crypto'
import { isInnerList, parseDictionary, serializeDictionary, type BareItem, type Dictionary, type InnerList } from 'structured-headers'
import { publicKeyObject, signatureAlgorithm, type PublicSigningJwk } from '../jwk.js'
import { SignatureError, signatureBase, type HttpMessage } from './signature-base.js'

export { SignatureError, type HttpMessage } from './signature-base.js'

/** The signature parameters of RFC 9421 §2.3 this code reads. */
export interface SignatureParams {
  created?: number
  expires?: number
  nonce?: string
  keyid?: string
  alg?: string
  tag?: string
}

export interface ParsedSignature {
  label: string
  covered: InnerList
  /** the covered component names, such as '@method' or 'content-digest' (without their parameters) */
  components: string[]
  params: SignatureParams
  signature: Buffer
  /** RFC 9421 §2.5 signature base of the message for this signature */
  base: string
}

/** what one signature may cover: far more than any request needs, few enough to bound the work */
export const MAX_COMPONENTS = 32

/** The components every signed request covers (API.md section 7); content-digest too when it has a body. */
const REQUIRED_COMPONENTS = ['@method', '@target-uri'] as const
const MAX_NONCE_LENGTH = 128

function dictionaryField (message: HttpMessage, name: string): Dictionary {
  const raw = message.headers[name]
  if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) throw new SignatureError(`${name} is missing`)
  try {
    // Repeated fields form one Dictionary (RFC 9651 §4.2).
    return parseDictionary(Array.isArray(raw) ? raw.join(', ') : raw)
  } catch {
    throw new SignatureError(`${name} is not a valid Dictionary`)
  }
}

const INTEGER_PARAMS = ['created', 'expires'] as const
const STRING_PARAMS = ['nonce', 'keyid', 'alg', 'tag'] as const

/** Signature-Input and Signature for `label`, type-checked; the base is left to the caller. */
function parseSignature (message: HttpMessage, label: string): Omit<ParsedSignature, 'base'> {
  const input = dictionaryField(message, 'signature-input').get(label)
  const value = dictionaryField(message, 'signature').get(label)
  if (input === undefined) throw new SignatureError(`signature-input has no ${label}`)
  if (value === undefined) throw new SignatureError(`signature has no ${label}`)
  if (!isInnerList(input)) throw new SignatureError(`signature-input ${label} is not an Inner List`)
  if (isInnerList(value) || !(value[0] instanceof ArrayBuffer)) throw new SignatureError(`signature ${label} is not a Byte Sequence`)

  const components: string[] = []
  for (const [name] of input[0]) {
    if (typeof name !== 'string') throw new SignatureError('a covered component is not a String')
    components.push(name)
  }
  const params: SignatureParams = {}
  const raw = input[1]
  for (const name of INTEGER_PARAMS) {
    const item: BareItem | undefined = raw.get(name)
    if (item === undefined) continue
    // A Decimal such as 1.0 parses to an integral number too: it fails at the signature, as re-serialized.
    if (typeof item !== 'number' || !Number.isInteger(item) || item < 0) throw new SignatureError(`${name} is not a non-negative Integer`)
    params[name] = item
  }
  for (const name of STRING_PARAMS) {
    const item = raw.get(name)
    if (item === undefined) continue
    if (typeof item !== 'string') throw new SignatureError(`${name} is not a String`)
    params[name] = item
  }
  return { label, covered: input, components, params, signature: Buffer.from(value[0]) }
}

/**
 * The signature `label` of a message, parsed (RFC 9421 §3.2 steps 1–3) and its signature base
 * built (step 7). Throws SignatureError. Checks no policy and no key.
 */
export function readSignature (message: HttpMessage, label: string): ParsedSignature {
  const parsed = parseSignature(message, label)
  return { ...parsed, base: signatureBase(message, parsed.covered) }
}

/**
 * RFC 9421 §3.3.4 / §3.3.6: whether `signature` over `base` verifies with `jwk`. The algorithm
 * comes from the key; an `alg` parameter that names another one fails (§3.2 step 6.4).
 */
export function verifyWithJwk (base: string, signature: Buffer, jwk: PublicSigningJwk, alg?: string): boolean {
  const algorithm = signatureAlgorithm(jwk)
  if (alg !== undefined && alg !== algorithm) return false
  // Both algorithms give 64 bytes: r||s (not DER) for ECDSA, R||S for Ed25519.
  if (signature.length !== 64) return false
  try {
    const data = Buffer.from(base, 'ascii')
    const key = publicKeyObject(jwk)
    return algorithm === 'ed25519'
      ? verify(null, data, key, signature)
      : verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
  } catch {
    return false
  }
}

export interface VerifyOptions {
  /** the label of the signature to check ('sig1') */
  label: string
  /** the registered public key `keyid` names, or null; a throw (a store outage) propagates as is */
  keyFor: (keyid: string) => PublicSigningJwk | null | Promise<PublicSigningJwk | null>
  nowMs: number
  /** how far `created` may be from now, both ways (clock skew) */
  maxAgeSeconds: number
  /** whether the request carries content, which `content-digest` must then cover */
  hasBody: boolean
}

export interface VerifiedSignature {
  keyid: string
  nonce: string
  created: number
  expires: number | null
}

/**
 * The server's policy for a signed request (API.md section 7): the `label` signature covers
 * @method, @target-uri and (with a body) content-digest, names its key, carries a nonce and a
 * recent `created`, has not expired, and verifies with the key `keyFor` returns. Throws
 * SignatureError otherwise.
 *
 * Left to the caller: refusing a nonce seen before (the replay store), and checking the body
 * against its Content-Digest (as it streams in).
 */
export async function verifyRequestSignature (message: HttpMessage, options: VerifyOptions): Promise<VerifiedSignature> {
  if (message.method === undefined || message.targetUri === undefined) throw new SignatureError('not a request')
  const { covered, params, signature } = parseSignature(message, options.label)
  // Each component is work for the base; a real request covers a handful.
  if (covered[0].length > MAX_COMPONENTS) throw new SignatureError(`more than ${MAX_COMPONENTS} covered components`)

  // Required components count only bare (no parameter changes their value).
  const bare = new Set(covered[0].filter(([, p]) => p.size === 0).map(([name]) => name))
  for (const name of [...REQUIRED_COMPONENTS, ...(options.hasBody ? ['content-digest'] : [])]) {
    if (!bare.has(name)) throw new SignatureError(`${name} is not covered`)
  }

  const { created, expires, keyid, nonce } = params
  if (created === undefined) throw new SignatureError('created is missing')
  if (keyid === undefined || keyid === '') throw new SignatureError('keyid is missing')
  if (nonce === undefined || nonce === '') throw new SignatureError('nonce is missing')
  if (nonce.length > MAX_NONCE_LENGTH || !/^[\x21-\x7e]+$/.test(nonce)) throw new SignatureError('nonce is not up to 128 visible ASCII characters')

  const now = Math.floor(options.nowMs / 1000)
  if (now - created > options.maxAgeSeconds) throw new SignatureError('created is too old')
  if (created - now > options.maxAgeSeconds) throw new SignatureError('created is in the future')
  if (expires !== undefined && (expires < created || now > expires)) throw new SignatureError('expired')

  const base = signatureBase(message, covered)
  const key = await options.keyFor(keyid)
  if (key === null) throw new SignatureError('unknown keyid')
  if (params.alg !== undefined && params.alg !== signatureAlgorithm(key)) throw new SignatureError('alg does not match the key')
  if (!verifyWithJwk(base, signature, key, params.alg)) throw new SignatureError('the signature does not verify')
  return { keyid, nonce, created, expires: expires ?? null }
}

/**
 * RFC 9421 §5.1 Accept-Signature for a refused request: the components and parameters a
 * signature must have, e.g. `sig1=("@method" "@target-uri" "content-digest");created;keyid;nonce`.
 */
export function acceptSignatureHeader (hasBody: boolean, label = 'sig1'): string {
  const components = [...REQUIRED_COMPONENTS, ...(hasBody ? ['content-digest'] : [])]
  const wanted: InnerList = [components.map((name) => [name, new Map()]), new Map([['created', true], ['keyid', true], ['nonce', true]])]
  return serializeDictionary(new Map([[label, wanted]]))
}
