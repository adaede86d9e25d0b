// Statistical tests for ids and tokens seen from outside (MSV-RAND-*): pure functions, no I/O.
//
// What they can say is "consistent with a CSPRNG", never "random": a black box that encrypts a
// counter passes every test here. What they catch is the common mistakes: counters, timestamps,
// Math.random(), a stuck bit, a low-entropy byte, truncation, duplicates, a wrong encoding.
//
// False alarms: the z-like tests share one family-wise error rate FAMILY_ALPHA (1e-6), split
// evenly between them (Bonferroni), so a correct generator fails a run about once in a million
// runs. For 16-byte ids that is 128 bit positions + monobit + runs + chi-square + time
// correlation = 132 tests, each at 7.6e-9, i.e. |z| > 5.78 (delete tokens, 260 tests: 5.90).
// The other tests are exact: a collision of two 128-bit values, or a shared 48-bit prefix
// (n²/2 pairs × 2^-48: below 5e-8 for n ≤ 5000), is itself that unlikely.

/** Below this many samples the tests are not run (the checks skip): see bitFrequencyTest. */
export const MIN_SAMPLES = 30
/** The chance that a correct CSPRNG fails any test of one run. */
export const FAMILY_ALPHA = 1e-6
/** Two samples sharing this many leading bits fail: 2^-48 per pair, see the header. */
export const PREFIX_BITS = 48
/** The time-correlation test reads the first 6 bytes (48 bits, exact in a double). */
const VALUE_BYTES = 6

export interface TestResult {
  name: string
  ok: boolean
  /** one line a person reads: the statistic and the bound; never a sample's value */
  detail: string
  /** indices of samples that show the problem (for evidence), when some do */
  examples?: number[]
}

export interface SampleFormat {
  /** what the samples are, in the report: "message ids", "delete tokens" */
  label: string
  pattern: RegExp
  /** the decoded length every sample must have */
  bytes?: number
  /** or the least decoded length */
  minBytes?: number
}

/** The contract's formats (API.md section 1). */
export const MESSAGE_ID_FORMAT: SampleFormat = { label: 'message ids', pattern: /^[A-Za-z0-9_-]{22}$/, bytes: 16 }
export const DELETE_TOKEN_FORMAT: SampleFormat = { label: 'delete tokens', pattern: /^[A-Za-z0-9_-]{32,}$/, minBytes: 24 }

// ---------------------------------------------------------------------------------------------
// Decoding

/** The bytes of a base64url string (Node ignores what is not base64url: check the format first). */
export function decodeBase64url (text: string): Buffer {
  return Buffer.from(text, 'base64url')
}

/** Whether re-encoding the decoded bytes gives the same text (no padding, zero padding bits). */
export function isCanonicalBase64url (text: string): boolean {
  return /^[A-Za-z0-9_-]*$/.test(text) && decodeBase64url(text).toString('base64url') === text
}

/** The bits of the samples one after the other, most significant bit of each byte first. */
export function toBits (samples: readonly Uint8Array[]): Uint8Array {
  const total = samples.reduce((sum, s) => sum + s.length * 8, 0)
  const bits = new Uint8Array(total)
  let at = 0
  for (const sample of samples) {
    for (const byte of sample) {
      for (let b = 7; b >= 0; b--) bits[at++] = (byte >> b) & 1
    }
  }
  return bits
}

// ---------------------------------------------------------------------------------------------
// Distributions, in logarithms so that p-values far below 1e-300 still compare

/**
 * ln erfc(x) for x ≥ 0: the Chebyshev fit of Numerical Recipes (erfcc), whose relative error is
 * below 1.2e-7 for every x, kept in log form so it never underflows.
 */
function lnErfc (x: number): number {
  const t = 1 / (1 + 0.5 * x)
  const poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
  return Math.log(t) - x * x + poly
}

