/**
 * The penalty ladder (API.md section 8): an address that reaches the score threshold is blocked
 * for 1 minute; blocked again within 24 hours of the end of its last block, for 5 minutes, then
 * 30 minutes, 2 hours and 24 hours (the top rung repeats). 24 hours after its last block ended
 * without a new one, it starts again at the bottom: that is how the level decays when the
 * address behaves.
 *
 * The per-address auth-failure lockout (AUTH_FAILURE_MAX failures in 15 minutes → 429 for the
 * authenticating routes only) is the rung below these: narrow and quick to trip. Pure functions;
 * the store applies them atomically (src/storage/*-abuse-store.ts).
 */
export const LADDER_SECONDS = [60, 5 * 60, 30 * 60, 2 * 60 * 60, 24 * 60 * 60] as const
export const LADDER_MEMORY_MS = 24 * 60 * 60 * 1000

/** The ladder as the stores apply it (src/storage/abuse-store.ts ScoreRule). */
export const LADDER_DURATIONS_MS: readonly number[] = LADDER_SECONDS.map((seconds) => seconds * 1000)

/** How long a block of `level` lasts, in ms (on the ladder `durationsMs`, the top rung repeating). */
export function blockDurationMs (level: number, durationsMs: readonly number[] = LADDER_DURATIONS_MS): number {
  const index = Math.min(Math.max(level, 1), durationsMs.length) - 1
  return durationsMs[index]!
}
