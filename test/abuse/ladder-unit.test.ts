import t from 'tap'
import { factorFor, scaledBudget } from '../../src/abuse/adaptive.js'
import { clientAddress } from '../../src/abuse/client-address.js'
import { blockDurationMs, LADDER_DURATIONS_MS, LADDER_MEMORY_MS } from '../../src/abuse/ladder.js'
import { offenceWeights, SCORE_THRESHOLD } from '../../src/abuse/offences.js'
import { decayScore, ladderLevel, type ScoreRule } from '../../src/storage/abuse-store.js'

t.test('clientAddress: IPv4 as is, IPv6 by its /64, IPv4-mapped as its IPv4', async (t) => {
  t.equal(clientAddress('203.0.113.7'), '203.0.113.7')
  t.equal(clientAddress('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(clientAddress('2001:db8:1:2::1'), '2001:db8:1:2::/64')
  t.equal(clientAddress('2001:DB8:1:2::ffff'), '2001:db8:1:2::/64', 'one spelling per network')
  t.equal(clientAddress('2001:db8::1'), '2001:db8::/64')
  t.equal(clientAddress('::1'), '::/64')
  t.equal(clientAddress('::ffff:203.0.113.7'), '203.0.113.7')
  t.equal(clientAddress('::ffff:cb00:7107'), '203.0.113.7')
  t.equal(clientAddress('not an address'), 'not an address', 'a stray value is its own client')
})

t.test('the ladder: 1 min, 5 min, 30 min, 2 h, 24 h; back to the bottom after a quiet day', async (t) => {
  t.same([1, 2, 3, 4, 5, 6].map((level) => blockDurationMs(level)), [60_000, 300_000, 1_800_000, 7_200_000, 86_400_000, 86_400_000])
  const rule: ScoreRule = { threshold: 100, halfLifeMs: 600_000, memoryMs: LADDER_MEMORY_MS, durationsMs: LADDER_DURATIONS_MS }
  const nextLevel = (level: number, lastBlockEnd: number, now: number): number => ladderLevel(level, lastBlockEnd, now, rule)
  t.equal(nextLevel(0, 0, 1_000), 1)
  t.equal(nextLevel(1, 0, 1_000), 2)
  t.equal(nextLevel(4, 0, 1_000), 5)
  t.equal(nextLevel(5, 0, 1_000), 5, 'the top rung repeats')
  t.equal(nextLevel(3, 0, LADDER_MEMORY_MS - 1), 4, 'within a day of the last block\'s end')
  t.equal(nextLevel(3, 0, LADDER_MEMORY_MS), 1, 'a day after it')
})

t.test('scores halve for each whole half-life of quiet', async (t) => {
  t.equal(decayScore(80, 0, 600_000), 80)
  t.equal(decayScore(80, 599_999, 600_000), 80, 'no decay within the first half-life')
  t.equal(decayScore(80, 600_000, 600_000), 40)
  t.equal(decayScore(80, 1_800_000, 600_000), 10)
  t.equal(decayScore(0, 5, 600_000), 0)
})

t.test('weights: the lockout trips before the score for any AUTH_FAILURE_MAX; a person\'s slips stay under the threshold', async (t) => {
  for (const max of [1, 3, 10, 50, 1000]) {
    const w = offenceWeights(max)
    t.ok(w['auth-failure'] * (max + 1) + w.lockout < SCORE_THRESHOLD, `AUTH_FAILURE_MAX ${max}: ${max + 1} failures and the lockout stay under the threshold`)
  }
  const w = offenceWeights(10)
  t.same(w, { 'auth-failure': 100 / 21, lockout: 25, 'not-found': 2, malformed: 2, 'rate-limited': 2, replay: 5 })
  t.ok(5 * (w['not-found'] + w['auth-failure'] + w.malformed + w['rate-limited']) < SCORE_THRESHOLD, 'five of each')
  t.equal(SCORE_THRESHOLD / w['not-found'], 50, 'an enumerator: 50 misses')
})

t.test('adaptive: the factor steps down under pressure and budgets never reach 0', async (t) => {
  t.same([0, 0.1, 0.25, 0.4, 0.5, 0.99, 5, Number.NaN].map(factorFor), [1, 1, 0.5, 0.5, 0.25, 0.25, 0.25, 1])
  t.equal(scaledBudget(30, 1), 30)
  t.equal(scaledBudget(30, 0.5), 15)
  t.equal(scaledBudget(30, 0.25), 7)
  t.equal(scaledBudget(1, 0.25), 1)
})
