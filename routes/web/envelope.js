// The one encryption format of Missive (README: "The envelope format"), used by the web page
// (served as /assets/envelope.js), the `missive` CLI and the tests. Plain JavaScript on
// WebCrypto, so browsers and Node (20+) run the same code.
//
// A link is `<origin>/msg/<id>#<secret>`: the secret (32 random bytes, base64url) never
// reaches the server. From it, with HKDF-SHA256 and labels of their own:
//   - the read token sent as X-Read-Token (the server stores its SHA-256; knowing the token
//     tells nothing about the secret, so a server log of it cannot decrypt anything);
//   - the content key (AES-256-GCM), mixed with a PBKDF2-SHA256 derivation of the passphrase
//     when there is one.
// The content sent with `encrypted: true` is `v1.` + base64url(envelope). What the page made
// before this format (base64url(iv || ciphertext), the raw AES key as the fragment) still opens.

export const ENVELOPE_PREFIX = 'v1.'
export const ENVELOPE_VERSION = 1
/** OWASP Password Storage Cheat Sheet (2023 onwards): PBKDF2-HMAC-SHA256, 600 000 iterations */
export const PBKDF2_ITERATIONS = 600_000
/** a decrypting side refuses more, 5× the default (a crafted envelope could otherwise make it spin for minutes) */
export const MAX_PBKDF2_ITERATIONS = 3_000_000
export const SECRET_BYTES = 32
export const MAX_FILE_NAME_BYTES = 255
export const MAX_FILE_TYPE_CHARS = 127

const FLAG_PASSPHRASE = 1
const SALT_BYTES = 16
const IV_BYTES = 12
const TAG_BYTES = 16
const LABEL_READ_TOKEN = 'missive v1 read token'
const LABEL_CONTENT_KEY = 'missive v1 content key'
const LABEL_PASSPHRASE_KEY = 'missive v1 content key with passphrase'
const MIME_TYPE = /^[a-z0-9!#$&^_.+-]{1,63}\/[a-z0-9!#$&^_.+-]{1,63}$/i

const encoder = new TextEncoder()

/** Why an envelope did not open; `code` is for programs, `message` for people. */
export class EnvelopeError extends Error {
  /**
   * @param {'PASSPHRASE_REQUIRED'|'WRONG_PASSPHRASE'|'WRONG_KEY'|'MALFORMED'|'UNSUPPORTED_VERSION'|'TOO_LARGE'|'INVALID_INPUT'} code
   * @param {string} message
   */
  constructor (code, message) {
    super(message)
    this.name = 'EnvelopeError'
    this.code = code
  }
}

/** @param {Uint8Array} bytes */
export function toBase64Url (bytes) {
  let binary = ''
  // (in slices: String.fromCharCode takes its arguments on the stack)
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** @param {string} text base64url, no padding; throws on anything else */
export function fromBase64Url (text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new EnvelopeError('MALFORMED', 'not base64url')
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

/** A new link secret: 32 random bytes, base64url (43 characters). */
export function newLinkSecret () {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)))
}

/** @param {string} secret */
function secretBytes (secret) {
  const bytes = typeof secret === 'string' && /^[A-Za-z0-9_-]{43}$/.test(secret) ? fromBase64Url(secret) : null
  if (bytes === null || bytes.length !== SECRET_BYTES) throw new EnvelopeError('WRONG_KEY', 'the key in the link is incomplete')
  return bytes
}

/**
 * HKDF-SHA256 (RFC 5869) of `ikm`, 32 bytes.
 * @param {Uint8Array} ikm @param {Uint8Array} salt @param {string} info
 */
async function hkdf (ikm, salt, info) {
  const base = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits'])
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info: encoder.encode(info) }, base, 256))
}

/** The read token of a link secret: what the page and the CLI send as X-Read-Token. @param {string} secret */
export async function readTokenFor (secret) {
  return toBase64Url(await hkdf(secretBytes(secret), new Uint8Array(0), LABEL_READ_TOKEN))
}