/** ln of the two-sided normal p-value of z: P(|Z| ≥ |z|) = erfc(|z|/√2). */
export function lnTwoSidedP (z: number): number {
  return Math.min(0, lnErfc(Math.abs(z) / Math.SQRT2))
}

/** The |z| whose two-sided normal p-value is e^lnP (inverse of lnTwoSidedP, by bisection). */
export function zForLnP (lnP: number): number {
  if (lnP >= 0) return 0
  let lo = 0
  let hi = Math.sqrt(-2 * lnP) + 10
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2
    if (lnTwoSidedP(mid) > lnP) lo = mid
    else hi = mid
  }
  return (lo + hi) / 2
}

/** The Bonferroni bound: |z| above it fails one of `tests` tests sharing a family-wise `alpha`. */
export function zBound (tests: number, alpha = FAMILY_ALPHA): number {
  return zForLnP(Math.log(alpha / tests))
}

const LN_FACTORIAL_TABLE: number[] = [0]
for (let i = 1; i < 256; i++) LN_FACTORIAL_TABLE.push((LN_FACTORIAL_TABLE[i - 1] as number) + Math.log(i))

/** ln n!: a table below 256, Stirling's series above (error below 1e-20 there). */
function lnFactorial (n: number): number {
  if (n < 256) return LN_FACTORIAL_TABLE[n] as number
  return n * Math.log(n) - n + 0.5 * Math.log(2 * Math.PI * n) + 1 / (12 * n) - 1 / (360 * n ** 3) + 1 / (1260 * n ** 5)
}

/**
 * ln of the exact two-sided p-value of k ones in n fair bits. Exact because the normal
 * approximation understates how unlikely an extreme count is at small n: 30 equal bits in 30
 * samples is p = 1.9e-9 (fails at 132 tests), while its z = 5.48 would pass a 5.78 bound.
 */
export function lnBinomialTwoSidedP (k: number, n: number): number {
  const m = Math.max(k, n - k)
  if (2 * m <= n) return 0
  // P(X ≥ m) = C(n, m) 2^-n × (1 + (n-m)/(m+1) + …): the terms only shrink past the mean.
  const first = lnFactorial(n) - lnFactorial(m) - lnFactorial(n - m) - n * Math.LN2
  let sum = 1
  let term = 1
  for (let i = m; i < n; i++) {
    term *= (n - i) / (i + 1)
    sum += term
    if (term < 1e-17 * sum) break
  }
  return Math.min(0, Math.LN2 + first + Math.log(sum))
}

const fmt = (x: number, digits = 2): string => Number.isFinite(x) ? x.toFixed(digits) : String(x)

// ---------------------------------------------------------------------------------------------
// The tests

/** Every sample matches the pattern, is canonical base64url and decodes to the expected length. */
export function formatTest (samples: readonly string[], format: SampleFormat): TestResult {
  const bad: Array<{ index: number, why: string }> = []
  samples.forEach((sample, index) => {
    const length = decodeBase64url(sample).length
    let why: string | null = null
    if (!format.pattern.test(sample)) why = `${sample.length} chars, does not match ${format.pattern.source}`
    else if (!isCanonicalBase64url(sample)) why = 'not canonical base64url (re-encoding differs: nonzero padding bits)'
    else if (format.bytes !== undefined && length !== format.bytes) why = `decodes to ${length} bytes, not ${format.bytes}`
    else if (format.minBytes !== undefined && length < format.minBytes) why = `decodes to ${length} bytes, fewer than ${format.minBytes}`
    if (why !== null) bad.push({ index, why })
  })
  const expected = format.bytes !== undefined ? `${format.bytes} bytes` : `at least ${format.minBytes ?? 1} bytes`
  if (bad.length === 0) return { name: 'format', ok: true, detail: `all ${samples.length} match ${format.pattern.source}, canonical base64url of ${expected}` }
  const first = bad[0] as { index: number, why: string }
  return { name: 'format', ok: false, detail: `${bad.length} of ${samples.length} malformed; first #${first.index}: ${first.why}`, examples: bad.slice(0, 5).map((b) => b.index) }
}

