import t from 'tap'
import { compileOriginPatterns, MAX_ORIGIN_ENTRIES, MAX_ORIGIN_ENTRY_CHARS, type OriginMatcher, OriginPatternError } from '../../src/abuse/origin-patterns.js'

const compile = (...entries: string[]): OriginMatcher => compileOriginPatterns(entries)

/** The OriginPatternError compiling `entries` throws (the test fails when none is thrown). */
function refusal (entries: string[]): OriginPatternError {
  try {
    compileOriginPatterns(entries)
  } catch (err) {
    if (err instanceof OriginPatternError) return err
    throw err
  }
  throw new Error(`${JSON.stringify(entries)} was accepted`)
}

t.test('exact origins: written as browsers send them, http or https', async (t) => {
  const accepted = ['https://app.example.com', 'http://app.example.com', 'https://example.com:8443', 'http://localhost:5173',
    'http://127.0.0.1:3000', 'http://[::1]:8080', 'https://xn--bcher-kva.de', 'https://a.b.c.example.co.uk']
  for (const entry of accepted) {
    const matcher = compile(entry)
    t.ok(matcher.allows(entry), `${entry} allows itself`)
    t.same(matcher.entries, [entry])
    t.equal(matcher.empty, false)
  }
  const matcher = compile('https://app.example.com')
  for (const origin of ['http://app.example.com', 'https://app.example.com:443', 'https://app.example.com:8443', 'https://app.example.com/',
    'https://APP.example.com', 'https://app.example.com.', 'https://x.app.example.com', 'https://app.example.com.evil.net', 'https://evilapp.example.com', 'null', '', undefined]) {
    t.notOk(matcher.allows(origin), `${String(origin)} refused`)
  }
})

t.test('a wildcard matches exactly one label, over its scheme and port only', async (t) => {
  const matcher = compile('https://*.example.com')
  for (const origin of ['https://a.example.com', 'https://app.example.com', 'https://a-b.example.com', 'https://0.example.com',
    'https://xn--bcher-kva.example.com', `https://${'a'.repeat(63)}.example.com`]) {
    t.ok(matcher.allows(origin), `${origin} allowed`)
  }
  const refused = [
    'https://example.com', // the domain itself is not a subdomain
    'https://a.b.example.com', // two labels
    'http://a.example.com', // another scheme
    'https://a.example.com:8443', // another port
    'https://a.example.com:443', // browsers never send the default port
    'https://example.com.evil.net', // look-alikes
    'https://a.example.com.evil.net',
    'https://evilexample.com',
    'https://a.evilexample.com',
    'https://aexample.com',
    'https://a.example.com.', // trailing dot
    'https://A.example.com', // browsers send lowercase
    'https://.example.com', // empty label
    'https://-a.example.com', 'https://a-.example.com', 'https://a_b.example.com', 'https://a*.example.com', 'https://*.example.com',
    `https://${'a'.repeat(64)}.example.com`, // a label has at most 63 characters
    'https://user@a.example.com', 'https://a.example.com/', 'https://a.example.com/x', 'https://a.example.co',
    'wss://a.example.com', 'https:/a.example.com', 'a.example.com', '.example.com',
    'null', '', undefined
  ]
  for (const origin of refused) t.notOk(matcher.allows(origin), `${String(origin)} refused`)
})

t.test('a wildcard with a port matches that port only; several lists combine', async (t) => {
  const matcher = compile('http://*.example.org:8080', 'https://*.example.co.uk', 'https://*.app.example.com', 'https://exact.example.net')
  t.ok(matcher.allows('http://dev.example.org:8080'))
  t.notOk(matcher.allows('http://dev.example.org'), 'not the default port')
  t.notOk(matcher.allows('http://dev.example.org:8081'))
  t.notOk(matcher.allows('https://dev.example.org:8080'), 'not another scheme')
  t.ok(matcher.allows('https://shop.example.co.uk'))
  t.notOk(matcher.allows('https://example.co.uk'))
  t.notOk(matcher.allows('https://other.co.uk'), 'not a sibling under the public suffix')
  t.ok(matcher.allows('https://eu.app.example.com'))
  t.notOk(matcher.allows('https://app.example.com'), 'the wildcard does not cover its own domain')
  t.notOk(matcher.allows('https://eu.example.com'), 'nor a sibling of it')
  t.ok(matcher.allows('https://exact.example.net'))
  t.notOk(matcher.allows('https://x.exact.example.net'), 'an exact entry has no subdomains')
  t.same(matcher.entries, ['http://*.example.org:8080', 'https://*.example.co.uk', 'https://*.app.example.com', 'https://exact.example.net'])
})

