import type DataLoader from 'dataloader'
import type { Cluster, Redis } from 'ioredis'
import { sameHash } from '../../ids.js'
import type { StoredReceipt } from '../../receipts/receipt.js'
import type { EventOutbox, PendingEvents } from '../event-outbox.js'
import { parseOutboxEvent } from '../event-outbox.js'
import type { ConsumedMessage, MessageStore, MessageStoreOptions, MessageSummary, OwnedPage, StoredMessage } from '../message-store.js'
import { decodeCursor, encodeCursor, newestFirst } from '../owner-cursor.js'
import { toStoreError } from '../store-errors.js'
import { messageEventsKey, messageKey, ownerIndexKey, receiptKey, viewsKey, webhookScheduleKey } from './keys.js'
import { INDEX_OWNED_COMMAND, OwnerIndexWriter } from './owner-index-writer.js'
import * as scripts from './scripts.js'
import { withScripts } from './scripted.js'
import { turnBatch } from './turn-batch.js'

type ScriptReply = [string, number] | null
type ConsumeReply = [string, number, 0 | 1] | null

interface MessageCommands {
  missiveCreateWithViews (message: string, views: string, body: string, expiresAt: number, maxViews: number): Promise<number>
  missivePeek (message: string, views: string, receipt: string): Promise<ScriptReply>
  missiveCreateWithReceipt (message: string, receipt: string, body: string, expiresAt: number, maxViews: number | '', receiptUntil: number, createdAt: number, owner: string, deleteTokenHash: string, notify: '1' | '0'): Promise<number>
  /** numberOfKeys (2 per create), the keys, then each create's eight values as missiveCreateWithReceipt's */
  missiveCreateBatch (...args: Array<string | number>): Promise<Array<number | string>>
  missiveConsumeWithReceipt (message: string, views: string, receipt: string, events: string, readTokenHash: string, now: number, retentionMs: number): Promise<ConsumeReply>
  /** numberOfKeys (4 per read), the keys, now, retentionMs, each read's token hash */
  missiveConsumeBatch (...args: Array<string | number>): Promise<Array<string | number | null>>
  missiveDeleteWithReceipt (message: string, views: string, receipt: string, events: string, now: number, retentionMs: number): Promise<number>
  missivePendingEvents (receipt: string, events: string, message: string, now: number): Promise<Array<string | number> | null>
  missiveAcknowledgeEvents (events: string, seq: number): Promise<number>
  missiveClaimDue (schedule: string, now: number, leaseMs: number, limit: number): Promise<string[]>
}
type ScriptedClient = (Redis | Cluster) & MessageCommands

/**
 * How old an index entry without its message must be before a listing removes it: a
 * create's two writes finish within the 1 s command timeout; the rest is room for clock
 * differences between instances.
 */
export const PRUNE_GRACE_MS = 5000

/** the most reads (or creates) one batched script makes: each is a few commands, and Redis serves nothing else meanwhile */
export const MAX_PER_BATCH = 64

/**
 * The scripts that are each already the batch of their turn (sent at setImmediate): client.ts
 * sends them at once rather than through the auto-pipeline, which would hold each one more
 * turn of the event loop (and every request waiting on it, with its objects, through one more
 * young-generation collection). The owner index's write (OwnerIndexWriter) is one of them.
 */
export const SELF_BATCHED_COMMANDS = ['missiveConsumeBatch', 'missiveCreateBatch', INDEX_OWNED_COMMAND] as const

interface Read { id: string, readTokenHash: string }
/** a create's eight values after its keys, as the create scripts take them */
type CreateValues = [string, number, number | '', number, number, string, string, '1' | '0']
interface Create { id: string, values: CreateValues }

/**
 * The stored body: short field names, since every byte is kept per message. `r` (the read
 * token's hash) is the first field when present, so the consume script finds it with an
 * anchored match instead of decoding up to 88 KB of JSON (no string value can hide a `"r":"`
 * there: JSON escapes every quote inside a string). `h`, next, is the receipt header of a
 * message created with receipts on (its view limit and whether it records webhook events),
 * read the same way by the scripts.
 */
