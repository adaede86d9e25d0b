/**
 * Adaptive limits (API.md section 8): while the process is under pressure, but before it
 * sheds load with 503 (plugins/under-pressure.ts), the anonymous budgets shrink by a factor;
 * authenticated keys keep theirs (they are known, accountable and already limited per key).
 *
 * The signal is the event-loop delay under-pressure measures, as a fraction of the delay at
 * which it starts answering 503. Why those steps: below a quarter of the shedding point the
 * server keeps up and nothing changes; between a quarter and a half the anonymous budgets are
 * halved, from a half on they are a quarter, so anonymous traffic is pushed back well before
 * every client (keys included) would get 503s. A factor changes at most once per sample, and
 * goes back up as soon as a sample is calm again (no hysteresis: samples are a second apart).
 */
export const ADAPTIVE_STEPS: ReadonlyArray<{ readonly pressure: number, readonly factor: number }> = [
  { pressure: 0.5, factor: 0.25 },
  { pressure: 0.25, factor: 0.5 }
]

/** the factor for a pressure (event-loop delay ÷ the 503 threshold) */
export function factorFor (pressure: number): number {
  if (!Number.isFinite(pressure)) return 1
  for (const step of ADAPTIVE_STEPS) if (pressure >= step.pressure) return step.factor
  return 1
}

/** a budget scaled by the factor, never below one request */
export function scaledBudget (max: number, factor: number): number {
  return factor === 1 ? max : Math.max(1, Math.floor(max * factor))
}

export class AdaptiveLimits {
  private current = 1

  /** Records a pressure sample; returns the factor now in force. */
  observe (pressure: number): number {
    this.current = factorFor(pressure)
    return this.current
  }

  /** the factor in force: 1, 0.5 or 0.25 (a field read, per request) */
  factor (): number {
    return this.current
  }
}
