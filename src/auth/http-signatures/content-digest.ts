import { createHash, timingSafeEqual, type Hash } from 'node:crypto'
import { isInnerList, parseDictionary, serializeDictionary } from 'structured-headers'

// RFC 9530 §5 "Active" algorithms. The "Deprecated" ones (md5, sha, unixsum, unixcksum,
// adler, crc32c) are ignored: they are not integrity against an adversary.
const SUPPORTED = { 'sha-256': { hash: 'sha256', bytes: 32 }, 'sha-512': { hash: 'sha512', bytes: 64 } } as const

/** The Content-Digest field value (RFC 9530 §2) for a body: `sha-256=:<base64>:`. */
export function contentDigestHeader (body: Uint8Array | string): string {
  return serializeDictionary(new Map([['sha-256', [createHash('sha256').update(body).digest(), new Map()]]]))
}

/**
 * Checks a body against its Content-Digest as the bytes arrive. `matches()` is true only when
 * every supported digest in the header matches: one wrong digest is a changed body.
 */
export class ContentDigestVerifier {
  private readonly hashes: Array<{ hash: Hash, expected: Buffer }>
  private result: boolean | undefined

  private constructor (expected: Array<{ algorithm: string, digest: Buffer }>) {
    this.hashes = expected.map(({ algorithm, digest }) => ({ hash: createHash(algorithm), expected: digest }))
  }

  /**
   * null when the header is not a structured-field Dictionary, carries no sha-256 / sha-512
   * member, or carries one that is not a Byte Sequence of its digest's length: nothing to check.
   */
  static parse (header: string): ContentDigestVerifier | null {
    let dictionary
    try {
      dictionary = parseDictionary(header)
    } catch {
      return null
    }
    const expected: Array<{ algorithm: string, digest: Buffer }> = []
    for (const [name, { hash, bytes }] of Object.entries(SUPPORTED)) {
      const member = dictionary.get(name)
      if (member === undefined) continue
      if (isInnerList(member) || !(member[0] instanceof ArrayBuffer) || member[0].byteLength !== bytes) return null
      expected.push({ algorithm: hash, digest: Buffer.from(member[0]) })
    }
    return expected.length === 0 ? null : new ContentDigestVerifier(expected)
  }

  update (chunk: Uint8Array): void {
    if (this.result !== undefined) throw new Error('ContentDigestVerifier: update() after matches()')
    for (const { hash } of this.hashes) hash.update(chunk)
  }

  /** Ends the body: later calls return the same answer. */
  matches (): boolean {
    this.result ??= this.hashes.every(({ hash, expected }) => timingSafeEqual(hash.digest(), expected))
    return this.result
  }
}

/** Whether `header` holds a supported digest and every such digest is the body's. */
export function digestMatches (header: string, body: Uint8Array | string): boolean {
  const verifier = ContentDigestVerifier.parse(header)
  if (verifier === null) return false
  verifier.update(typeof body === 'string' ? Buffer.from(body) : body)
  return verifier.matches()
}