interface Body { r?: string, h?: string | undefined, c: string, e: 0 | 1, t: number, x: number, m: number | null, o: string | null, d: string }

/** the read token's hash at the head of a stored body (the same anchored match as the consume script's) */
const READ_TOKEN_HASH = /^\{"r":"([^"]*)"/

export class RedisMessageStore implements MessageStore, EventOutbox {
  private readonly redis: ScriptedClient
  private readonly ownerIndex: OwnerIndexWriter
  private readonly receiptRetentionMs: number
  private readonly now: () => number
  /**
   * The reads of one turn as one script, on a single Redis (null on a Cluster: a slot per
   * message). Why: under load each ioredis command costs the server a few µs (its command
   * object, promise, reply parsing) and each script Redis runs costs it ~1.5 µs to start, on
   * the same two cores; the dozen reads of a turn under the benchmark's load made as one script
   * cost both sides about a third less than a script each.
   */
  private readonly reads: DataLoader<Read, ConsumeReply> | null
  /** the creates of one turn as one script, likewise */
  private readonly creates: DataLoader<Create, boolean> | null
  /** told the id of a message whose webhook events a read or a delete just recorded (the relay) */
  onEventsRecorded: ((id: string) => void) | null = null

  constructor (client: Redis | Cluster, options: MessageStoreOptions & { now?: () => number } = {}) {
    this.redis = withScripts(client, {
      missiveCreateWithViews: { numberOfKeys: 2, lua: scripts.createWithViews },
      missivePeek: { numberOfKeys: 3, lua: scripts.peek },
      missiveCreateWithReceipt: { numberOfKeys: 2, lua: scripts.createWithReceipt },
      missiveConsumeWithReceipt: { numberOfKeys: 4, lua: scripts.consumeWithReceipt },
      missiveConsumeBatch: { lua: scripts.consumeBatch },
      missiveCreateBatch: { lua: scripts.createBatch },
      missiveDeleteWithReceipt: { numberOfKeys: 4, lua: scripts.deleteWithReceipt },
      missivePendingEvents: { numberOfKeys: 3, lua: scripts.pendingEvents },
      missiveAcknowledgeEvents: { numberOfKeys: 1, lua: scripts.acknowledgeEvents },
      missiveClaimDue: { numberOfKeys: 1, lua: scripts.claimDue }
    })
    this.ownerIndex = new OwnerIndexWriter(client)
    this.receiptRetentionMs = options.receiptRetentionMs ?? 0
    this.now = options.now ?? Date.now
    const batched = !client.isCluster && this.receiptRetentionMs > 0
    this.reads = batched ? turnBatch(async (reads: readonly Read[]) => await this.consumeBatch(reads), MAX_PER_BATCH) : null
    this.creates = batched ? turnBatch(async (creates: readonly Create[]) => await this.createBatch(creates), MAX_PER_BATCH) : null
  }

  async create (message: StoredMessage, notify = false): Promise<boolean> {
    const body = serialize(message, this.receiptRetentionMs > 0 ? { notify: notify && message.owner !== null } : null)
    try {
      if (message.owner === null) return await this.write(message, body, false)
      // An owned message also gets an entry in its owner's index, written together with the
      // entries of the other creates of this event-loop turn (see OwnerIndexWriter). The two
      // writes are not one atomic step (on a Cluster they cannot be: the keys are in
      // different slots), so each failure is undone where it can be.
      // The entry and the message are each sent with the others of the turn (at setImmediate,
      // in either order, as separate commands): a listing that meets an entry
      // before its message skips it, and prunes it only once it is older than any create can
      // take (PRUNE_GRACE_MS), on a single Redis as on a Cluster. The entry is marked handled
      // at once: it can fail before the message's write settles, and an unhandled rejection
      // would stop the process.
      const index = ownerIndexKey(message.owner)
      const indexed = this.ownerIndex.add(index, message.createdAt, message.id, message.expiresAt)
      indexed.catch(() => {})
      const written = this.write(message, body, notify)
      // If the message's write fails, a listed id without its message is dropped by
      // listOwned, which checks each one.
      const created = await written
      try {
        await indexed
      } catch (err) {
        // Answered 503: the message must not exist unlisted.
        if (created) await this.redis.del(messageKey(message.id), viewsKey(message.id), receiptKey(message.id)).catch(() => {})
        throw err
      }
      // The id was taken (a 128-bit collision): take back the entry that named it.
      if (!created) await this.redis.zrem(index, message.id)
      return created
    } catch (err) {
      throw toStoreError(err)
    }
  }