/** No two samples are equal (for 128 random bits a repeat is a ~n²/2^129 event: never). */
export function collisionTest (samples: readonly string[]): TestResult {
  const firstSeen = new Map<string, number>()
  const repeats: number[] = []
  samples.forEach((sample, index) => {
    const first = firstSeen.get(sample)
    if (first === undefined) firstSeen.set(sample, index)
    else repeats.push(first, index)
  })
  if (repeats.length === 0) return { name: 'collision', ok: true, detail: `no duplicate among ${samples.length}` }
  const distinct = firstSeen.size
  return { name: 'collision', ok: false, detail: `${samples.length - distinct} duplicate(s) among ${samples.length} (${distinct} distinct)`, examples: repeats.slice(0, 6) }
}

/**
 * Each bit position is 1 in about half of the samples: the exact binomial p-value of the worst
 * position against the Bonferroni bound (shown as the equivalent |z|). Catches a stuck or biased
 * bit (Math.random() floats, a constant version byte, a timestamp's high bits).
 */
export function bitFrequencyTest (samples: readonly Uint8Array[], bound: number): TestResult {
  const n = samples.length
  const bits = Math.min(...samples.map((s) => s.length)) * 8
  const lnBound = lnTwoSidedP(bound)
  let worst = { position: 0, ones: 0, lnP: 1 }
  let failing = 0
  for (let position = 0; position < bits; position++) {
    const byte = position >> 3
    const shift = 7 - (position & 7)
    let ones = 0
    for (const sample of samples) ones += ((sample[byte] as number) >> shift) & 1
    const lnP = lnBinomialTwoSidedP(ones, n)
    if (lnP < lnBound) failing++
    if (lnP < worst.lnP) worst = { position, ones, lnP }
  }
  const z = zForLnP(worst.lnP)
  const about = `bit ${worst.position}: ${worst.ones} of ${n} ones`
  if (failing === 0) return { name: 'bit frequency', ok: true, detail: `all ${bits} bit positions balanced; worst ${about}, z=${fmt(z)} ≤ ${fmt(bound)}` }
  return { name: 'bit frequency', ok: false, detail: `bit ${worst.position} frequency z=${fmt(z)} > ${fmt(bound)} (${worst.ones} of ${n} ones; ${failing} of ${bits} positions out of bounds)` }
}

/** Ones over all bits are about half (exact binomial, as above): a global bias. */
export function monobitTest (bits: Uint8Array, bound: number): TestResult {
  let ones = 0
  for (const bit of bits) ones += bit
  const lnP = lnBinomialTwoSidedP(ones, bits.length)
  const z = zForLnP(lnP)
  const ok = lnP >= lnTwoSidedP(bound)
  const share = `${ones} of ${bits.length} bits are 1 (${fmt((100 * ones) / bits.length, 3)}%)`
  return { name: 'monobit', ok, detail: ok ? `${share}, z=${fmt(z)} ≤ ${fmt(bound)}` : `monobit z=${fmt(z)} > ${fmt(bound)}: ${share}` }
}

/**
 * Wald–Wolfowitz runs test over the concatenated bits: too few runs (bits stick together) or too
 * many (bits alternate) for their count of ones. With at least 30 × 128 bits its normal
 * approximation is accurate far into the tail.
 */
export function runsTest (bits: Uint8Array, bound: number): TestResult {
  const total = bits.length
  let ones = 0
  let runs = total === 0 ? 0 : 1
  for (let i = 0; i < total; i++) {
    ones += bits[i] as number
    if (i > 0 && bits[i] !== bits[i - 1]) runs++
  }
  const zeros = total - ones
  if (ones === 0 || zeros === 0) return { name: 'runs', ok: false, detail: `runs: every one of ${total} bits is ${ones === 0 ? 0 : 1}` }
  const mean = (2 * ones * zeros) / total + 1
  const variance = ((mean - 1) * (mean - 2)) / (total - 1)
  const z = (runs - mean) / Math.sqrt(variance)
  const ok = Math.abs(z) <= bound
  const seen = `${runs} runs in ${total} bits, expected ${fmt(mean, 1)}`
  return { name: 'runs', ok, detail: ok ? `${seen}, z=${fmt(z)}, |z| ≤ ${fmt(bound)}` : `runs z=${fmt(z)}, |z| > ${fmt(bound)}: ${seen}` }
}