t.test('wildcards on a registrable domain or below it (Public Suffix List, private suffixes included)', async (t) => {
  for (const entry of ['https://*.example.com', 'https://*.example.co.uk', 'https://*.app.example.com', 'https://*.example.github.io',
    'https://*.city.kawasaki.jp', 'http://*.example.com', 'https://*.example.com:8443', 'https://*.xn--bcher-kva.de']) {
    t.doesNotThrow(() => compile(entry), entry)
  }
  const suffixes: Array<[string, string]> = [
    ['https://*.com', 'com'],
    ['https://*.uk', 'uk'],
    ['https://*.co.uk', 'co.uk'],
    ['https://*.github.io', 'github.io'],
    ['https://*.s3.amazonaws.com', 's3.amazonaws.com'],
    ['https://*.kawasaki.jp', 'kawasaki.jp'],
    ['http://*.com:8080', 'com']
  ]
  for (const [entry, suffix] of suffixes) {
    const err = refusal([entry])
    t.equal(err.message, `"${entry}" puts the wildcard on a public suffix (${suffix}): it would match every site under it`, entry)
  }
})

t.test('every dangerous or malformed entry is refused, naming the entry and saying why', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['*', /bare wildcard: it would let every site read the answers/],
    ['null', /the "null" origin.*can never be allowed/],
    ['NULL', /the "null" origin/],
    ['', /is empty/],
    [' https://app.example.com', /whitespace/],
    ['https://app .example.com', /whitespace/],
    ['https://app.example.com/', /has a path \("\/"\)/],
    ['https://app.example.com/x', /has a path \("\/x"\)/],
    ['https://*.example.com/', /has a path/],
    ['https://app.example.com\\', /has a path/],
    ['https://app.example.com?x=1', /has a query/],
    ['https://app.example.com#x', /has a fragment/],
    ['https://user@app.example.com', /user info/],
    ['https://user:pw@*.example.com', /user info/],
    ['app.example.com', /is not an origin/],
    ['//app.example.com', /is not an origin/],
    ['://app.example.com', /must use http or https/],
    ['ftp://example.com', /must use http or https/],
    ['wss://*.example.com', /must use http or https/],
    ['*://example.com', /wildcard in the scheme/],
    ['https*://example.com', /wildcard in the scheme/],
    ['https://a*.example.com', /other than the whole leftmost label/],
    ['https://*a.example.com', /other than the whole leftmost label/],
    ['https://x.*.example.com', /other than the whole leftmost label/],
    ['https://example.*', /other than the whole leftmost label/],
    ['https://*', /other than the whole leftmost label/],
    ['https://*.*.example.com', /more than one wildcard/],
    ['https://*.example.com:*', /more than one wildcard/],
    ['https://*.127.0.0.1', /over an IP address/],
    ['https://*.0.1', /over an IP address/],
    ['https://*.[::1]', /over an IP address/],
    ['https://*.[::1]:8080', /over an IP address/],
    ['http://*.localhost', /single-label host "localhost"/],
    ['http://*.localhost:3000', /single-label host "localhost"/],
    ['http://*.intranet', /single-label host "intranet"/],
    ['https://*.example.com.', /not a DNS name/],
    ['https://*.a_b.example.com', /not a DNS name/],
    ['https://*..example.com', /not a DNS name|not a valid origin pattern/],
    [`https://*.${'a'.repeat(64)}.com`, /not a DNS name/],
    ['https://*.example.com:99999', /not a valid origin pattern/],
    ['https://*.example.com:port', /not a valid origin pattern/],
    // not written as browsers send it: refused with the form to write (see the module's decisions)
    ['https://App.example.com', /write "https:\/\/app\.example\.com"$/],
    ['HTTPS://app.example.com', /write "https:\/\/app\.example\.com" in lowercase$/],
    ['https://app.example.com:443', /write "https:\/\/app\.example\.com"$/],
    ['http://app.example.com:80', /write "http:\/\/app\.example\.com"$/],
    ['https://bücher.de', /write "https:\/\/xn--bcher-kva\.de"$/],
    ['https://*.Example.com', /write "https:\/\/\*\.example\.com"$/],
    ['https://*.example.com:443', /write "https:\/\/\*\.example\.com"$/],
    ['https://*.bücher.de', /write "https:\/\/\*\.xn--bcher-kva\.de"$/],
    ['https://*.example.com:08443', /write "https:\/\/\*\.example\.com:8443"$/]
  ]
  for (const [entry, reason] of cases) {
    const err = refusal(['https://fine.example.com', entry])
    t.ok(err instanceof OriginPatternError, entry)
    t.equal(err.entry, entry, `${entry}: the entry`)
    t.equal(err.index, 1, `${entry}: its index`)
    t.ok(err.message.startsWith(`${JSON.stringify(entry)} `), `${entry}: the message starts with the entry: ${err.message}`)
    t.match(err.message, reason, `${entry}: why`)
    t.notMatch(err.message, /\n/, 'one line')
  }
})