  /** SET NX: an existing id is never overwritten. */
  private async write (message: StoredMessage, body: string, notify: boolean): Promise<boolean> {
    if (this.receiptRetentionMs > 0) {
      const { id } = message
      const values: CreateValues = [body, message.expiresAt, message.maxViews ?? '', message.expiresAt + this.receiptRetentionMs, message.createdAt,
        message.owner ?? '', message.deleteTokenHash, notify && message.owner !== null ? '1' : '0']
      if (this.creates !== null) return await this.creates.load({ id, values })
      return await this.redis.missiveCreateWithReceipt(messageKey(id), receiptKey(id), ...values) === 1
    }
    if (message.maxViews === null) return await this.redis.set(messageKey(message.id), body, 'PXAT', message.expiresAt, 'NX') === 'OK'
    return await this.redis.missiveCreateWithViews(messageKey(message.id), viewsKey(message.id), body, message.expiresAt, message.maxViews) === 1
  }

  async consume (id: string, readTokenHash: string | null = null): Promise<ConsumedMessage | null> {
    if (this.receiptRetentionMs > 0) return await this.consumeWithReceipt(id, readTokenHash)
    try {
      // Without receipts, most messages have no view limit, and for those a plain GET is the whole read:
      // Redis runs a GET in a fraction of a microsecond, a script in several. A counted
      // message then takes the consume script, which counts the view atomically (and
      // finds nothing if a racing reader took the last view in between), on its receipt when
      // it was created with receipts on.
      const body = await this.redis.get(messageKey(id))
      if (body === null) return null
      // A wrong or missing token is refused on the raw body, before it is parsed: a refused
      // read costs no parse of up to 88 KB (which would also make a live id slower to refuse
      // than an unknown one). For a counted message the script checks again, in the step that
      // counts the view. (What remains: the GET itself carries a live message's body.)
      const required = READ_TOKEN_HASH.exec(body)?.[1]
      if (required !== undefined && (readTokenHash === null || !sameHash(required, readTokenHash))) return null
      const message = deserialize(id, body)
      if (message.maxViews === null) return { ...message, remainingViews: null }
      const reply = await this.redis.missiveConsumeWithReceipt(messageKey(id), viewsKey(id), receiptKey(id), messageEventsKey(id), readTokenHash ?? '', this.now(), this.receiptRetentionMs)
      if (reply === null) return null
      if (reply[2] === 1) this.onEventsRecorded?.(id)
      return { ...message, remainingViews: reply[1] < 0 ? null : reply[1] }
    } catch (err) {
      throw toStoreError(err)
    }
  }

  /**
   * With receipts, every read is the one script that counts the view on the message (when it
   * has a limit) and on its receipt: one round trip for counted and unlimited messages alike
   * (a counted read without receipts takes two), and the script checks the read token.
   */
  private async consumeWithReceipt (id: string, readTokenHash: string | null): Promise<ConsumedMessage | null> {
    try {
      const reply = this.reads !== null
        ? await this.reads.load({ id, readTokenHash: readTokenHash ?? '' })
        : await this.redis.missiveConsumeWithReceipt(messageKey(id), viewsKey(id), receiptKey(id), messageEventsKey(id), readTokenHash ?? '', this.now(), this.receiptRetentionMs)
      if (reply === null) return null
      if (reply[2] === 1) this.onEventsRecorded?.(id)
      return { ...deserialize(id, reply[0]), remainingViews: reply[1] < 0 ? null : reply[1] }
    } catch (err) {
      throw toStoreError(err)
    }
  }