/**
 * Pearson chi-square of the 256 byte values over all bytes, 255 degrees of freedom, turned into
 * a z by Wilson–Hilferty's cube root. Two-sided: too uniform (a counter walking through the
 * values) fails as well as too skewed (a low-entropy byte, printable-only bytes). With few
 * bytes per value (n = 30: 1.9) the statistic is a little skewed (measured 0.05), which moves its
 * 1e-9 quantile by about 0.4 σ: the false-alarm rate stays far under FAMILY_ALPHA.
 */
export function byteChiSquareTest (samples: readonly Uint8Array[], bound: number): TestResult {
  const counts = new Array<number>(256).fill(0)
  let total = 0
  for (const sample of samples) {
    for (const byte of sample) { counts[byte] = (counts[byte] as number) + 1; total++ }
  }
  const expected = total / 256
  const chi = counts.reduce((sum, c) => sum + (c - expected) ** 2, 0) / expected
  const df = 255
  const c = 2 / (9 * df)
  const z = (Math.cbrt(chi / df) - (1 - c)) / Math.sqrt(c)
  const ok = Math.abs(z) <= bound
  const seen = `chi-square ${fmt(chi, 1)} over ${total} bytes (df 255)`
  return { name: 'byte chi-square', ok, detail: ok ? `${seen}, z=${fmt(z)}, |z| ≤ ${fmt(bound)}` : `byte chi-square z=${fmt(z)}, |z| > ${fmt(bound)}: ${seen}${z < 0 ? ', too uniform' : ''}` }
}

/** The number of leading bits a and b share. */
export function sharedPrefixBits (a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const diff = (a[i] as number) ^ (b[i] as number)
    if (diff !== 0) return i * 8 + Math.clz32(diff) - 24
  }
  return length * 8
}

/**
 * No two samples share PREFIX_BITS leading bits: sorted, the longest shared prefix is between
 * neighbours. Catches timestamp or counter prefixes and shards that differ only at the end.
 */
export function sharedPrefixTest (samples: readonly Uint8Array[], limit = PREFIX_BITS): TestResult {
  const order = samples.map((_, i) => i).sort((a, b) => Buffer.compare(samples[a] as Uint8Array, samples[b] as Uint8Array))
  let longest = { bits: 0, a: 0, b: 0 }
  let over = 0
  for (let i = 1; i < order.length; i++) {
    const a = order[i - 1] as number
    const b = order[i] as number
    const bits = sharedPrefixBits(samples[a] as Uint8Array, samples[b] as Uint8Array)
    if (bits >= limit) over++
    if (bits > longest.bits) longest = { bits, a, b }
  }
  const pair = `#${Math.min(longest.a, longest.b)} and #${Math.max(longest.a, longest.b)}`
  if (over === 0) return { name: 'shared prefix', ok: true, detail: `longest prefix shared by two samples: ${longest.bits} bits (< ${limit})` }
  return { name: 'shared prefix', ok: false, detail: `${pair} share a ${longest.bits}-bit prefix (≥ ${limit}); ${over} neighbouring pair(s) do`, examples: [longest.a, longest.b] }
}

/** Ranks from 1, ties sharing their average rank. */
function ranks (values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => (values[a] as number) - (values[b] as number))
  const out = new Array<number>(values.length).fill(0)
  for (let i = 0; i < order.length;) {
    let j = i
    while (j + 1 < order.length && values[order[j + 1] as number] === values[order[i] as number]) j++
    const rank = (i + j) / 2 + 1
    for (let k = i; k <= j; k++) out[order[k] as number] = rank
    i = j + 1
  }
  return out
}