/**
 * @param {Uint8Array} secret @param {string|undefined} passphrase
 * @param {Uint8Array} salt @param {number} iterations
 */
async function contentKey (secret, passphrase, salt, iterations) {
  let raw
  if (passphrase === undefined) {
    raw = await hkdf(secret, new Uint8Array(0), LABEL_CONTENT_KEY)
  } else {
    const password = await crypto.subtle.importKey('raw', encoder.encode(passphrase.normalize('NFC')), 'PBKDF2', false, ['deriveBits'])
    const stretched = new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, password, 256))
    const ikm = new Uint8Array(SECRET_BYTES + stretched.length)
    ikm.set(secret)
    ikm.set(stretched, SECRET_BYTES)
    raw = await hkdf(ikm, salt, LABEL_PASSPHRASE_KEY)
  }
  return await crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
}

/**
 * A file name as it travels and as it is offered for download: no directories, no control
 * characters (\p{Cc}: C0, DEL, C1) and no format characters (\p{Cf}: bidi overrides such as
 * U+202E, which make `invoice\u202Egpj.exe` look like `invoiceexe.jpg`, zero-width
 * characters), at most 255 bytes of UTF-8.
 * @param {string} name
 */
export function safeFileName (name) {
  let clean = String(name).split(/[/\\]/).pop().replace(/[\p{Cc}\p{Cf}]/gu, '').trim()
  if (clean === '' || clean === '.' || clean === '..') clean = 'file'
  return fitUtf8(clean, MAX_FILE_NAME_BYTES)
}

/**
 * The longest start of `text` within `maxBytes` of UTF-8, never cut inside a character. In one
 * pass: dropping a character at a time and re-encoding is quadratic, and a name comes from the
 * sender, so a crafted one would hang the reader.
 * @param {string} text @param {number} maxBytes
 */
export function fitUtf8 (text, maxBytes) {
  if (encoder.encode(text).length <= maxBytes) return text
  let cut = ''
  let bytes = 0
  for (const ch of text) {
    const size = encoder.encode(ch).length
    if (bytes + size > maxBytes) break
    cut += ch
    bytes += size
  }
  return cut
}

/** @param {string} type */
export function safeFileType (type) {
  const clean = String(type ?? '').trim().toLowerCase()
  return clean.length <= MAX_FILE_TYPE_CHARS && MIME_TYPE.test(clean) ? clean : 'application/octet-stream'
}

/**
 * What counts against MESSAGE_MAX_BYTES: the text's UTF-8 bytes plus the file's bytes (the
 * envelope's own bytes, and base64url, are what the server's larger encrypted limit allows for).
 * @param {{ text?: string|null, file?: { bytes: Uint8Array }|null }} payload
 */
export function plaintextBytes (payload) {
  return (payload.text == null ? 0 : encoder.encode(payload.text).length) + (payload.file == null ? 0 : payload.file.bytes.length)
}

/**
 * Encrypts a text, a file, or both, for the link secret (and a passphrase, when given).
 * Returns the `content` to send with `encrypted: true`.
 * @param {{ text?: string|null, file?: { name: string, type?: string, bytes: Uint8Array }|null }} payload
 * @param {string} secret
 * @param {string} [passphrase] non-empty when given
 * @param {{ maxBytes?: number, iterations?: number }} [options] maxBytes: MESSAGE_MAX_BYTES, checked here
 */
