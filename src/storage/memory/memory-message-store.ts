import { sameHash } from '../../ids.js'
import { keptUntil, newReceipt, type StoredReceipt, withDelete, withView } from '../../receipts/receipt.js'
import { MAX_PENDING_EVENTS, type EventOutbox, type OutboxEvent, type PendingEvents } from '../event-outbox.js'
import type { ConsumedMessage, MessageStore, MessageStoreOptions, MessageSummary, OwnedPage, StoredMessage } from '../message-store.js'
import { decodeCursor, encodeCursor, newestFirst } from '../owner-cursor.js'

interface Entry {
  message: StoredMessage
  viewsLeft: number | null
}

/** the webhook events of a message created with notify, beside its receipt */
interface Outbox {
  seq: number
  events: OutboxEvent[]
  /** its expiry was recorded (message.expired, once) */
  expired: boolean
}

/**
 * In-process store for a single instance (development, tests, `npm start` with no Redis).
 * Every operation is one synchronous step on the event loop, which is what makes the
 * view count exact here; an unref'd sweep frees expired messages.
 */
export class MemoryMessageStore implements MessageStore, EventOutbox {
  private readonly entries = new Map<string, Entry>()
  /** receipts outlive their messages, so they have a map of their own */
  private readonly receipts = new Map<string, StoredReceipt>()
  private readonly receiptRetentionMs: number
  private readonly outboxes = new Map<string, Outbox>()
  /** the webhook schedule: id → when to look at it again */
  private readonly scheduled = new Map<string, number>()
  private readonly sweeper: NodeJS.Timeout
  onEventsRecorded: ((id: string) => void) | null = null

  constructor (private readonly now: () => number = Date.now, sweepIntervalMs = 30_000, options: MessageStoreOptions = {}) {
    this.receiptRetentionMs = options.receiptRetentionMs ?? 0
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs).unref()
  }

  async create (message: StoredMessage, notify = false): Promise<boolean> {
    if (this.live(message.id) !== undefined) return false
    this.entries.set(message.id, { message, viewsLeft: message.maxViews })
    if (this.receiptRetentionMs > 0) {
      this.receipts.set(message.id, newReceipt(message))
      if (notify && message.owner !== null) this.outboxes.set(message.id, { seq: 0, events: [], expired: false })
      else this.outboxes.delete(message.id)
    }
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
    if (receipt !== undefined) {
      const now = this.now()
      const viewed = withView(receipt, now, entry.viewsLeft)
      this.receipts.set(id, viewed)
      const burned = entry.viewsLeft === 0
      if (this.record(id, { type: 'message.viewed', at: now, views: viewed.views, remainingViews: entry.viewsLeft, state: burned ? 'burned' : 'live' })) {
        if (burned) this.record(id, { type: 'message.burned', at: now, views: viewed.views, remainingViews: 0, state: 'burned' })
        this.onEventsRecorded?.(id)
      }
    }
    return { ...entry.message, remainingViews: entry.viewsLeft }
  }

  async deleteIf (id: string, check: (message: StoredMessage) => boolean): Promise<boolean> {
    const entry = this.live(id)
    if (entry === undefined || !check(entry.message)) return false
    this.entries.delete(id)
    const receipt = this.receipts.get(id)
    if (receipt !== undefined) {
      const now = this.now()
      this.receipts.set(id, withDelete(receipt, now))
      if (this.record(id, { type: 'message.deleted', at: now, views: receipt.views, remainingViews: entry.viewsLeft, state: 'deleted' })) this.onEventsRecorded?.(id)
    }
    return true
  }

  /** Appends an event when the message has webhooks; false when it has none. */
  private record (id: string, event: Omit<OutboxEvent, 'seq'>): boolean {
    const outbox = this.outboxes.get(id)
    if (outbox === undefined) return false
    outbox.seq += 1
    outbox.events.push({ seq: outbox.seq, ...event })
    if (outbox.events.length > MAX_PENDING_EVENTS) outbox.events.splice(0, outbox.events.length - MAX_PENDING_EVENTS)
    return true
  }

  async pending (id: string, now: number): Promise<PendingEvents | null> {
    const outbox = this.outboxes.get(id)
    const receipt = await this.receipt(id)
    if (outbox === undefined || receipt === null || receipt.owner === null) return null
    let ended = receipt.ended !== null || outbox.expired
    if (!ended && receipt.expiresAt <= now) {
      outbox.expired = true
      ended = true
      const remainingViews = receipt.maxViews === null ? null : receipt.maxViews - receipt.views
      this.record(id, { type: 'message.expired', at: receipt.expiresAt, views: receipt.views, remainingViews, state: 'expired' })
    }
    return { owner: receipt.owner, createdAt: receipt.createdAt, expiresAt: receipt.expiresAt, ended, events: outbox.events.slice(0, 100) }
  }

  async acknowledge (id: string, seq: number): Promise<void> {
    const outbox = this.outboxes.get(id)
    if (outbox !== undefined) outbox.events = outbox.events.filter((event) => event.seq > seq)
  }

  async schedule (id: string, at: number): Promise<void> {
    this.scheduled.set(id, at)
  }

  async unschedule (id: string): Promise<void> {
    this.scheduled.delete(id)
  }

  async claimDue (now: number, leaseMs: number, limit: number): Promise<string[]> {
    const due: string[] = []
    for (const [id, at] of this.scheduled) {
      if (due.length >= limit) break
      if (at <= now) due.push(id)
    }
    for (const id of due) this.scheduled.set(id, now + leaseMs)
    return due
  }

  async receipt (id: string): Promise<StoredReceipt | null> {
    const receipt = this.receipts.get(id)
    if (receipt === undefined) return null
    if (keptUntil(receipt, this.receiptRetentionMs) <= this.now()) {
      this.receipts.delete(id)
      this.outboxes.delete(id)
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
    this.outboxes.clear()
    this.scheduled.clear()
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
      if (keptUntil(receipt, this.receiptRetentionMs) <= now) {
        this.receipts.delete(id)
        this.outboxes.delete(id)
      }
    }
  }
}
