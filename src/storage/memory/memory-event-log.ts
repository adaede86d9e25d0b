import { InvalidEventCursor } from '../../errors.js'
import { checkEventLimit, compareEventIds, type EventLog, type EventPage, isEventId, type SecurityEventRecord, type StoredSecurityEvent } from '../event-log.js'

export interface MemoryEventLogOptions {
  /** how many events are kept: exactly the last `max` (SECURITY_EVENTS_MAX) */
  readonly max: number
  readonly now?: () => number
}

/**
 * The feed in this process: a ring of exactly `max` events. Ids are `<ms>-<seq>` like a Redis
 * Stream's (the time of the append, never going back, and a sequence within the millisecond),
 * so they increase with every append and compare like the Redis ones.
 */
export class MemoryEventLog implements EventLog {
  readonly #max: number
  readonly #now: () => number
  readonly #ring: Array<SecurityEventRecord | undefined>
  /** index in #ring of the oldest event kept */
  #start = 0
  #size = 0
  #lastMs = 0
  #lastSeq = -1

  constructor (options: MemoryEventLogOptions) {
    if (!Number.isInteger(options.max) || options.max < 1) throw new RangeError(`the event log keeps at least 1 event, not ${options.max}`)
    this.#max = options.max
    this.#now = options.now ?? Date.now
    this.#ring = new Array(this.#max)
  }

  async append (event: StoredSecurityEvent): Promise<string> {
    const ms = Math.max(Math.floor(this.#now()), this.#lastMs)
    const seq = ms === this.#lastMs ? this.#lastSeq + 1 : 0
    this.#lastMs = ms
    this.#lastSeq = seq
    const id = `${ms}-${seq}`
    const record: SecurityEventRecord = { id, ...event }
    if (this.#size < this.#max) {
      this.#ring[(this.#start + this.#size) % this.#max] = record
      this.#size++
    } else {
      this.#ring[this.#start] = record
      this.#start = (this.#start + 1) % this.#max
    }
    return id
  }

  async list (after: string | null, limit: number): Promise<EventPage> {
    if (after !== null && !isEventId(after)) throw new InvalidEventCursor()
    checkEventLimit(limit)
    const first = after === null ? 0 : this.#firstAfter(after)
    const items: SecurityEventRecord[] = []
    for (let i = first; i < this.#size && items.length < limit; i++) items.push(this.#at(i))
    const more = first + items.length < this.#size
    return { items, next: more ? (items[items.length - 1] as SecurityEventRecord).id : null }
  }

  async close (): Promise<void> {
    // nothing to release
  }

  #at (index: number): SecurityEventRecord {
    return this.#ring[(this.#start + index) % this.#max] as SecurityEventRecord
  }

  /** the logical index of the first event with an id greater than `after` (binary search: ids are sorted) */
  #firstAfter (after: string): number {
    let low = 0
    let high = this.#size
    while (low < high) {
      const mid = (low + high) >>> 1
      if (compareEventIds(this.#at(mid).id, after) <= 0) low = mid + 1
      else high = mid
    }
    return low
  }
}