  /** The creates of one turn (single Redis): one createBatch script, the same step per create. */
  private async createBatch (creates: readonly Create[]): Promise<Array<boolean | Error>> {
    const args: Array<string | number> = [creates.length * 2]
    for (const { id } of creates) args.push(messageKey(id), receiptKey(id))
    for (const { values } of creates) args.push(...values)
    const reply = await this.redis.missiveCreateBatch(...args)
    return creates.map((_, i) => typeof reply[i] === 'string' ? new Error(reply[i] as string) : reply[i] === 1)
  }

  /** The reads of one turn (single Redis): one consumeBatch script, the same step per read. */
  private async consumeBatch (reads: readonly Read[]): Promise<Array<ConsumeReply | Error>> {
    const args: Array<string | number> = [reads.length * 4]
    for (const { id } of reads) args.push(messageKey(id), viewsKey(id), receiptKey(id), messageEventsKey(id))
    args.push(this.now(), this.receiptRetentionMs)
    for (const { readTokenHash } of reads) args.push(readTokenHash)
    const reply = await this.redis.missiveConsumeBatch(...args)
    return reads.map((_, i) => {
      const body = reply[3 * i]
      const recorded = reply[3 * i + 2]
      if (recorded === -1) return new Error(String(body))
      return typeof body === 'string' ? [body, Number(reply[3 * i + 1]), recorded === 1 ? 1 : 0] : null
    })
  }

  async deleteIf (id: string, check: (message: StoredMessage) => boolean): Promise<boolean> {
    try {
      const body = await this.redis.get(messageKey(id))
      if (body === null) return false
      const message = deserialize(id, body)
      if (!check(message)) return false
      const deleted = this.receiptRetentionMs > 0
        ? await this.redis.missiveDeleteWithReceipt(messageKey(id), viewsKey(id), receiptKey(id), messageEventsKey(id), this.now(), this.receiptRetentionMs)
        : await this.redis.del(messageKey(id), viewsKey(id))
      if (deleted === 2) this.onEventsRecorded?.(id)
      if (message.owner !== null) await this.redis.zrem(ownerIndexKey(message.owner), id)
      return deleted > 0
    } catch (err) {
      throw toStoreError(err)
    }
  }

  async listOwned (owner: string, limit: number, cursor: string | null): Promise<OwnedPage> {
    const after = cursor === null ? null : decodeCursor(cursor)
    const index = ownerIndexKey(owner)
    const items: MessageSummary[] = []
    const batch = Math.max(limit + 1, 20)
    const pruneBefore = Date.now() - PRUNE_GRACE_MS
    try {
      // Walk the index newest first from the cursor, skipping (and pruning) ids whose
      // message has expired or burned, until one item more than the page is found.
      for (let offset = 0; items.length <= limit; offset += batch) {
        const max = after === null ? '+inf' : String(after.createdAt)
        const ids = await this.redis.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', offset, batch)
        if (ids.length === 0) break
        const candidates: Array<{ id: string, createdAt: number }> = []
        for (let i = 0; i < ids.length; i += 2) {
          const candidate = { id: ids[i] as string, createdAt: Number(ids[i + 1]) }
          if (after === null || newestFirst(candidate, after) > 0) candidates.push(candidate)
        }
        const replies = await Promise.all(candidates.map(({ id }) => this.redis.missivePeek(messageKey(id), viewsKey(id), receiptKey(id))))
        const gone: string[] = []
        replies.forEach((reply, i) => {
          const candidate = candidates[i] as { id: string, createdAt: number }
          const { id } = candidate
          if (reply === null) {
            // An entry younger than a command timeout may belong to a create still under
            // way (on a Cluster its message's write can land after it): skipped, not pruned.
            if (candidate.createdAt < pruneBefore) gone.push(id)
            return
          }
          const message = deserialize(id, reply[0])
          if (message.owner !== owner) { gone.push(id); return }
          items.push({ id, createdAt: message.createdAt, expiresAt: message.expiresAt, remainingViews: reply[1] < 0 ? null : reply[1] })
        })
        if (gone.length > 0) await this.redis.zrem(index, ...gone)
        if (ids.length < batch * 2) break
      }
    } catch (err) {
      throw toStoreError(err)
    }
    const page = items.slice(0, limit)
    const last = page.at(-1)
    return { items: page, nextCursor: items.length > limit && last !== undefined ? encodeCursor(last) : null }
  }