/**
 * Spearman's rank correlation between creation order and the value of the first 6 bytes, as
 * z = ρ √(n-1). Catches timestamp- and counter-led ids. ρ is bounded, so this z is lighter-tailed
 * than the normal (never a false alarm), at the cost of power at tiny n: below n = 35 a
 * perfectly ordered sample cannot reach 5.8 (the bit and prefix tests catch those anyway).
 */
export function timeCorrelationTest (samples: readonly Uint8Array[], bound: number): TestResult {
  const n = samples.length
  const width = Math.min(VALUE_BYTES, ...samples.map((s) => s.length))
  const values = samples.map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength).readUIntBE(0, width))
  const valueRanks = ranks(values)
  const meanRank = (n + 1) / 2
  let covariance = 0
  let varOrder = 0
  let varValue = 0
  valueRanks.forEach((r, i) => {
    const dOrder = i + 1 - meanRank
    const dValue = r - meanRank
    covariance += dOrder * dValue
    varOrder += dOrder * dOrder
    varValue += dValue * dValue
  })
  if (varValue === 0) return { name: 'time correlation', ok: false, detail: `the first ${width * 8} bits never change over ${n} samples`, examples: [0, 1] }
  const rho = covariance / Math.sqrt(varOrder * varValue)
  const z = rho * Math.sqrt(n - 1)
  const ok = Math.abs(z) <= bound
  const seen = `Spearman rho ${fmt(rho, 3)} between creation order and the first ${width * 8} bits`
  return { name: 'time correlation', ok, detail: ok ? `${seen}, z=${fmt(z)}, |z| ≤ ${fmt(bound)}` : `time correlation z=${fmt(z)}, |z| > ${fmt(bound)}: ${seen}`, ...(ok ? {} : { examples: [0, 1, n - 2, n - 1] }) }
}

/** How many z-like tests share the family-wise alpha for samples of this many bytes. */
export const zTestCount = (bytes: number): number => bytes * 8 + 4

/**
 * Every test on samples in creation order: format and collision on all of them, the
 * statistical tests on the well-formed ones (cut to the shortest length), each z-like test at
 * the Bonferroni bound of FAMILY_ALPHA. Needs at least MIN_SAMPLES samples.
 */
export function randomnessTests (samples: readonly string[], format: SampleFormat, alpha = FAMILY_ALPHA): TestResult[] {
  if (samples.length < MIN_SAMPLES) throw new RangeError(`${samples.length} samples: the tests need at least ${MIN_SAMPLES}`)
  const results = [formatTest(samples, format), collisionTest(samples)]
  const formed = samples.map((_, i) => i).filter((i) => {
    const s = samples[i] as string
    if (!format.pattern.test(s) || !isCanonicalBase64url(s)) return false
    const length = decodeBase64url(s).length
    return (format.bytes === undefined || length === format.bytes) && length >= (format.minBytes ?? 1)
  })
  // Too few well-formed samples to judge: the format failure already says why.
  if (formed.length < MIN_SAMPLES) return results
  const decoded = formed.map((i) => decodeBase64url(samples[i] as string))
  const width = Math.min(...decoded.map((d) => d.length))
  const bytes = decoded.map((d) => d.subarray(0, width))
  const bound = zBound(zTestCount(width), alpha)
  const bits = toBits(bytes)
  results.push(
    bitFrequencyTest(bytes, bound),
    monobitTest(bits, bound),
    runsTest(bits, bound),
    byteChiSquareTest(bytes, bound),
    sharedPrefixTest(bytes),
    timeCorrelationTest(bytes, bound)
  )
  // The statistical tests saw only the well-formed samples: map their examples back.
  for (const r of results.slice(2)) if (r.examples !== undefined) r.examples = r.examples.map((i) => formed[i] as number)
  return results
}
