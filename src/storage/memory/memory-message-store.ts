import { sameHash } from '../../ids.js'
import { keptUntil, newReceipt, type StoredReceipt, withDelete, withView } from '../../receipts/receipt.js'
import type { ConsumedMessage, MessageStore, MessageStoreOptions, MessageSummary, OwnedPage, StoredMessage } from '../message-store.js'
import { decodeCursor, encodeCursor, newestFirst } from '../owner-cursor.js'

interface Entry {
  message: StoredMessage
  viewsLeft: number | null
}

/**
 * In-process store for a single instance (development, tests, `npm start` with no Redis).
 * Every operation is one synchronous step on the event loop, which is what makes the
 * view count exact here; an unref'd sweep frees expired messages.
 */
export class MemoryMessageStore implements MessageStore {
  private readonly entries = new Map<string, Entry>()
  /** receipts outlive their messages, so they have a map of their own */
  private readonly receipts = new Map<string, StoredReceipt>()
  private readonly receiptRetentionMs: number
  private readonly sweeper: NodeJS.Timeout

  constructor (private readonly now: () => number = Date.now, sweepIntervalMs = 30_000, options: MessageStoreOptions = {}) {
    this.receiptRetentionMs = options.receiptRetentionMs ?? 0
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs).unref()
  }

  async create (message: StoredMessage): Promise<boolean> {
    if (this.live(message.id) !== undefined) return false
    this.entries.set(message.id, { message, viewsLeft: message.maxViews })
    if (this.receiptRetentionMs > 0) this.receipts.set(message.id, newReceipt(message))
    return true
  }

  async consume (id: string, readTokenHash: string | null = null): Promise<ConsumedMessage | null> {
    const entry = this.live(id)
    if (entry === undefined) return null
    const required = entry.message.readTokenHash
    if (required !== null && (readTokenHash === null || !sameHash(required, readTokenHash))) return null
    if (entry.viewsLeft !== null) {
      entry.viewsLeft -= 1
      if (entry.viewsLeft <= 0) this.entries.delete(id)
    }
    // the receipt counts the view in this same synchronous step
    const receipt = this.receipts.get(id)
    if (receipt !== undefined) this.receipts.set(id, withView(receipt, this.now(), entry.viewsLeft))
    return { ...entry.message, remainingViews: entry.viewsLeft }
  }

  async deleteIf (id: string, check: (message: StoredMessage) => boolean): Promise<boolean> {
    const entry = this.live(id)
    if (entry === undefined || !check(entry.message)) return false
    this.entries.delete(id)
    const receipt = this.receipts.get(id)
    if (receipt !== undefined) this.receipts.set(id, withDelete(receipt, this.now()))
    return true
  }

  async receipt (id: string): Promise<StoredReceipt | null> {
    const receipt = this.receipts.get(id)
    if (receipt === undefined) return null
    if (keptUntil(receipt, this.receiptRetentionMs) <= this.now()) {
      this.receipts.delete(id)
      return null
    }
    return receipt
  }

  async listOwned (owner: string, limit: number, cursor: string | null): Promise<OwnedPage> {
    const after = cursor === null ? null : decodeCursor(cursor)
    const owned: MessageSummary[] = []
    for (const [id, entry] of this.entries) {
      if (entry.message.owner !== owner || this.live(id) === undefined) continue
      owned.push({ id, createdAt: entry.message.createdAt, expiresAt: entry.message.expiresAt, remainingViews: entry.viewsLeft })
    }
    owned.sort(newestFirst)
    const start = after === null ? 0 : owned.findIndex((m) => newestFirst(m, after) > 0)
    const items = start < 0 ? [] : owned.slice(start, start + limit)
    const last = items.at(-1)
    const more = start >= 0 && start + limit < owned.length
    return { items, nextCursor: more && last !== undefined ? encodeCursor(last) : null }
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    clearInterval(this.sweeper)
    this.entries.clear()
    this.receipts.clear()
  }

  private live (id: string): Entry | undefined {
    const entry = this.entries.get(id)
    if (entry === undefined) return undefined
    if (entry.message.expiresAt <= this.now()) {
      this.entries.delete(id)
      return undefined
    }
    return entry
  }

  private sweep (): void {
    for (const id of this.entries.keys()) this.live(id)
    const now = this.now()
    for (const [id, receipt] of this.receipts) {
      if (keptUntil(receipt, this.receiptRetentionMs) <= now) this.receipts.delete(id)
    }
  }
}