t.test('the first bad entry is the one named', async (t) => {
  const err = refusal(['https://a.example.com', 'https://*.co.uk', '*'])
  t.equal(err.entry, 'https://*.co.uk')
  t.equal(err.index, 1)
  t.equal(err.message, '"https://*.co.uk" puts the wildcard on a public suffix (co.uk): it would match every site under it')
  t.equal(err.name, 'OriginPatternError')
})

t.test('a non-string entry (JSON from the policy route) is refused, not thrown as a TypeError', async (t) => {
  const err = refusal([42 as unknown as string])
  t.equal(err.entry, '42')
  t.match(err.message, /^"42" is not a string/)
})

t.test('limits: at most 100 entries, each at most 267 characters', async (t) => {
  t.equal(MAX_ORIGIN_ENTRIES, 100)
  t.equal(MAX_ORIGIN_ENTRY_CHARS, 267)
  const hundred = Array.from({ length: 100 }, (_, i) => `https://app${i}.example.com`)
  t.equal(compileOriginPatterns(hundred).entries.length, 100)
  const err = refusal([...hundred, 'https://one-more.example.com', 'https://two-more.example.com'])
  t.equal(err.index, 100)
  t.equal(err.entry, 'https://one-more.example.com')
  t.match(err.message, /^"https:\/\/one-more\.example\.com" is origin number 101 of 102: at most 100 origins may be listed$/)

  const label = 'a'.repeat(63)
  const longest = `https://${[label, label, label, 'a'.repeat(57)].join('.')}.com:65535`
  t.equal(longest.length, MAX_ORIGIN_ENTRY_CHARS)
  t.ok(compile(longest).allows(longest), 'a 253-character host with a port')
  const tooLong = `https://${'a'.repeat(300)}.com`
  const long = refusal([tooLong])
  t.match(long.message, /is 312 characters long: an origin has at most 267$/)
  t.equal(long.entry, tooLong, 'the error keeps the whole entry')
  t.ok(long.message.length < 200, 'the message shows it shortened')
})

t.test('duplicates are harmless; an empty list allows nobody', async (t) => {
  const matcher = compile('https://*.example.com', 'https://*.example.com', 'https://a.example.net', 'https://a.example.net')
  t.same(matcher.entries, ['https://*.example.com', 'https://*.example.com', 'https://a.example.net', 'https://a.example.net'], 'kept as given')
  t.ok(matcher.allows('https://x.example.com'))
  t.ok(matcher.allows('https://a.example.net'))

  const empty = compileOriginPatterns([])
  t.equal(empty.empty, true)
  t.same(empty.entries, [])
  for (const origin of ['https://a.example.com', 'null', '*', undefined]) t.notOk(empty.allows(origin))
})

t.test('the matcher is immutable and does not hold the caller\'s array', async (t) => {
  const entries = ['https://a.example.com']
  const matcher = compileOriginPatterns(entries)
  entries.push('https://b.example.com')
  t.same(matcher.entries, ['https://a.example.com'])
  t.notOk(matcher.allows('https://b.example.com'))
  t.ok(Object.isFrozen(matcher))
  t.ok(Object.isFrozen(matcher.entries))
})

t.test('matching is fast: a hundred entries, mostly wildcards', async (t) => {
  const entries = Array.from({ length: 100 }, (_, i) => i % 4 === 0 ? `https://app${i}.example.net` : `https://*.tenant${i}.example.com`)
  const matcher = compileOriginPatterns(entries)
  const origins = ['https://x.tenant99.example.com', 'https://app96.example.net', 'https://x.tenant98.example.com.evil.net', 'https://evil.example.org', 'null']
  const rounds = 100_000
  let allowed = 0
  const start = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) if (matcher.allows(origins[i % origins.length])) allowed++
  const ns = Number(process.hrtime.bigint() - start) / rounds
  t.equal(allowed, rounds * 2 / 5)
  t.ok(ns < 5000, `${ns.toFixed(0)} ns a check (a loose bound: CI machines vary)`)
})
