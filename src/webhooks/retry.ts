/**
 * When to try a webhook delivery again (API.md section 9, issue 19): exponential backoff with
 * jitter, at least 8 attempts over at least 24 hours, then the delivery is `failed`.
 *
 * The first attempt is immediate; after the n-th failed attempt the next one waits
 * RETRY_DELAYS_MS[n-1], give or take 20%: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h,
 * 24 h. That is 11 attempts over about 47 hours (at least 37 h with every delay at its lowest):
 * quick retries for a blip, then a day and more for a receiver that is down or being deployed.
 *
 * Jitter: ±20% rather than "full jitter" (a delay anywhere in [0, base]). Both spread the retries
 * of many events that failed together (one receiver outage) so they do not all come back at the
 * same instant. Full jitter, though, can draw every delay near zero and spend the whole budget in
 * minutes, breaking the 24-hour promise the contract makes; bounded jitter keeps the schedule
 * what the README says it is. Each base delay is at least twice the one before, so with ±20% the
 * delays still strictly grow.
 */

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** The wait after the 1st, 2nd, … failed attempt, before jitter. */
export const RETRY_DELAYS_MS: readonly number[] = Object.freeze([
  5 * SECOND, 30 * SECOND, 2 * MINUTE, 10 * MINUTE, 30 * MINUTE,
  HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY
])

/** Each delay is its base times a factor drawn uniformly in [1 - RETRY_JITTER, 1 + RETRY_JITTER]. */
export const RETRY_JITTER = 0.2

/** Attempts per event: the first one plus one per delay. */
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1

/**
 * An endpoint whose deliveries have failed without a single success for this long is disabled
 * (and the security feed told). It is about the endpoint, not one event: longer than one
 * event's whole retry budget, so a receiver down over a long weekend keeps its endpoint.
 */
export const DISABLE_AFTER_MS = 5 * DAY

/** What a gap between two attempts holds besides the delay: the attempt itself (10 s at most) and the queue's pick-up. */
const NEW_RUN_MARGIN_MS = 70 * SECOND

export interface RetryTiming {
  /**
   * Every delay (and DISABLE_AFTER_MS) multiplied by this: 1 in production; tests pass a
   * small factor, e.g. 1e-5 makes the 24 h delay 864 ms and the whole budget under 2 s.
   * A scaled delay is never under 1 ms.
   */
  scale: number
}

export interface RetrySchedule {
  /** attempts per event, the first included */
  readonly maxAttempts: number
  /** DISABLE_AFTER_MS, scaled */
  readonly disableAfterMs: number
  /**
   * A failure this long after an endpoint's last one starts a new run of failures: the longest
   * delay with its jitter (scaled), plus an attempt's time and a minute for the queue to pick it
   * up (not scaled). While an endpoint is down and any event is pending, its attempts come
   * closer together than that; a longer gap means nothing was tried.
   */
  readonly newRunAfterMs: number
  /**
   * How long to wait after `attemptsMade` attempts (1 after the first) have failed, or null
   * when that was the last one. `random` returns a number in [0, 1), as Math.random does.
   */
  nextDelayMs: (attemptsMade: number, random?: () => number) => number | null
}

export function scheduleFor (timing: RetryTiming): RetrySchedule {
  const { scale } = timing
  if (!Number.isFinite(scale) || scale <= 0) throw new RangeError('the retry scale must be a positive number')
  return {
    maxAttempts: MAX_ATTEMPTS,
    disableAfterMs: Math.max(1, Math.round(DISABLE_AFTER_MS * scale)),
    newRunAfterMs: Math.max(1, Math.round(Math.max(...RETRY_DELAYS_MS) * (1 + RETRY_JITTER) * scale)) + NEW_RUN_MARGIN_MS,
    nextDelayMs (attemptsMade, random = Math.random) {
      if (!Number.isSafeInteger(attemptsMade) || attemptsMade < 1) throw new RangeError('attemptsMade counts the attempts made: 1 or more')
      const base = RETRY_DELAYS_MS[attemptsMade - 1]
      if (base === undefined) return null
      // Clamped, so a random source outside [0, 1) cannot push a delay past the jitter bounds.
      const r = Math.min(1, Math.max(0, random()))
      const factor = 1 - RETRY_JITTER + 2 * RETRY_JITTER * r
      return Math.max(1, Math.round(base * factor * scale))
    }
  }
}

/** The production schedule. */
export const retrySchedule: RetrySchedule = scheduleFor({ scale: 1 })

/** The production schedule's next delay: see RetrySchedule.nextDelayMs. */
export function nextDelayMs (attemptsMade: number, random: () => number = Math.random): number | null {
  return retrySchedule.nextDelayMs(attemptsMade, random)
}
