import type { Cluster, Redis } from 'ioredis'
import { InvalidEventCursor } from '../../errors.js'
import { checkEventLimit, compareEventIds, EVENT_ID_MAX, type EventLog, type EventPage, isEventId, type SecurityEventRecord, type StoredSecurityEvent } from '../event-log.js'
import { guarded } from '../store-errors.js'
import { securityEventsKey } from './keys.js'

/**
 * How far past `max` the stream may grow: `XADD … MAXLEN ~` lets Redis drop only whole
 * macro nodes of the stream (stream-node-max-entries, 100 by default), so the stream holds
 * at least `max` events and at most about `max` + one node. Documented in the README.
 */
export const REDIS_EVENT_LOG_SLACK = 100

/**
 * The feed in Redis: one Stream, `{missive-events}:stream` (one slot on a Cluster).
 * `XADD key MAXLEN ~ max * type … at … [ip …] [keyId …] [requestId …] detail <json>`: the stream
 * id is the event id (Redis makes it from its clock and never lets it go back), the append
 * and the trim are one command, so every instance shares one order and one cap.
 * `XRANGE key (after + COUNT limit+1` reads a page; one event more than asked tells whether
 * there is a next page. Any failure of Redis: StoreUnavailable (503) or StorageFull (507).
 */
export class RedisEventLog implements EventLog {
  constructor (private readonly redis: Redis | Cluster, private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`the event log keeps at least 1 event, not ${max}`)
  }

  async append (event: StoredSecurityEvent): Promise<string> {
    const fields: string[] = ['type', event.type, 'at', event.at]
    if (event.ip !== null) fields.push('ip', event.ip)
    if (event.keyId !== null) fields.push('keyId', event.keyId)
    if (event.requestId !== null) fields.push('requestId', event.requestId)
    fields.push('detail', JSON.stringify(event.detail))
    const id = await guarded(async () => await this.redis.xadd(securityEventsKey, 'MAXLEN', '~', this.max, '*', ...fields))
    if (id === null) throw new Error('XADD returned no id')
    return id
  }

  async list (after: string | null, limit: number): Promise<EventPage> {
    if (after !== null && !isEventId(after)) throw new InvalidEventCursor()
    checkEventLimit(limit)
    // `(` of the largest id there can be is an error in Redis: nothing can come after it.
    if (after !== null && compareEventIds(after, EVENT_ID_MAX) >= 0) return { items: [], next: null }
    const start = after === null ? '-' : `(${after}`
    const entries = await guarded(async () => await this.redis.xrange(securityEventsKey, start, '+', 'COUNT', limit + 1))
    const items = entries.slice(0, limit).map(([id, fields]) => toRecord(id, fields))
    return { items, next: entries.length > limit ? (items[items.length - 1] as SecurityEventRecord).id : null }
  }

  async close (): Promise<void> {
    // The client belongs to whoever made it (the storage plugin).
  }
}

function toRecord (id: string, fields: string[]): SecurityEventRecord {
  const values = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i] as string, fields[i + 1] as string)
  let detail: Record<string, string | number | boolean | null> = {}
  try {
    const parsed: unknown = JSON.parse(values.get('detail') ?? '{}')
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) detail = parsed as typeof detail
  } catch {
    // an entry written by something else: served without its detail
  }
  return {
    id,
    type: values.get('type') ?? 'unknown',
    at: values.get('at') ?? new Date(Number(id.split('-')[0])).toISOString(),
    ip: values.get('ip') ?? null,
    keyId: values.get('keyId') ?? null,
    requestId: values.get('requestId') ?? null,
    detail
  }
}
