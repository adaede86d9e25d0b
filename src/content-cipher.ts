import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

// Content at rest under ENCRYPTION_KEY: AES-256-GCM, a fresh 96-bit IV per message, and
// the message id as associated data so a ciphertext cannot be moved to another id.
// Stored form: "v1:" + base64(iv | tag | ciphertext).
const PREFIX = 'v1:'
const IV_BYTES = 12
const TAG_BYTES = 16

export interface ContentCipher {
  seal (id: string, content: string): string
  open (id: string, stored: string): string
}

export const plainContent: ContentCipher = {
  seal: (_id, content) => content,
  open: (_id, stored) => stored
}

export function aesGcmContent (key: Buffer): ContentCipher {
  return {
    seal (id, content) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      cipher.setAAD(Buffer.from(id))
      const body = Buffer.concat([cipher.update(content, 'utf8'), cipher.final()])
      return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')
    },
    open (id, stored) {
      if (!stored.startsWith(PREFIX)) throw new Error('stored content is not encrypted with ENCRYPTION_KEY')
      const raw = Buffer.from(stored.slice(PREFIX.length), 'base64')
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES))
      decipher.setAAD(Buffer.from(id))
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
    }
  }
}
