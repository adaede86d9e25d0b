/**
 * The security event feed's store (API.md section 8, `GET /api/v1/security/events`): the last
 * `max` events, oldest first, shared by every instance. A Redis Stream (XADD … MAXLEN ~) and an
 * in-memory ring pass the same contract tests (test/storage/event-log.contract.ts).
 *
 * Ids are opaque strings that increase with every append (in the order `list` gives), in the
 * form `<integer>-<integer>` on both stores (a Redis Stream id; the ring uses `<ms>-<seq>`
 * too), so a reader may keep the last one it saw across restarts and instances of the same
 * store. `list(after)` gives the events with an id greater than `after`: when `after` has been
 * trimmed away (older than the oldest kept), the page starts from the oldest event kept; an
 * `after` that is newer than the newest event gives an empty page. An id that is not of the
 * form `\d+-\d+` is a caller's error: InvalidEventCursor (400), checked before the store is
 * asked. Failures of the store reject with StoreUnavailable (503) or StorageFull (507).
 */

/** One event as it is stored, minus its id (built by src/abuse/events.ts, which refuses secrets). */
export interface StoredSecurityEvent {
  readonly type: string
  /** ISO 8601 */
  readonly at: string
  readonly ip: string | null
  readonly keyId: string | null
  readonly requestId: string | null
  readonly detail: Readonly<Record<string, string | number | boolean | null>>
}

/** An event as the feed serves it. */
export interface SecurityEventRecord extends StoredSecurityEvent {
  readonly id: string
}

export interface EventPage {
  /** oldest first, at most `limit` */
  readonly items: SecurityEventRecord[]
  /**
   * the id to pass as `after` for the next page: the last item's id when the page is full
   * (there may be more), null when the page is not full (nothing more right now; a poller
   * then keeps the last item's id, or its previous `after` when the page is empty)
   */
  readonly next: string | null
}

export interface EventLog {
  /** Appends one event and keeps only the last `max` (exactly on memory, about on Redis); resolves to its id. */
  append (event: StoredSecurityEvent): Promise<string>
  /** Up to `limit` (1..1000) events with an id greater than `after` (null: from the oldest kept), oldest first. */
  list (after: string | null, limit: number): Promise<EventPage>
  close (): Promise<void>
}

/** the form of every event id */
export const EVENT_ID_PATTERN = '^[0-9]{1,20}-[0-9]{1,20}$'
const EVENT_ID = new RegExp(EVENT_ID_PATTERN)

/** the largest `limit` a page may ask for */
export const EVENT_PAGE_MAX = 1000

/** the largest part of a stream id: 2^64 - 1 */
export const EVENT_ID_PART_MAX = '18446744073709551615'
/** the largest event id there can be */
export const EVENT_ID_MAX = `${EVENT_ID_PART_MAX}-${EVENT_ID_PART_MAX}`

/** `<ms>-<seq>`, each part a decimal integer of at most 2^64 - 1 (what a Redis Stream accepts) */
export function isEventId (value: string): boolean {
  if (!EVENT_ID.test(value)) return false
  const [ms, seq] = value.split('-') as [string, string]
  return compareDecimal(ms, EVENT_ID_PART_MAX) <= 0 && compareDecimal(seq, EVENT_ID_PART_MAX) <= 0
}

/** `a` compared with `b`, two valid event ids: negative, 0 or positive. */
export function compareEventIds (a: string, b: string): number {
  const [ams, aseq] = a.split('-') as [string, string]
  const [bms, bseq] = b.split('-') as [string, string]
  const byMs = compareDecimal(ams, bms)
  return byMs !== 0 ? byMs : compareDecimal(aseq, bseq)
}

function compareDecimal (a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '')
  const y = b.replace(/^0+(?=\d)/, '')
  if (x.length !== y.length) return x.length - y.length
  return x < y ? -1 : x > y ? 1 : 0
}

/** A RangeError unless limit is an integer in 1..EVENT_PAGE_MAX (the route's schema checks it first). */
export function checkEventLimit (limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > EVENT_PAGE_MAX) throw new RangeError(`event page limit must be 1..${EVENT_PAGE_MAX}, not ${limit}`)
  return limit
}