  async receipt (id: string): Promise<StoredReceipt | null> {
    if (this.receiptRetentionMs <= 0) return null
    try {
      const fields = await this.redis.hgetall(receiptKey(id))
      return parseReceipt(id, fields)
    } catch (err) {
      throw toStoreError(err)
    }
  }

  async pending (id: string, now: number): Promise<PendingEvents | null> {
    try {
      const reply = await this.redis.missivePendingEvents(receiptKey(id), messageEventsKey(id), messageKey(id), now)
      if (reply === null) return null
      const [owner, createdAt, expiresAt, ended, ...events] = reply
      return { owner: String(owner), createdAt: Number(createdAt), expiresAt: Number(expiresAt), ended: Number(ended) === 1, events: events.map((e) => parseOutboxEvent(String(e))) }
    } catch (err) {
      throw toStoreError(err)
    }
  }

  async acknowledge (id: string, seq: number): Promise<void> {
    try {
      await this.redis.missiveAcknowledgeEvents(messageEventsKey(id), seq)
    } catch (err) {
      throw toStoreError(err)
    }
  }

  async schedule (id: string, at: number): Promise<void> {
    try {
      await this.redis.zadd(webhookScheduleKey, at, id)
    } catch (err) {
      throw toStoreError(err)
    }
  }

  async unschedule (id: string): Promise<void> {
    try {
      await this.redis.zrem(webhookScheduleKey, id)
    } catch (err) {
      throw toStoreError(err)
    }
  }

  async claimDue (now: number, leaseMs: number, limit: number): Promise<string[]> {
    try {
      return await this.redis.missiveClaimDue(webhookScheduleKey, now, leaseMs, limit)
    } catch (err) {
      throw toStoreError(err)
    }
  }

  async ping (): Promise<void> {
    try {
      await this.redis.ping()
    } catch (err) {
      throw toStoreError(err)
    }
  }

  async close (): Promise<void> {
    // The client belongs to the storage plugin, which quits it.
  }
}

/** With `receipt` (receipts on), the body starts with the header the scripts read (scripts.ts). */
function serialize (m: StoredMessage, receipt: { notify: boolean } | null): string {
  const h = receipt === null ? undefined : `${m.maxViews ?? ''},${receipt.notify ? 1 : 0}`
  const body: Body = m.readTokenHash === null
    ? { h, c: m.content, e: m.encrypted ? 1 : 0, t: m.createdAt, x: m.expiresAt, m: m.maxViews, o: m.owner, d: m.deleteTokenHash }
    : { r: m.readTokenHash, h, c: m.content, e: m.encrypted ? 1 : 0, t: m.createdAt, x: m.expiresAt, m: m.maxViews, o: m.owner, d: m.deleteTokenHash }
  return JSON.stringify(body)
}

function deserialize (id: string, raw: string): StoredMessage {
  const b = JSON.parse(raw) as Body
  return { id, content: b.c, encrypted: b.e === 1, createdAt: b.t, expiresAt: b.x, maxViews: b.m, owner: b.o, deleteTokenHash: b.d, readTokenHash: b.r ?? null }
}

/** A receipt hash (see scripts.ts for its fields); null when absent or not one of ours. */
function parseReceipt (id: string, f: Record<string, string>): StoredReceipt | null {
  if (f.t === undefined || f.x === undefined || f.d === undefined) return null
  const at = f.a === undefined ? null : Number(f.a)
  const state = f.s === 'b' ? 'burned' : f.s === 'd' ? 'deleted' : null
  return {
    id,
    createdAt: Number(f.t),
    expiresAt: Number(f.x),
    maxViews: f.m === undefined || f.m === '' ? null : Number(f.m),
    views: Number(f.v ?? 0),
    firstViewedAt: f.f === undefined ? null : Number(f.f),
    lastViewedAt: f.l === undefined ? null : Number(f.l),
    ended: state === null || at === null ? null : { state, at },
    owner: f.o === undefined || f.o === '' ? null : f.o,
    deleteTokenHash: f.d
  }
}
