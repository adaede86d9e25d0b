import t from 'tap'
import { endOf, keptUntil, newReceipt, receiptView, withDelete, withView } from '../../src/receipts/receipt.js'

/** The receipt rules (issue 19), before any store applies them. */

const T0 = Date.parse('2026-12-05T10:00:00.000Z')
const MINUTE = 60_000
const base = newReceipt({ id: 'q3Jx0mM1b9Vh8ZlOeJk1xA', createdAt: T0, expiresAt: T0 + 60 * MINUTE, maxViews: 2, owner: null, deleteTokenHash: 'h' })
const iso = (ms: number): string => new Date(ms).toISOString()

t.test('a new receipt is live with no view', async (t) => {
  t.same(receiptView(base, T0 + MINUTE), {
    id: base.id,
    state: 'live',
    createdAt: iso(T0),
    expiresAt: iso(T0 + 60 * MINUTE),
    maxViews: 2,
    views: 0,
    firstViewedAt: null,
    lastViewedAt: null,
    endedAt: null
  })
  t.notOk('deleteTokenHash' in receiptView(base, T0), 'the view holds no secret')
})

t.test('views count, the first and last times are kept, the last view burns it', async (t) => {
  const once = withView(base, T0 + MINUTE, 1)
  t.match(receiptView(once, T0 + 2 * MINUTE), { state: 'live', views: 1, firstViewedAt: iso(T0 + MINUTE), lastViewedAt: iso(T0 + MINUTE), endedAt: null })
  const twice = withView(once, T0 + 5 * MINUTE, 0)
  t.match(receiptView(twice, T0 + 6 * MINUTE), { state: 'burned', views: 2, firstViewedAt: iso(T0 + MINUTE), lastViewedAt: iso(T0 + 5 * MINUTE), endedAt: iso(T0 + 5 * MINUTE) })
  t.match(receiptView(twice, T0 + 120 * MINUTE), { state: 'burned' }, 'still burned after expiresAt: it ended before')
  const unlimited = withView(newReceipt({ ...base, maxViews: null }), T0 + MINUTE, null)
  t.match(receiptView(unlimited, T0 + 2 * MINUTE), { state: 'live', maxViews: null, views: 1 })
})

t.test('expired needs no timer: it is what a live receipt says once expiresAt has passed', async (t) => {
  const once = withView(base, T0 + MINUTE, 1)
  t.match(receiptView(once, T0 + 60 * MINUTE - 1), { state: 'live', endedAt: null })
  t.match(receiptView(once, T0 + 60 * MINUTE), { state: 'expired', views: 1, endedAt: iso(T0 + 60 * MINUTE) })
})

t.test('a delete ends it; the retention counts from the end', async (t) => {
  const deleted = withDelete(withView(base, T0 + MINUTE, 1), T0 + 10 * MINUTE)
  t.match(receiptView(deleted, T0 + 11 * MINUTE), { state: 'deleted', views: 1, endedAt: iso(T0 + 10 * MINUTE) })
  t.equal(endOf(deleted), T0 + 10 * MINUTE)
  t.equal(keptUntil(deleted, 7 * 24 * 60 * MINUTE), T0 + 10 * MINUTE + 7 * 24 * 60 * MINUTE)
  t.equal(keptUntil(base, 1000), T0 + 60 * MINUTE + 1000, 'a live one: from its expiry')
})
