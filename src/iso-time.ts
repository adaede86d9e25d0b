// Date#toISOString costs about 0.8 µs (a call into the runtime); every message response
// carries two timestamps. This formats the same string in arithmetic, about 0.2 µs.

const pad2 = (n: number): string => n < 10 ? `0${n}` : `${n}`
const pad3 = (n: number): string => n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`
const DAY_MS = 86_400_000
/** 9999-12-31T23:59:59.999Z: past it toISOString switches to six-digit years. */
const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999

/** The same string as `new Date(ms).toISOString()`, for a time in milliseconds since the epoch. */
export function isoTime (ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > LAST_FOUR_DIGIT_YEAR_MS) return new Date(ms).toISOString()
  const days = Math.floor(ms / DAY_MS)
  let rest = ms - days * DAY_MS
  // Year, month and day from days since 1970-01-01 (Howard Hinnant's civil_from_days).
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const dayOfEra = z - era * 146_097
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365)
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100))
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153)
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
  const hours = Math.floor(rest / 3_600_000)
  rest -= hours * 3_600_000
  const minutes = Math.floor(rest / 60_000)
  rest -= minutes * 60_000
  const seconds = Math.floor(rest / 1000)
  return `${year}-${pad2(month)}-${pad2(day)}T${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${pad3(rest - seconds * 1000)}Z`
}
