// Accepted findings: {"version":1,"accepted":[{"check","route"?,"reason","expires"}]}.
// Each needs a reason and an expiry date (YYYY-MM-DD): an accepted risk is revisited, never
// forgotten. An expired entry no longer accepts anything, so the finding fails the run again.
import { readFileSync } from 'node:fs'

export interface BaselineEntry { check: string, route?: string, reason: string, expires: string }
export interface Baseline { version: 1, accepted: BaselineEntry[] }

export class BaselineError extends Error { override name = 'BaselineError' }

export function parseBaseline (text: string): Baseline {
  let doc: unknown
  try { doc = JSON.parse(text) } catch { throw new BaselineError('the baseline is not JSON') }
  const d = doc as { version?: unknown, accepted?: unknown }
  if (d === null || typeof d !== 'object' || d.version !== 1 || !Array.isArray(d.accepted)) {
    throw new BaselineError('the baseline must be {"version": 1, "accepted": [...]}')
  }
  const accepted = d.accepted.map((raw: unknown, i: number): BaselineEntry => {
    const e = raw as Partial<Record<keyof BaselineEntry, unknown>>
    const where = `baseline accepted[${i}]`
    if (e === null || typeof e !== 'object') throw new BaselineError(`${where} is not an object`)
    if (typeof e.check !== 'string' || !/^MSV-[A-Z]+-\d{3}$/.test(e.check)) throw new BaselineError(`${where}.check must be a check id such as MSV-HDR-002`)
    if (typeof e.reason !== 'string' || e.reason.trim() === '') throw new BaselineError(`${where}.reason is required`)
    if (typeof e.expires !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(e.expires) || Number.isNaN(Date.parse(e.expires))) {
      throw new BaselineError(`${where}.expires must be a date, YYYY-MM-DD`)
    }
    if (e.route !== undefined && typeof e.route !== 'string') throw new BaselineError(`${where}.route must be a string`)
    return { check: e.check, reason: e.reason, expires: e.expires, ...(e.route === undefined ? {} : { route: e.route as string }) }
  })
  return { version: 1, accepted }
}

export function loadBaseline (file: string): Baseline {
  let text: string
  try { text = readFileSync(file, 'utf8') } catch (err) { throw new BaselineError(`cannot read the baseline ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`) }
  return parseBaseline(text)
}

export type Acceptance = { state: 'new' } | { state: 'accepted' | 'expired', entry: BaselineEntry }

/** Whether a failure of `check` (on `route`) is accepted at `now`; an entry without route accepts every route. */
export function acceptance (baseline: Baseline | null, check: string, route: string | undefined, now: Date): Acceptance {
  const entry = baseline?.accepted.find((e) => e.check === check && (e.route === undefined || e.route === route))
  if (entry === undefined) return { state: 'new' }
  // The expiry day itself is still accepted (until its end, UTC).
  const expired = now.getTime() >= Date.parse(entry.expires) + 86_400_000
  return { state: expired ? 'expired' : 'accepted', entry }
}
