import type { StoredReceipt } from '../receipts/receipt.js'

/** A message as the store keeps it. Times are epoch milliseconds. */
export interface StoredMessage {
  readonly id: string
  /** as stored: sealed with ENCRYPTION_KEY when that is set */
  readonly content: string
  /** the client encrypted the content (the server never saw the plaintext) */
  readonly encrypted: boolean
  readonly createdAt: number
  readonly expiresAt: number
  readonly maxViews: number | null
  /** keyId of the API key that created it; null for anonymous messages */
  readonly owner: string | null
  readonly deleteTokenHash: string
  /** SHA-256 of the readToken a read must present (X-Read-Token); null: reads need none */
  readonly readTokenHash: string | null
}

export interface ConsumedMessage extends StoredMessage {
  /** views left after this read; null when unlimited */
  readonly remainingViews: number | null
}

export interface MessageSummary {
  readonly id: string
  readonly createdAt: number
  readonly expiresAt: number
  readonly remainingViews: number | null
}

export interface OwnedPage {
  readonly items: MessageSummary[]
  /** opaque; null on the last page */
  readonly nextCursor: string | null
}

export interface MessageStoreOptions {
  /** how long a receipt outlives its message (RECEIPT_RETENTION_SECONDS × 1000); 0: no receipts */
  receiptRetentionMs?: number
}

/**
 * The one storage interface for messages, with a Redis and an in-memory implementation
 * that pass the same contract tests (test/storage/message-store.contract.ts).
 * Store failures reject with StoreUnavailable (503) or StorageFull (507).
 */
export interface MessageStore {
  /**
   * Writes a new message; false (and nothing written) when the id is already taken. `notify`:
   * its owner has webhooks, so its reads, burn, delete and expiry are recorded as events (the
   * EventOutbox) in the same steps that update its receipt (needs a receipt retention).
   */
  create (message: StoredMessage, notify?: boolean): Promise<boolean>
  /**
   * Returns the message and counts one view, as one atomic step: with maxViews N exactly
   * N calls succeed, and the one that takes the last view deletes the message.
   * null when the id is unknown, expired, burned or deleted, and when the message has a
   * readTokenHash that `readTokenHash` does not equal: that check is part of the same step,
   * so a read without the right token never counts a view, however reads race.
   */
  consume (id: string, readTokenHash?: string | null): Promise<ConsumedMessage | null>
  /**
   * Deletes the message when `check` accepts it; false when unknown or refused. The receipt
   * says "deleted" from the same step on.
   */
  deleteIf (id: string, check: (message: StoredMessage) => boolean): Promise<boolean>
  /**
   * The message's receipt (API.md section 1), counting nothing: kept from create until
   * `receiptRetentionMs` after the message ended (burned, deleted or expired), then null.
   * Every successful consume updates it in its own atomic step (so its views equal the
   * successful reads, however they race), and so does a delete. Always null when the store
   * was made with no retention (RECEIPT_RETENTION_SECONDS=0).
   */
  receipt (id: string): Promise<StoredReceipt | null>
  /** told the id of a message whose webhook events a read or a delete just recorded */
  onEventsRecorded: ((id: string) => void) | null
  /** The owner's live messages, newest first. */
  listOwned (owner: string, limit: number, cursor: string | null): Promise<OwnedPage>
  /** Resolves when the store answers; rejects with StoreUnavailable otherwise. */
  ping (): Promise<void>
  close (): Promise<void>
}
