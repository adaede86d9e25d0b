import t from 'tap'
import { isoTime } from '../src/iso-time.js'

t.test('isoTime writes what Date#toISOString writes', async (t) => {
  const edges = [
    0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000,
    951_782_400_000, 951_868_799_999, 951_868_800_000, // 2000-02-29 (a leap day in a century year)
    4_107_542_400_000, // 2100-03-01 (2100 is not a leap year)
    1_795_392_000_000, Date.now(), 253_402_300_799_999
  ]
  for (const ms of edges) t.equal(isoTime(ms), new Date(ms).toISOString(), String(ms))
  let mismatches = 0
  for (let i = 0; i < 200_000; i++) {
    const ms = Math.floor(Math.random() * 253_402_300_800_000)
    if (isoTime(ms) !== new Date(ms).toISOString()) mismatches++
  }
  t.equal(mismatches, 0, '200 000 random times from 1970 to 9999')
})

t.test('outside four-digit years or whole milliseconds it falls back to Date', async (t) => {
  for (const ms of [-1, -86_400_001, 253_402_300_800_000, 1.5]) t.equal(isoTime(ms), new Date(ms).toISOString(), String(ms))
  t.throws(() => isoTime(Number.NaN), RangeError, 'an invalid time throws as toISOString does')
})
