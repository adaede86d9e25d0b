import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

// Ids and tokens come only from the CSPRNG: never sequential, never from time or content.

/** 16 random bytes (128 bits) as 22 chars of base64url. */
export function newMessageId (): string {
  return randomBytes(16).toString('base64url')
}

const MESSAGE_ID = /^[A-Za-z0-9_-]{22}$/
export function isMessageId (value: string): boolean {
  return MESSAGE_ID.test(value)
}

/** 32 random bytes as 43 chars of base64url: shown once to the creator. */
export function newDeleteToken (): string {
  return randomBytes(32).toString('base64url')
}

/**
 * A delete token carries 256 random bits, so a fast hash is enough to store it safely:
 * there is nothing to brute-force. (API key secrets get argon2id as defence in depth.)
 */
export function hashToken (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/** Constant-time comparison of two token hashes of equal length. */
export function sameHash (a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}