export async function seal (payload, secret, passphrase, options = {}) {
  const text = payload.text ?? null
  const file = payload.file ?? null
  if (text === null && file === null) throw new EnvelopeError('INVALID_INPUT', 'nothing to send: no text and no file')
  if (text !== null && typeof text !== 'string') throw new EnvelopeError('INVALID_INPUT', 'the text must be a string')
  if (passphrase !== undefined && (typeof passphrase !== 'string' || passphrase === '')) throw new EnvelopeError('INVALID_INPUT', 'the passphrase is empty')
  const size = plaintextBytes({ text, file })
  if (options.maxBytes !== undefined && size > options.maxBytes) {
    throw new EnvelopeError('TOO_LARGE', `${size - options.maxBytes} bytes over the limit of ${options.maxBytes}`)
  }
  const textBytes = text === null ? new Uint8Array(0) : encoder.encode(text)
  /** @type {{ text: number, file?: { name: string, type: string, size: number } }} */
  const meta = { text: text === null ? -1 : textBytes.length }
  if (file !== null) meta.file = { name: safeFileName(file.name), type: safeFileType(file.type ?? ''), size: file.bytes.length }
  const metaBytes = encoder.encode(JSON.stringify(meta))
  const plain = new Uint8Array(4 + metaBytes.length + textBytes.length + (file === null ? 0 : file.bytes.length))
  new DataView(plain.buffer).setUint32(0, metaBytes.length)
  plain.set(metaBytes, 4)
  plain.set(textBytes, 4 + metaBytes.length)
  if (file !== null) plain.set(file.bytes, 4 + metaBytes.length + textBytes.length)

  const withPassphrase = passphrase !== undefined
  const iterations = options.iterations ?? PBKDF2_ITERATIONS
  const header = new Uint8Array(withPassphrase ? 2 + SALT_BYTES + 4 : 2)
  header[0] = ENVELOPE_VERSION
  header[1] = withPassphrase ? FLAG_PASSPHRASE : 0
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES))
  if (withPassphrase) {
    header.set(salt, 2)
    new DataView(header.buffer).setUint32(2 + SALT_BYTES, iterations)
  }
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))
  const key = await contentKey(secretBytes(secret), passphrase, salt, iterations)
  // The header is authenticated (additional data): flipping its passphrase flag or its
  // iteration count makes the envelope fail to open instead of opening differently.
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: header }, key, plain))
  const envelope = new Uint8Array(header.length + IV_BYTES + sealed.length)
  envelope.set(header)
  envelope.set(iv, header.length)
  envelope.set(sealed, header.length + IV_BYTES)
  return ENVELOPE_PREFIX + toBase64Url(envelope)
}

/**
 * What can be told about a content without its key: this format (and whether it needs a
 * passphrase), the page's earlier format, or neither.
 * @param {string} content
 * @returns {{ format: 'v1'|'legacy'|'unknown', passphrase: boolean }}
 */
export function envelopeInfo (content) {
  if (typeof content !== 'string') return { format: 'unknown', passphrase: false }
  if (content.startsWith(ENVELOPE_PREFIX)) {
    try {
      const head = fromBase64Url(content.slice(ENVELOPE_PREFIX.length, ENVELOPE_PREFIX.length + 4))
      if (head[0] !== ENVELOPE_VERSION) return { format: 'unknown', passphrase: false }
      return { format: 'v1', passphrase: ((head[1] ?? 0) & FLAG_PASSPHRASE) !== 0 }
    } catch {
      return { format: 'unknown', passphrase: false }
    }
  }
  return /^[A-Za-z0-9_-]+$/.test(content) ? { format: 'legacy', passphrase: false } : { format: 'unknown', passphrase: false }
}

/**
 * Decrypts what `seal` made (or what the page made before this format).
 * @param {string} content
 * @param {string} secret the link's fragment
 * @param {string} [passphrase]
 * @returns {Promise<{ text: string|null, file: { name: string, type: string, bytes: Uint8Array }|null }>}
 */
