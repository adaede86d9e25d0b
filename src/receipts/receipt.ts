import { isoTime } from '../iso-time.js'

/**
 * Receipts (API.md sections 1 and 2, issue 19): was a message read, how often, when, and how it
 * ended, kept RECEIPT_RETENTION_SECONDS after its end. Pure rules here; the stores apply them in
 * the same atomic step that counts a view or deletes (the memory store calls these functions,
 * the Redis consume and delete scripts do the same to a hash in the message's slot).
 *
 * A receipt never holds content nor anything about readers (no address, no user agent): only
 * counts and times. "expired" is not stored: it is what a receipt says once `expiresAt` has
 * passed with views left, so no timer has to mark it.
 */
export type ReceiptState = 'live' | 'burned' | 'expired' | 'deleted'

export interface StoredReceipt {
  readonly id: string
  readonly createdAt: number
  readonly expiresAt: number
  readonly maxViews: number | null
  readonly views: number
  readonly firstViewedAt: number | null
  readonly lastViewedAt: number | null
  /** how it ended before expiring: the read that took the last view, or a delete */
  readonly ended: { readonly state: 'burned' | 'deleted', readonly at: number } | null
  /** the owner's key id, for GET /api/v1/messages/:id/receipt; null for anonymous messages */
  readonly owner: string | null
  /** the creator's proof for GET /msg/:id/receipt (the message's delete token hash) */
  readonly deleteTokenHash: string
}

export interface ReceiptView {
  id: string
  state: ReceiptState
  createdAt: string
  expiresAt: string
  maxViews: number | null
  views: number
  firstViewedAt: string | null
  lastViewedAt: string | null
  endedAt: string | null
}

/** A new message's receipt: live, no view yet. */
export function newReceipt (message: { id: string, createdAt: number, expiresAt: number, maxViews: number | null, owner: string | null, deleteTokenHash: string }): StoredReceipt {
  // Field by field: the message passed in is usually the whole stored message, and a receipt
  // must never hold its content or read token.
  const { id, createdAt, expiresAt, maxViews, owner, deleteTokenHash } = message
  return { id, createdAt, expiresAt, maxViews, owner, deleteTokenHash, views: 0, firstViewedAt: null, lastViewedAt: null, ended: null }
}

/** The receipt after a successful read at `now` that left `remainingViews` (0: it burned). */
export function withView (receipt: StoredReceipt, now: number, remainingViews: number | null): StoredReceipt {
  return {
    ...receipt,
    views: receipt.views + 1,
    firstViewedAt: receipt.firstViewedAt ?? now,
    lastViewedAt: now,
    ended: remainingViews === 0 ? { state: 'burned', at: now } : receipt.ended
  }
}

/** The receipt after its message was deleted at `now`. */
export function withDelete (receipt: StoredReceipt, now: number): StoredReceipt {
  return { ...receipt, ended: { state: 'deleted', at: now } }
}

/** When the message ended (or will, if nothing else happens): a burn, a delete, or its expiry. */
export function endOf (receipt: StoredReceipt): number {
  return receipt.ended === null ? receipt.expiresAt : Math.min(receipt.ended.at, receipt.expiresAt)
}

/** Until when the store keeps the receipt: its message's end plus the retention. */
export function keptUntil (receipt: StoredReceipt, retentionMs: number): number {
  return endOf(receipt) + retentionMs
}

/** What the receipt routes answer, at `now`. */
export function receiptView (receipt: StoredReceipt, now: number): ReceiptView {
  let state: ReceiptState = 'live'
  let endedAt: number | null = null
  if (receipt.ended !== null && receipt.ended.at < receipt.expiresAt) {
    state = receipt.ended.state
    endedAt = receipt.ended.at
  } else if (now >= receipt.expiresAt) {
    state = 'expired'
    endedAt = receipt.expiresAt
  }
  return {
    id: receipt.id,
    state,
    createdAt: isoTime(receipt.createdAt),
    expiresAt: isoTime(receipt.expiresAt),
    maxViews: receipt.maxViews,
    views: receipt.views,
    firstViewedAt: receipt.firstViewedAt === null ? null : isoTime(receipt.firstViewedAt),
    lastViewedAt: receipt.lastViewedAt === null ? null : isoTime(receipt.lastViewedAt),
    endedAt: endedAt === null ? null : isoTime(endedAt)
  }
}
