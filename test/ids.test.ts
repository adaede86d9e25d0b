import t from 'tap'
import { hashToken, isMessageId, newDeleteToken, newMessageId, randomBase64url, sameHash } from '../src/ids.js'

t.test('message ids: 128 random bits as 22 base64url chars, never repeated', async (t) => {
  const ids = new Set<string>()
  // Enough to cross several refills of the 8 KiB pool.
  for (let i = 0; i < 5000; i++) ids.add(newMessageId())
  t.equal(ids.size, 5000)
  t.ok([...ids].every(isMessageId), 'all well-formed')
  t.equal(Buffer.from([...ids][0] as string, 'base64url').length, 16)
})

t.test('delete tokens: 256 random bits, 43 chars, never repeated', async (t) => {
  const tokens = new Set(Array.from({ length: 2000 }, () => newDeleteToken()))
  t.equal(tokens.size, 2000)
  t.ok([...tokens].every((token) => /^[A-Za-z0-9_-]{43}$/.test(token)), 'all 43 base64url chars')
})

t.test('pooled bytes look uniform (no zeroed or repeated regions)', async (t) => {
  const bytes = Buffer.concat(Array.from({ length: 4096 }, () => Buffer.from(randomBase64url(64), 'base64url')))
  const counts = new Array(256).fill(0)
  for (const byte of bytes) counts[byte]++
  const expected = bytes.length / 256
  // Chi-square with 255 degrees of freedom: far below 400 for a uniform source.
  const chi = counts.reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0)
  t.ok(chi < 400, `chi-square ${chi.toFixed(1)}`)
})

t.test('randomBase64url takes 1 to 64 bytes', async (t) => {
  t.throws(() => randomBase64url(0), RangeError)
  t.throws(() => randomBase64url(65), RangeError)
  t.equal(Buffer.from(randomBase64url(1), 'base64url').length, 1)
})

t.test('token hashes compare in constant time and only when equal', async (t) => {
  const h = hashToken('secret')
  t.not(h, 'secret', 'a hash, not the token')
  t.match(h, /^[A-Za-z0-9_-]{43}$/, 'SHA-256 as base64url')
  t.ok(sameHash(h, hashToken('secret')))
  t.notOk(sameHash(h, hashToken('Secret')))
  t.notOk(sameHash(h, h.slice(1)))
})
