import { sameHash } from '../../ids.js'
import type { ConsumedMessage, MessageStore, MessageSummary, OwnedPage, StoredMessage } from '../message-store.js'
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
  private readonly sweeper: NodeJS.Timeout

  constructor (private readonly now: () => number = Date.now, sweepIntervalMs = 30_000) {
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs).unref()
  }

  async create (message: StoredMessage): Promise<boolean> {
    if (this.live(message.id) !== undefined) return false
    this.entries.set(message.id, { message, viewsLeft: message.maxViews })
    return true
  }

  async consume (id: string, readTokenHash: string | null = null): Promise<ConsumedMessage | null> {
    const entry = this.live(id)
    if (entry === undefined) return null
    const required = entry.message.readTokenHash
    if (required !== null && (readTokenHash === null || !sameHash(required, readTokenHash))) return null
    if (entry.viewsLeft === null) return { ...entry.message, remainingViews: null }
    entry.viewsLeft -= 1
    if (entry.viewsLeft <= 0) this.entries.delete(id)
    return { ...entry.message, remainingViews: entry.viewsLeft }
  }

  async deleteIf (id: string, check: (message: StoredMessage) => boolean): Promise<boolean> {
    const entry = this.live(id)
    if (entry === undefined || !check(entry.message)) return false
    this.entries.delete(id)
    return true
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
  }
}
