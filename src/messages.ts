import type { ContentCipher } from './content-cipher.js'
import { ContentTooLarge, InvalidUtf8, MessageNotFound, TtlTooLong } from './errors.js'
import { hashToken, newDeleteToken, newMessageId, sameHash } from './ids.js'
import { isoTime } from './iso-time.js'
import { receiptView, type ReceiptView } from './receipts/receipt.js'
import type { MessageStore, StoredMessage } from './storage/message-store.js'

export interface NewMessage {
  content: string
  ttl?: number | undefined
  maxViews?: number | undefined
  encrypted?: boolean | undefined
  /** reads must present it as X-Read-Token (only its SHA-256 is stored) */
  readToken?: string | undefined
}

export interface MessageLimits {
  maxBytes: number
  defaultTtlSeconds: number
  maxTtlSeconds: number
}

/** The configured TTL bounds with a route's own content limit. */
export function messageLimits (config: { MESSAGE_DEFAULT_TTL_SECONDS: number, MESSAGE_MAX_TTL_SECONDS: number }, maxBytes: number): MessageLimits {
  return { maxBytes, defaultTtlSeconds: config.MESSAGE_DEFAULT_TTL_SECONDS, maxTtlSeconds: config.MESSAGE_MAX_TTL_SECONDS }
}

/** What POST / answers (and POST /api/v1/messages, with `owner`). */
export interface CreatedMessage {
  id: string
  url: string
  createdAt: string
  expiresAt: string
  maxViews: number | null
  deleteToken: string
  owner?: string
}

export interface ReadMessage {
  id: string
  content: string
  encrypted: boolean
  createdAt: string
  expiresAt: string
  remainingViews: number | null
}

const LONE_SURROGATE = /\p{Cs}/u

/**
 * The limit on encrypted content (API.md section 1): what the person wrote is what
 * MESSAGE_MAX_BYTES limits, so ciphertext gets room for base64url (4/3) and an envelope of
 * up to 1 KiB, and any message that fits as plaintext always goes through encrypted.
 */
export function encryptedContentLimit (maxBytes: number): number {
  return Math.ceil((maxBytes + 1024) * 4 / 3)
}

/** What the messages need of webhooks (src/webhooks/relay.ts): whether an owner's messages record events. */
export interface MessageWebhooks {
  notifies (owner: string): Promise<boolean>
  /** puts a new notifying message on the store's schedule (crash recovery and message.expired) */
  scheduleNew (id: string): Promise<void>
}

/** 128-bit ids make a collision astronomically unlikely; SET NX makes one harmless. */
const CREATE_ATTEMPTS = 3

/**
 * The message rules on top of the store: limits, ids, delete tokens, encryption at rest.
 * Routes validate shapes with their schemas; this enforces what schemas cannot (bytes, TTL
 * bounds from config) and never lets stored data out unprocessed.
 */
export class Messages {
  /** set when webhooks run (plugins/webhook-relay.ts); anonymous messages never notify */
  webhooks: MessageWebhooks | null = null

  constructor (
    private readonly store: MessageStore,
    private readonly cipher: ContentCipher,
    private readonly now: () => number = Date.now
  ) {}

  /** An anonymous message (POST /). */
  async create (input: NewMessage, limits: MessageLimits): Promise<CreatedMessage> {
    return await this.insert(input, limits, null)
  }

  /** A message owned by the key `owner` (POST /api/v1/messages): listed and deletable by it. */
  async createOwned (input: NewMessage, limits: MessageLimits, owner: string): Promise<CreatedMessage & { owner: string }> {
    return await this.insert(input, limits, owner) as CreatedMessage & { owner: string }
  }

