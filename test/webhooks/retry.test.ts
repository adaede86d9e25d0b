import t from 'tap'
import { DISABLE_AFTER_MS, MAX_ATTEMPTS, nextDelayMs, RETRY_DELAYS_MS, RETRY_JITTER, retrySchedule, scheduleFor, type RetrySchedule } from '../../src/webhooks/retry.js'

/** The retry schedule of webhook deliveries (API.md section 9, issue 19). */

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** A seeded generator (mulberry32), so a failing draw can be replayed. */
function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Every delay of one event's life, from the first failed attempt until the schedule says stop. */
function delays (schedule: RetrySchedule, random: () => number): number[] {
  const out: number[] = []
  for (let made = 1; ; made++) {
    const delay = schedule.nextDelayMs(made, random)
    if (delay === null) return out
    out.push(delay)
    if (made > 1000) throw new Error('the schedule never ends')
  }
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
const lowest = (): number => 0
const highest = (): number => 1 - Number.EPSILON

t.test('at least 8 attempts over at least 24 hours, for any draw', async (t) => {
  t.ok(MAX_ATTEMPTS >= 8, `${MAX_ATTEMPTS} attempts`)
  t.equal(retrySchedule.maxAttempts, MAX_ATTEMPTS)
  t.equal(delays(retrySchedule, lowest).length, MAX_ATTEMPTS - 1, 'one delay before each attempt after the first')
  t.ok(sum(delays(retrySchedule, lowest)) >= DAY, `every delay at its lowest: ${(sum(delays(retrySchedule, lowest)) / HOUR).toFixed(1)} h`)
  t.ok(sum(delays(retrySchedule, highest)) <= 3 * DAY, `every delay at its highest: ${(sum(delays(retrySchedule, highest)) / HOUR).toFixed(1)} h`)
  let short = 0
  for (let seed = 1; seed <= 2000; seed++) {
    const d = delays(retrySchedule, seeded(seed))
    if (d.length + 1 < 8 || sum(d) < DAY) short++
  }
  t.equal(short, 0, '2000 random lives: none shorter than 8 attempts or 24 hours')
})

t.test('jitter stays within ±20% of the base delay, and actually varies', async (t) => {
  t.equal(RETRY_JITTER, 0.2)
  const random = seeded(42)
  let outside = 0
  for (let i = 0; i < 5000; i++) {
    const made = 1 + (i % RETRY_DELAYS_MS.length)
    const base = RETRY_DELAYS_MS[made - 1] as number
    const delay = nextDelayMs(made, random) as number
    if (delay < Math.floor(base * 0.8) || delay > Math.ceil(base * 1.2)) outside++
  }
  t.equal(outside, 0, '5000 draws within the bounds')
  t.equal(nextDelayMs(1, lowest), 4000, '5 s - 20%')
  t.equal(nextDelayMs(1, () => 0.5), 5000, 'the middle of the range is the base')
  t.equal(nextDelayMs(1, () => 1), 6000, '5 s + 20%')
  t.equal(nextDelayMs(1, () => 7), 6000, 'a random source out of range is clamped')
  t.equal(nextDelayMs(1, () => -3), 4000)
  const draws = new Set(Array.from({ length: 50 }, () => nextDelayMs(5)))
  t.ok(draws.size > 10, 'Math.random by default: the same attempt gets different delays')
})

t.test('the delays grow: each one longer than the one before, even with the worst draws', async (t) => {
  for (let i = 1; i < RETRY_DELAYS_MS.length; i++) {
    const previousHighest = retrySchedule.nextDelayMs(i, highest) as number
    const nextLowest = retrySchedule.nextDelayMs(i + 1, lowest) as number
    t.ok(nextLowest > previousHighest, `attempt ${i + 1}: ${nextLowest} > ${previousHighest}`)
  }
  t.ok((RETRY_DELAYS_MS[0] as number) <= 10_000, 'a blip is retried within seconds')
  t.ok((RETRY_DELAYS_MS.at(-1) as number) >= 12 * HOUR, 'the last waits half a day or more')
})

t.test('null once the budget is spent; attemptsMade counts from 1', async (t) => {
  t.type(nextDelayMs(MAX_ATTEMPTS - 1), 'number', 'before the last attempt')
  t.equal(nextDelayMs(MAX_ATTEMPTS), null, 'after the last attempt')
  t.equal(nextDelayMs(MAX_ATTEMPTS + 5), null)
  for (const bad of [0, -1, 1.5, Number.NaN]) t.throws(() => nextDelayMs(bad), RangeError, String(bad))
})

t.test('an endpoint failing for 5 days is disabled: longer than one event\'s whole budget', async (t) => {
  t.equal(DISABLE_AFTER_MS, 5 * DAY)
  t.equal(retrySchedule.disableAfterMs, DISABLE_AFTER_MS)
  t.ok(DISABLE_AFTER_MS > sum(delays(retrySchedule, highest)))
})

t.test('a scaled schedule for tests: same shape, milliseconds instead of hours', async (t) => {
  const fast = scheduleFor({ scale: 1e-5 })
  t.equal(fast.maxAttempts, MAX_ATTEMPTS, 'the same number of attempts')
  t.equal(fast.nextDelayMs(10, () => 0.5), 864, 'the 24 h delay becomes 864 ms')
  t.equal(fast.nextDelayMs(1, lowest), 1, 'never under 1 ms')
  t.equal(fast.disableAfterMs, Math.round(DISABLE_AFTER_MS * 1e-5), 'the disable threshold scales too')
  t.ok(sum(delays(fast, highest)) < 3000, 'the whole budget within a test\'s patience')
  t.equal(fast.nextDelayMs(MAX_ATTEMPTS), null)
  for (const scale of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) t.throws(() => scheduleFor({ scale }), RangeError, String(scale))
})