export async function open (content, secret, passphrase) {
  const info = envelopeInfo(content)
  if (info.format === 'legacy') return { text: await openLegacy(content, secret), file: null }
  if (info.format !== 'v1') {
    if (typeof content === 'string' && laterVersion(content)) throw new EnvelopeError('UNSUPPORTED_VERSION', 'this message was made by a newer version of Missive')
    throw new EnvelopeError('MALFORMED', 'the message is not something Missive encrypted')
  }
  const envelope = fromBase64Url(content.slice(ENVELOPE_PREFIX.length))
  const headerLength = info.passphrase ? 2 + SALT_BYTES + 4 : 2
  if (envelope.length < headerLength + IV_BYTES + TAG_BYTES + 4) throw new EnvelopeError('MALFORMED', 'the message is cut short')
  if (info.passphrase && (passphrase === undefined || passphrase === '')) throw new EnvelopeError('PASSPHRASE_REQUIRED', 'this message needs its passphrase')
  const header = envelope.subarray(0, headerLength)
  const salt = info.passphrase ? envelope.slice(2, 2 + SALT_BYTES) : new Uint8Array(0)
  const iterations = info.passphrase ? new DataView(envelope.buffer, envelope.byteOffset).getUint32(2 + SALT_BYTES) : 0
  if (info.passphrase && (iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS)) throw new EnvelopeError('MALFORMED', 'the message asks for an unreasonable key derivation')
  const key = await contentKey(secretBytes(secret), info.passphrase ? passphrase : undefined, salt, iterations)
  let plain
  try {
    plain = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: envelope.subarray(headerLength, headerLength + IV_BYTES), additionalData: header }, key, envelope.subarray(headerLength + IV_BYTES)))
  } catch {
    if (info.passphrase) throw new EnvelopeError('WRONG_PASSPHRASE', 'the passphrase is wrong (or the link is incomplete)')
    throw new EnvelopeError('WRONG_KEY', 'the key in the link does not open this message (is the link complete?)')
  }
  return unpack(plain)
}

/**
 * Made by a newer Missive: a `v<n>.` prefix with n > 1, or `v1.` with a later version byte
 * (anything else that does not parse is MALFORMED, not "newer").
 * @param {string} content
 */
function laterVersion (content) {
  const prefix = /^v(\d{1,9})\./.exec(content)
  if (prefix === null) return false
  if (Number(prefix[1]) > ENVELOPE_VERSION) return true
  try {
    return (fromBase64Url(content.slice(ENVELOPE_PREFIX.length, ENVELOPE_PREFIX.length + 4))[0] ?? 0) > ENVELOPE_VERSION
  } catch {
    return false
  }
}

/** @param {Uint8Array} plain */
function unpack (plain) {
  try {
    const metaLength = new DataView(plain.buffer, plain.byteOffset).getUint32(0)
    const meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain.subarray(4, 4 + metaLength)))
    let at = 4 + metaLength
    let text = null
    if (Number.isInteger(meta.text) && meta.text >= 0) {
      text = new TextDecoder('utf-8', { fatal: true }).decode(plain.subarray(at, at + meta.text))
      at += meta.text
    }
    let file = null
    if (meta.file != null) {
      const size = meta.file.size
      if (!Number.isInteger(size) || size < 0 || at + size !== plain.length) throw new Error('file size')
      file = { name: safeFileName(meta.file.name), type: safeFileType(meta.file.type), bytes: plain.slice(at, at + size) }
    } else if (at !== plain.length) {
      throw new Error('trailing bytes')
    }
    return { text, file }
  } catch {
    throw new EnvelopeError('MALFORMED', 'the message decrypted but is not in the expected shape')
  }
}

/**
 * The page's first format: base64url(iv || AES-256-GCM ciphertext), the raw key as the fragment.
 * @param {string} content @param {string} keyText
 */
async function openLegacy (content, keyText) {
  const raw = secretBytes(keyText)
  const joined = fromBase64Url(content)
  if (joined.length < IV_BYTES + TAG_BYTES) throw new EnvelopeError('MALFORMED', 'the message is not something Missive encrypted')
  const key = await crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['decrypt'])
  let plain
  try {
    plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: joined.subarray(0, IV_BYTES) }, key, joined.subarray(IV_BYTES))
  } catch {
    throw new EnvelopeError('WRONG_KEY', 'the key in the link does not open this message (is the link complete?)')
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(plain)
  } catch {
    throw new EnvelopeError('MALFORMED', 'the message decrypted but is not text')
  }
}
