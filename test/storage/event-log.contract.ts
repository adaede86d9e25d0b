import type { Test } from 'tap'
import { InvalidEventCursor } from '../../src/errors.js'
import { compareEventIds, type EventLog, type StoredSecurityEvent } from '../../src/storage/event-log.js'

export interface OpenedEventLog {
  /** an empty log keeping `max` events */
  log: EventLog
  /** how many events past `max` the log may keep (0: exactly max) */
  slack: number
  /** a second instance on the same store (another client to the same Redis); none in memory */
  other?: EventLog
}

export const event = (n: number, extra: Partial<StoredSecurityEvent> = {}): StoredSecurityEvent => ({
  type: 'auth.failure',
  at: new Date(1_700_000_000_000 + n).toISOString(),
  ip: `192.0.2.${n % 250}`,
  keyId: null,
  requestId: `req-${n}`,
  detail: { n, reason: 'invalid' },
  ...extra
})

/**
 * The one contract every event log keeps: memory and real Redis (test/storage/event-log.test.ts)
 * and a 3-master Redis Cluster (test/cluster/event-log.test.ts). `open(t, max)` gives an empty log.
 */
export function eventLogContract (t: Test, name: string, open: (t: Test, max: number) => Promise<OpenedEventLog>): void {
  t.test(`${name}: events come back oldest first, every field kept, ids increasing`, async (t) => {
    const { log } = await open(t, 100)
    t.same(await log.list(null, 10), { items: [], next: null }, 'empty')
    const full = event(1, { keyId: 'abcdefghijkl', detail: { s: 'x', n: 1.5, b: false, z: null } })
    const ids = [await log.append(full), await log.append(event(2)), await log.append(event(3, { ip: null, requestId: null, detail: {} }))]
    for (const id of ids) t.match(id, /^\d+-\d+$/)
    t.ok(compareEventIds(ids[0]!, ids[1]!) < 0 && compareEventIds(ids[1]!, ids[2]!) < 0, `increasing: ${ids.join(' ')}`)
    const page = await log.list(null, 10)
    t.same(page.items, [{ id: ids[0], ...full }, { id: ids[1], ...event(2) }, { id: ids[2], ...event(3, { ip: null, requestId: null, detail: {} }) }])
    t.equal(page.next, null, 'nothing more')
  })

  t.test(`${name}: many appends in one turn keep their order and distinct ids`, async (t) => {
    const { log } = await open(t, 1000)
    const ids = await Promise.all(Array.from({ length: 200 }, async (_, i) => await log.append(event(i))))
    t.equal(new Set(ids).size, 200)
    const items = (await log.list(null, 1000)).items
    t.same(items.map(e => e.id), [...ids].sort(compareEventIds))
    t.same(items.map(e => e.detail.n), Array.from({ length: 200 }, (_, i) => i), 'in the order of the calls')
  })

  t.test(`${name}: paging with after: next is the last id while there is more, then null`, async (t) => {
    const { log } = await open(t, 100)
    const ids: string[] = []
    for (let i = 0; i < 25; i++) ids.push(await log.append(event(i)))
    const seen: string[] = []
    let after: string | null = null
    let pages = 0
    for (;;) {
      const page = await log.list(after, 10)
      pages++
      seen.push(...page.items.map(e => e.id))
      if (page.next === null) break
      t.equal(page.next, page.items[page.items.length - 1]!.id)
      after = page.next
    }
    t.equal(pages, 3)
    t.same(seen, ids, 'every event once, in order')
    const exact = await log.list(ids[14]!, 10)
    t.same(exact.items.map(e => e.id), ids.slice(15, 25))
    t.equal(exact.next, null, 'a full page with nothing after it: null (nothing more right now)')
    t.same(await log.list(ids[24]!, 10), { items: [], next: null }, 'after the newest: empty')
    const later = await log.append(event(25))
    t.same((await log.list(ids[24]!, 10)).items.map(e => e.id), [later], 'a poller with the last id it saw gets what came since')
    t.same((await log.list('0-0', 1)).items.map(e => e.id), [ids[0]], 'after 0-0: from the oldest')
    t.same(await log.list('18446744073709551615-18446744073709551615', 5), { items: [], next: null }, 'after the largest id there can be')
  })

  t.test(`${name}: the cap holds; an after that was trimmed away starts from the oldest kept`, async (t) => {
    const max = 50
    const { log, slack } = await open(t, max)
    const ids: string[] = []
    for (let i = 0; i < 1000; i++) ids.push(await log.append(event(i)))
    const kept = (await log.list(null, 1000)).items
    t.ok(kept.length >= max && kept.length <= max + slack, `${kept.length} kept, max ${max} + slack ${slack}`)
    t.same(kept.map(e => e.id), ids.slice(ids.length - kept.length), 'the newest ones, in order')
    const fromTrimmed = await log.list(ids[0]!, 5)
    t.same(fromTrimmed.items.map(e => e.id), kept.slice(0, 5).map(e => e.id), 'after a trimmed id: from the oldest kept')
    t.equal(fromTrimmed.next, kept[4]!.id)
  })

  t.test(`${name}: a malformed after is InvalidEventCursor; a bad limit a RangeError`, async (t) => {
    const { log } = await open(t, 10)
    await log.append(event(1))
    for (const bad of ['', 'abc', '1', '1-', '-1', '1-2-3', '1-x', ' 1-1', '1-1\n', '(1-1', '+', '-', '99999999999999999999-0', '1-18446744073709551616', '1'.repeat(30) + '-0']) {
      await t.rejects(log.list(bad, 10), InvalidEventCursor, JSON.stringify(bad))
    }
    for (const limit of [0, -1, 1001, 1.5, Number.NaN]) await t.rejects(log.list(null, limit), RangeError, String(limit))
    t.equal((await log.list(null, 1000)).items.length, 1)
  })

  t.test(`${name}: two instances share one feed`, async (t) => {
    const { log, other } = await open(t, 100)
    if (other === undefined) { t.pass('one process only'); return }
    const a = await log.append(event(1))
    const b = await other.append(event(2))
    t.same((await other.list(null, 10)).items.map(e => e.id), [a, b])
    t.same((await log.list(a, 10)).items.map(e => e.id), [b])
  })
}
