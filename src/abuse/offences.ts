/**
 * What an address can do wrong, and what each costs (API.md section 8). An address whose
 * suspicion score reaches SCORE_THRESHOLD is blocked (src/abuse/ladder.ts says how long); the
 * score halves every SCORE_HALF_LIFE_MS while the address behaves.
 *
 * Why these numbers (the README's "Under attack" repeats them):
 * - A person mistypes a link or a key a handful of times, makes a few malformed requests while
 *   trying the API, and retries a few times while limited: about 5 of each is 5·2 + 5·4.76 + 5·2 + 5·2
 *   ≈ 54, under the threshold with room to spare. A test holds that allowance.
 * - An enumerator guessing message ids needs astronomically many guesses (ids are 128 random
 *   bits); 50 misses within minutes block it, and the ladder makes each next try cost more.
 * - A credential stuffer meets the AUTH_FAILURE_MAX lockout (the first rung, 10 failures per
 *   15 minutes by default) long before the score: a failure weighs THRESHOLD ÷ (2 ·
 *   AUTH_FAILURE_MAX + 1) (4.76 by default; a fraction for a large AUTH_FAILURE_MAX), so the lockout's 429 (and its probe-visible contract) always comes first,
 *   and the ladder takes over when the address keeps going while locked out (each request
 *   sent while limited is an offence too) or comes back for another round: tripping the
 *   lockout weighs a quarter of the threshold, so a second lockout within the score's memory
 *   blocks (10 failures ≈ 48, a lockout 25: about 73 a round, halved by each quiet 10 minutes).
 * - A replayed DPoP proof or signature nonce is a failed authentication and one more offence:
 *   about 10 points in all, so ten of them block, while a client whose library retried a
 *   request with the same proof once or twice is not.
 */
export const OFFENCE_KINDS = ['auth-failure', 'lockout', 'not-found', 'malformed', 'rate-limited', 'replay'] as const
export type OffenceKind = typeof OFFENCE_KINDS[number]

export const SCORE_THRESHOLD = 100
export const SCORE_HALF_LIFE_MS = 10 * 60 * 1000

/** The weight of each offence; `auth-failure` follows AUTH_FAILURE_MAX (see above). */
export function offenceWeights (authFailureMax: number): Readonly<Record<OffenceKind, number>> {
  return Object.freeze({
    'auth-failure': SCORE_THRESHOLD / (2 * authFailureMax + 1),
    // tripping the AUTH_FAILURE_MAX lockout (once per lockout): a stuffer who waits out each
    // 15-minute window and starts again climbs the ladder at its second lockout
    lockout: SCORE_THRESHOLD / 4,
    // a 404 on a message read: a guessed or stale id
    'not-found': 2,
    // a 400, 413 or 415
    malformed: 2,
    // a request sent while rate limited or locked out (a 429 other than BLOCKED)
    'rate-limited': 2,
    // a DPoP jti or signature nonce seen before (on top of the failed authentication it also is)
    replay: 5
  })
}