  private async insert (input: NewMessage, limits: MessageLimits, owner: string | null): Promise<CreatedMessage> {
    // A lone surrogate (JSON allows "\ud800") has no UTF-8 form: it would be stored as U+FFFD.
    if (LONE_SURROGATE.test(input.content)) throw new InvalidUtf8()
    const maxBytes = input.encrypted === true ? encryptedContentLimit(limits.maxBytes) : limits.maxBytes
    if (Buffer.byteLength(input.content, 'utf8') > maxBytes) throw new ContentTooLarge(maxBytes)
    const ttl = input.ttl ?? limits.defaultTtlSeconds
    if (ttl > limits.maxTtlSeconds) throw new TtlTooLong(limits.maxTtlSeconds)

    // Decided once, at create: a message records events when its owner had an endpoint then
    // (a cached answer), so reads of every other message do no webhook work at all.
    const notify = owner !== null && this.webhooks !== null && await this.webhooks.notifies(owner)
    const deleteToken = newDeleteToken()
    const createdAt = this.now()
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt++) {
      const id = newMessageId()
      const message: StoredMessage = {
        id,
        content: this.cipher.seal(id, input.content),
        encrypted: input.encrypted ?? false,
        createdAt,
        expiresAt: createdAt + ttl * 1000,
        maxViews: input.maxViews ?? null,
        owner,
        deleteTokenHash: hashToken(deleteToken),
        readTokenHash: input.readToken === undefined ? null : hashToken(input.readToken)
      }
      // On the schedule before it exists: a create that fails leaves an entry the relay drops,
      // while the other order could leave a message whose expiry nobody would notice.
      if (notify) await this.webhooks?.scheduleNew(id)
      if (await this.store.create(message, notify)) {
        const created: CreatedMessage = {
          id,
          url: `/msg/${id}`,
          createdAt: isoTime(createdAt),
          expiresAt: isoTime(message.expiresAt),
          maxViews: message.maxViews,
          deleteToken
        }
        if (owner !== null) created.owner = owner
        return created
      }
    }
    throw new Error('could not allocate a unique message id')
  }

  /**
   * Counts a view. Throws MessageNotFound for unknown, expired, burned and deleted alike, and
   * for a message made with a readToken when `readToken` is missing or wrong (nothing counted).
   */
  async read (id: string, readToken?: string): Promise<ReadMessage> {
    // (hashed only when presented: a read without the header costs nothing more)
    const message = await this.store.consume(id, readToken === undefined || readToken === '' ? null : hashToken(readToken))
    if (message === null) throw new MessageNotFound()
    return {
      id,
      content: this.cipher.open(id, message.content),
      encrypted: message.encrypted,
      createdAt: isoTime(message.createdAt),
      expiresAt: isoTime(message.expiresAt),
      remainingViews: message.remainingViews
    }
  }

  /** Deletes with the creator's token. A wrong, empty or missing token is MessageNotFound, like an unknown id. */
  async deleteWithToken (id: string, deleteToken: string | undefined): Promise<void> {
    if (deleteToken === undefined || deleteToken === '') throw new MessageNotFound()
    const presented = hashToken(deleteToken)
    const deleted = await this.store.deleteIf(id, (message) => sameHash(message.deleteTokenHash, presented))
    if (!deleted) throw new MessageNotFound()
  }

  /** Deletes a message owned by `owner`; anyone else's, or unknown, is MessageNotFound. */
  async deleteOwned (id: string, owner: string): Promise<void> {
    const deleted = await this.store.deleteIf(id, (message) => message.owner === owner)
    if (!deleted) throw new MessageNotFound()
  }

  /**
   * The creator's receipt (GET /msg/:id/receipt): counts nothing. A wrong, empty or missing
   * delete token is MessageNotFound, like an unknown id or a receipt no longer kept.
   */
  async receiptWithToken (id: string, deleteToken: string | undefined): Promise<ReceiptView> {
    if (deleteToken === undefined || deleteToken === '') throw new MessageNotFound()
    const presented = hashToken(deleteToken)
    const receipt = await this.store.receipt(id)
    if (receipt === null || !sameHash(receipt.deleteTokenHash, presented)) throw new MessageNotFound()
    return receiptView(receipt, this.now())
  }

  /** The receipt of a message owned by `owner`; anyone else's, or unknown, is MessageNotFound. */
  async ownedReceipt (id: string, owner: string): Promise<ReceiptView> {
    const receipt = await this.store.receipt(id)
    if (receipt === null || receipt.owner !== owner) throw new MessageNotFound()
    return receiptView(receipt, this.now())
  }
}
