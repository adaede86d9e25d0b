import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { DAY_MS, IssuerKeys, IssuerKeyUnusable, type IssuerAlg, type IssuerKeyTiming } from '../../src/auth/issuer-keys.js'
import { aesGcmContent, plainContent, type ContentCipher } from '../../src/content-cipher.js'
import type { IssuerKeyStore, StoredIssuerKey } from '../../src/storage/issuer-key-store.js'
import { MemoryIssuerKeyStore } from '../../src/storage/memory/memory-issuer-key-store.js'
import { issuerKeysKey } from '../../src/storage/redis/keys.js'
import { RedisIssuerKeyStore } from '../../src/storage/redis/redis-issuer-key-store.js'
import { flushRedis, sleep, testRedis } from '../helper.js'

/** Short periods; refreshMs so long that only the test's own refresh() calls re-read the store. */
const TIMING: IssuerKeyTiming = { rotationMs: 10_000, prepublishMs: 2_000, tokenTtlMs: 3_000, clockSkewMs: 0, refreshMs: 3_600_000 }
const R = TIMING.rotationMs
/** a period whose start is a round epoch time (1_700_000_000_000 is a multiple of R) */
const P = 1_700_000_000_000 / R

/** The clock every IssuerKeys of a test reads. */
interface Clock { now: number }

/**
 * Where the keys live for a test: `stores` are what each "instance" is given (on Redis, a store
 * on a client of its own), `raw` is what is stored, read around the stores.
 */
interface Backend {
  stores: [IssuerKeyStore, IssuerKeyStore]
  raw: () => Promise<StoredIssuerKey[]>
  /** the stored bytes of every key, as the store keeps them */
  rawText: () => Promise<string>
}

type BackendName = 'memory' | 'redis'

async function openBackend (t: Test, name: BackendName): Promise<Backend> {
  if (name === 'memory') {
    const store = new MemoryIssuerKeyStore()
    return { stores: [store, store], raw: async () => await store.list(), rawText: async () => JSON.stringify(await store.list()) }
  }
  const redis = await testRedis()
  await flushRedis(redis.url)
  const clients = [new Redis(redis.url), new Redis(redis.url), new Redis(redis.url)] as const
  t.teardown(async () => { await Promise.all(clients.map(async (c) => await c.quit())) })
  const [a, b, looker] = clients
  return {
    stores: [new RedisIssuerKeyStore(a), new RedisIssuerKeyStore(b)],
    raw: async () => Object.values(await looker.hgetall(issuerKeysKey)).map((json) => JSON.parse(json) as StoredIssuerKey),
    rawText: async () => JSON.stringify(await looker.hgetall(issuerKeysKey))
  }
}

interface InstanceOptions { alg?: IssuerAlg, cipher?: ContentCipher, timing?: Partial<IssuerKeyTiming>, errors?: unknown[] }

/** An IssuerKeys on `store` reading `clock`, closed when the test ends. Not started. */
function instance (t: Test, store: IssuerKeyStore, clock: Clock, options: InstanceOptions = {}): IssuerKeys {
  const keys = new IssuerKeys(store, {
    alg: options.alg ?? 'ES256',
    timing: { ...TIMING, ...options.timing },
    cipher: options.cipher ?? plainContent,
    now: () => clock.now,
    onRefreshError: (err) => { (options.errors ?? []).push(err) }
  })
  t.teardown(() => keys.close())
  return keys
}

const kids = (keys: IssuerKeys): string[] => keys.jwks().keys.map((k) => k.kid)

async function signToken (keys: IssuerKeys, clock: Clock): Promise<string> {
  const { kid, alg, privateKey } = await keys.signing()
  const iat = Math.floor(clock.now / 1000)
  return await new SignJWT({ scope: 'messages:read' })
    .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
    .setIssuer('https://missive.test').setAudience('missive-api').setSubject('abcdefabcdef')
    .setIssuedAt(iat).setExpirationTime(iat + TIMING.tokenTtlMs / 1000)
    .sign(privateKey)
}

/** Verifies `token` with the key `keys` gives for its kid (null: no such key). */
async function verifyWith (keys: IssuerKeys, token: string, clock: Clock): Promise<string | null> {
  const { kid } = decodeProtectedHeader(token)
  const key = await keys.verificationKey(kid as string)
  if (key === null) return null
  const { payload } = await jwtVerify(token, key.publicKey, {
    algorithms: [key.alg], issuer: 'https://missive.test', audience: 'missive-api', typ: 'at+jwt', currentDate: new Date(clock.now)
  })
  return payload.sub ?? null
}

for (const backend of ['memory', 'redis'] as const) {
  t.test(`${backend}: start() on an empty store creates exactly one key, the current period's`, async (t) => {
    const { stores, raw } = await openBackend(t, backend)
    const clock = { now: P * R + 1000 }
    const a = instance(t, stores[0], clock)
    await a.start()
    const stored = await raw()
    t.equal(stored.length, 1)
    const [key] = stored as [StoredIssuerKey]
    t.match(key, { name: `ES256:${R}:plain:${P}`, alg: 'ES256', signsFrom: P * R, signsUntil: (P + 1) * R, createdAt: clock.now })
    t.same(kids(a), [key.kid])
    t.equal((await a.signing()).kid, key.kid)
    await a.refresh()
    t.equal((await raw()).length, 1, 'a refresh in the same period creates nothing')
  })

  t.test(`${backend}: two instances starting together end with one key, the same in both JWKS`, async (t) => {
    const { stores, raw } = await openBackend(t, backend)
    const clock = { now: P * R + 1000 }
    const a = instance(t, stores[0], clock)
    const b = instance(t, stores[1], clock)
    await Promise.all([a.start(), b.start()])
    const stored = await raw()
    t.equal(stored.length, 1, 'one key stored')
    t.same(kids(a), [stored[0]?.kid])
    t.same(kids(b), kids(a))
    t.equal((await a.signing()).kid, (await b.signing()).kid, 'both sign with it')
  })

  t.test(`${backend}: a key rotates without downtime, seen alike by two instances`, async (t) => {
    const { stores, raw } = await openBackend(t, backend)
    const clock = { now: P * R + 1000 }
    const a = instance(t, stores[0], clock)
    const b = instance(t, stores[1], clock)
    await Promise.all([a.start(), b.start()])
    const oldKid = (await a.signing()).kid
    const boundary = (P + 1) * R

    // Before the prepublish window: the current key only.
    clock.now = boundary - TIMING.prepublishMs - 1
    await Promise.all([a.refresh(), b.refresh()])
    t.equal((await raw()).length, 1, 'no next key yet')
    t.same(kids(a), [oldKid])
    t.same(kids(b), [oldKid])

    // Inside it: the next key is made (once), published by both, and does not sign yet.
    clock.now = boundary - TIMING.prepublishMs
    await a.refresh()
    const afterA = await raw()
    t.equal(afterA.length, 2, 'the next key is made')
    const next = afterA.find((k) => k.kid !== oldKid) as StoredIssuerKey
    t.match(next, { name: `ES256:${R}:plain:${P + 1}`, signsFrom: boundary, signsUntil: boundary + R })
    await b.refresh()
    t.equal((await raw()).length, 2, 'the other instance makes no key of its own')
    const newKid = next.kid
    t.same(kids(a), [newKid, oldKid], 'both published, newest first')
    t.same(kids(b), [newKid, oldKid], 'the same on the other instance')
    t.equal((await a.signing()).kid, oldKid, 'the current key still signs')
    t.equal((await b.signing()).kid, oldKid)
    t.equal((await a.verificationKey(newKid))?.kid, newKid, 'the next key already verifies')

    // The last token of the old key, signed at the end of its period.
    clock.now = boundary - 1
    const oldToken = await signToken(b, clock)
    t.equal(decodeProtectedHeader(oldToken).kid, oldKid)

    // At the boundary the new key signs, on both, without a refresh.
    clock.now = boundary
    t.equal((await a.signing()).kid, newKid)
    t.equal((await b.signing()).kid, newKid)
    const newToken = await signToken(a, clock)
    t.equal(await verifyWith(b, newToken, clock), 'abcdefabcdef')

    // The old key stays published until its last token has expired.
    clock.now = boundary + TIMING.tokenTtlMs + TIMING.clockSkewMs - 1
    await Promise.all([a.refresh(), b.refresh()])
    t.same(kids(a), [newKid, oldKid])
    t.same(kids(b), [newKid, oldKid])
    t.equal((await b.verificationKey(oldKid))?.kid, oldKid)
    t.equal(await verifyWith(a, oldToken, { now: boundary + 1000 }), 'abcdefabcdef', 'its last token verifies (checked at a time it is live)')

    // Then it is gone from the JWKS and no longer verifies, but is still stored.
    clock.now = boundary + TIMING.tokenTtlMs + TIMING.clockSkewMs
    t.same(kids(a), [newKid])
    t.same(kids(b), [newKid])
    t.equal(await a.verificationKey(oldKid), null)
    t.equal(await b.verificationKey(oldKid), null)
    await Promise.all([a.refresh(), b.refresh()])
    t.equal(await a.verificationKey(oldKid), null)
    t.ok((await raw()).some((k) => k.kid === oldKid), 'kept in the store a while')

    // A day (max(1 day, rotationMs)) later it is still stored; just after, a refresh forgets it.
    const forgetAfter = boundary + TIMING.tokenTtlMs + TIMING.clockSkewMs + Math.max(DAY_MS, R)
    clock.now = forgetAfter
    await a.refresh()
    t.ok((await raw()).some((k) => k.kid === oldKid), 'not yet forgotten at the deadline')
    clock.now = forgetAfter + 1
    await a.refresh()
    const left = await raw()
    t.notOk(left.some((k) => k.kid === oldKid || k.name === `ES256:${R}:plain:${P}`), 'forgotten')
    t.ok(left.some((k) => k.kid === newKid), 'the next key stays: its own deadline is a period later')
    t.ok(left.some((k) => k.name === `ES256:${R}:plain:${Math.floor(clock.now / R)}`), 'the key of the period it is now')
    await b.refresh()
    t.notOk(kids(b).includes(oldKid))
    t.equal(await b.verificationKey(oldKid), null)
  })

  t.test(`${backend}: a token signed with signing() verifies with verificationKey(kid) and with the JWKS`, async (t) => {
    const { stores } = await openBackend(t, backend)
    const clock = { now: Date.now() }
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const a = instance(t, stores[0], clock, { alg })
      const b = instance(t, stores[1], clock, { alg })
      await Promise.all([a.start(), b.start()])
      const token = await signToken(a, clock)
      const header = decodeProtectedHeader(token)
      t.match(header, { alg, kid: (await a.signing()).kid, typ: 'at+jwt' })
      t.equal(await verifyWith(a, token, clock), 'abcdefabcdef', `${alg}: the signer verifies it`)
      t.equal(await verifyWith(b, token, clock), 'abcdefabcdef', `${alg}: the other instance verifies it`)
      // what a gateway does with /.well-known/jwks.json
      const { payload } = await jwtVerify(token, createLocalJWKSet(b.jwks()), { algorithms: [alg], currentDate: new Date(clock.now) })
      t.equal(payload.sub, 'abcdefabcdef', `${alg}: the JWKS verifies it`)
      // a token whose signature is not the key's does not verify
      const forged = `${token.slice(0, token.lastIndexOf('.'))}.${randomBytes(64).toString('base64url')}`
      await t.rejects(verifyWith(b, forged, clock), `${alg}: a bad signature is refused`)
    }
  })
}

t.test('jwks() publishes only the public parts, with kid the RFC 7638 thumbprint', async (t) => {
  const clock = { now: P * R + 1000 }
  const expected = {
    ES256: { kty: 'EC', crv: 'P-256', members: ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'] },
    EdDSA: { kty: 'OKP', crv: 'Ed25519', members: ['alg', 'crv', 'kid', 'kty', 'use', 'x'] }
  } as const
  for (const alg of ['ES256', 'EdDSA'] as const) {
    const store = new MemoryIssuerKeyStore()
    const keys = instance(t, store, clock, { alg })
    await keys.start()
    const { keys: published } = keys.jwks()
    t.equal(published.length, 1)
    const jwk = published[0] as unknown as Record<string, string>
    t.same(Object.keys(jwk).sort(), expected[alg].members, `${alg}: exactly the public members`)
    t.notOk('d' in jwk, `${alg}: no private part`)
    t.match(jwk, { kty: expected[alg].kty, crv: expected[alg].crv, alg, use: 'sig' })
    const publicPart: Record<string, string> = { kty: jwk.kty as string, crv: jwk.crv as string, x: jwk.x as string }
    if (jwk.y !== undefined) publicPart.y = jwk.y
    t.equal(jwk.kid, await calculateJwkThumbprint(publicPart, 'sha256'), `${alg}: kid is the thumbprint`)
    const [stored] = await store.list() as [StoredIssuerKey]
    t.equal(stored.kid, jwk.kid)
    t.equal(stored.name, `${alg}:${R}:plain:${P}`)
    t.same(stored.publicJwk, publicPart, 'the store keeps the same public JWK')
    t.equal((await keys.signing()).alg, alg)
  }
})

t.test('EdDSA keys are OKP Ed25519, on Redis too', async (t) => {
  const { stores, raw } = await openBackend(t, 'redis')
  const clock = { now: P * R + 1000 }
  const keys = instance(t, stores[0], clock, { alg: 'EdDSA' })
  await keys.start()
  const [jwk] = keys.jwks().keys
  t.match(jwk, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
  t.equal(jwk?.y, undefined)
  t.match(await raw(), [{ alg: 'EdDSA', name: `EdDSA:${R}:plain:${P}`, publicJwk: { kty: 'OKP', crv: 'Ed25519' } }])
  const signing = await keys.signing()
  t.equal(signing.alg, 'EdDSA')
  t.equal(signing.privateKey.algorithm.name, 'Ed25519')
})

for (const backend of ['memory', 'redis'] as const) {
  t.test(`${backend}: with ENCRYPTION_KEY the private key is sealed at rest, and only that key opens it`, async (t) => {
    const { stores, raw, rawText } = await openBackend(t, backend)
    const clock = { now: P * R + 1000 }
    const encryptionKey = randomBytes(32)
    const a = instance(t, stores[0], clock, { cipher: aesGcmContent(encryptionKey) })
    await a.start()
    const [stored] = await raw() as [StoredIssuerKey]
    t.match(stored.sealedPrivateJwk, /^v1:/, 'sealed')
    // the private key in clear, as only the holder of ENCRYPTION_KEY can read it
    const privateJwk = JSON.parse(aesGcmContent(encryptionKey).open(`issuer-key:${stored.name}`, stored.sealedPrivateJwk)) as Record<string, string>
    t.type(privateJwk.d, 'string')
    t.ok((privateJwk.d as string).length >= 32)
    const text = await rawText()
    t.notOk(text.includes(privateJwk.d as string), 'the private value is nowhere in the store in clear')
    t.notOk(/"d"\s*:/.test(text.replaceAll('\\"', '"')), 'no "d" member in clear either')

    // Another instance with the same ENCRYPTION_KEY signs with that same key.
    const b = instance(t, stores[1], clock, { cipher: aesGcmContent(Buffer.from(encryptionKey)) })
    await b.start()
    const signed = await signToken(b, clock)
    t.equal(decodeProtectedHeader(signed).kid, stored.kid)
    t.equal(await verifyWith(a, signed, clock), 'abcdefabcdef')

    // One with another ENCRYPTION_KEY (or none) cannot open it: IssuerKeyUnusable, every time.
    const wrongKey = instance(t, stores[1], clock, { cipher: aesGcmContent(randomBytes(32)) })
    await wrongKey.start()
    t.same(kids(wrongKey), [stored.kid], 'it still publishes the public key')
    await t.rejects(wrongKey.signing(), IssuerKeyUnusable)
    const err = await wrongKey.signing().catch((e: unknown) => e)
    t.type(err, IssuerKeyUnusable)
    t.match(err, { name: 'IssuerKeyUnusable', keyName: stored.name })
    t.notOk(String((err as Error).message).includes(encryptionKey.toString('base64')), 'the message says nothing of the key')
    const noKey = instance(t, stores[1], clock, { cipher: plainContent })
    await noKey.start()
    await t.rejects(noKey.signing(), IssuerKeyUnusable, 'without ENCRYPTION_KEY the sealed key is unusable too')
    t.equal((await raw()).length, 1, 'and nobody made a key of their own')
  })
}

t.test('a key made before ENCRYPTION_KEY was set (plain JSON) still signs once it is set', async (t) => {
  const store = new MemoryIssuerKeyStore()
  const clock = { now: P * R + 1000 }
  const before = instance(t, store, clock, { cipher: plainContent })
  await before.start()
  const [stored] = await store.list() as [StoredIssuerKey]
  t.match(JSON.parse(stored.sealedPrivateJwk), { kty: 'EC', d: String })
  const after = instance(t, store, clock, { cipher: aesGcmContent(randomBytes(32)) })
  await after.start()
  t.equal(await verifyWith(before, await signToken(after, clock), clock), 'abcdefabcdef')
})

/** The memory store, counting the calls made to it. */
class CountingStore implements IssuerKeyStore {
  calls = { list: 0, createIfAbsent: 0, remove: 0 }
  constructor (private readonly inner: IssuerKeyStore) {}
  async createIfAbsent (key: StoredIssuerKey): Promise<StoredIssuerKey> { this.calls.createIfAbsent++; return await this.inner.createIfAbsent(key) }
  async list (): Promise<StoredIssuerKey[]> { this.calls.list++; return await this.inner.list() }
  async remove (names: readonly string[]): Promise<void> { this.calls.remove++; await this.inner.remove(names) }
}

t.test('an unknown kid re-reads the store at most once a second, and finds a key another instance just made', async (t) => {
  const shared = new MemoryIssuerKeyStore()
  const counted = new CountingStore(shared)
  const clock = { now: P * R + 1000 }
  const a = instance(t, counted, clock)
  const b = instance(t, shared, clock)
  await a.start()
  await b.start()
  t.same(counted.calls, { list: 1, createIfAbsent: 1, remove: 0 }, 'start: one read, one create')
  const current = (await a.signing()).kid

  t.equal((await a.verificationKey(current))?.kid, current, 'a known kid is answered from memory')
  t.equal(counted.calls.list, 1, 'no read for a known kid')

  t.equal(await a.verificationKey('unknown-kid-1'), null)
  t.equal(counted.calls.list, 2, 'an unknown kid: one read')
  // Sooner than a second after that read, requests wait for the next one (a second after
  // it), and every request waiting shares it: random kids cost one read a second at most.
  const burst = await Promise.all(Array.from({ length: 50 }, async (_, i) => await a.verificationKey(`unknown-kid-burst-${i}`)))
  t.ok(burst.every((k) => k === null))
  t.equal(counted.calls.list, 3, 'a burst of 50 unknown kids: one more read, a second later')
  clock.now += 999
  t.same(await Promise.all([a.verificationKey('unknown-kid-2'), a.verificationKey('unknown-kid-3')]), [null, null])
  t.equal(counted.calls.list, 4, 'two more, 999 ms (injected) later: they wait the 1 ms left, one read for both')

  // Another instance makes the next key (prepublish window); this one has not refreshed.
  clock.now = (P + 1) * R - TIMING.prepublishMs + 500
  await b.refresh()
  const next = kids(b).find((kid) => kid !== current) as string
  t.ok(next, 'the other instance made the next key')
  t.same(kids(a), [current], 'this instance does not know it yet')
  const found = await a.verificationKey(next)
  t.equal(found?.kid, next, 'found by the re-read')
  t.equal(counted.calls.list, 5)
  t.equal(counted.calls.createIfAbsent, 1, 'and not made twice')
  t.same(kids(a), [next, current])
})

t.test('concurrent requests naming a key another instance just made all find it, with one read', async (t) => {
  const shared = new MemoryIssuerKeyStore()
  const counted = new CountingStore(shared)
  const clock = { now: P * R + 1000 }
  const a = instance(t, counted, clock)
  const b = instance(t, shared, clock)
  await Promise.all([a.start(), b.start()])
  clock.now = (P + 1) * R - TIMING.prepublishMs
  await b.refresh()
  const next = kids(b)[0] as string
  const before = counted.calls.list
  const found = await Promise.all(Array.from({ length: 10 }, async () => await a.verificationKey(next)))
  t.same(found.map((k) => k?.kid ?? null), Array(10).fill(next), 'every one of them')
  t.equal(counted.calls.list - before, 1, 'one read')
})

t.test('a store that fails at start is reported, not thrown; signing() then fails and recovers with the store', async (t) => {
  const shared = new MemoryIssuerKeyStore()
  let down = true
  const flaky: IssuerKeyStore = {
    createIfAbsent: async (key) => { if (down) throw new Error('down'); return await shared.createIfAbsent(key) },
    list: async () => { if (down) throw new Error('down'); return await shared.list() },
    remove: async (names) => { if (down) throw new Error('down'); await shared.remove(names) }
  }
  const errors: unknown[] = []
  const clock = { now: P * R + 1000 }
  const keys = instance(t, flaky, clock, { errors })
  await keys.start()
  t.equal(errors.length, 1, 'reported')
  t.same(keys.jwks(), { keys: [] })
  await t.rejects(keys.signing(), { message: 'down' })
  down = false
  t.equal((await keys.signing()).kid, kids(keys)[0])
})

t.test('the first unknown kid re-reads the store whatever the injected clock starts at', async (t) => {
  const shared = new MemoryIssuerKeyStore()
  const counted = new CountingStore(shared)
  const clock = { now: 500 } // an injected clock near the epoch
  const b = instance(t, shared, clock)
  await b.start()
  const kid = kids(b)[0] as string
  // An instance that knows no key yet (its start found the store down, say) is asked for b's.
  const a = instance(t, counted, clock)
  t.equal((await a.verificationKey(kid))?.kid, kid, 'found by a re-read')
  t.equal(counted.calls.list, 1)
})

// Second review of the unknown-kid path (each failed before its fix).

t.test('a clock stepping back does not hold unknown-kid requests longer than the throttle', async (t) => {
  const counted = new CountingStore(new MemoryIssuerKeyStore())
  const clock = { now: P * R + 1000 }
  const keys = instance(t, counted, clock)
  await keys.start()
  t.equal(await keys.verificationKey('unknown-1'), null)
  clock.now -= 3_600_000 // NTP steps the clock back an hour
  const started = Date.now()
  t.equal(await keys.verificationKey('unknown-2'), null)
  t.ok(Date.now() - started < 1500, `answered in ${Date.now() - started} ms, not an hour`)
})

t.test('close() answers the requests waiting for a re-read at once, and no timer is left', async (t) => {
  const clock = { now: P * R + 1000 }
  const keys = instance(t, new MemoryIssuerKeyStore(), clock)
  await keys.start()
  t.equal(await keys.verificationKey('unknown-1'), null)
  const waiting = keys.verificationKey('unknown-2') // scheduled a second after the last read
  const started = Date.now()
  keys.close()
  t.equal(await waiting, null)
  t.ok(Date.now() - started < 200, 'released by close(), not by the timer')
})

t.test('a kid that left the store is refused at once, without a re-read per request', async (t) => {
  const shared = new MemoryIssuerKeyStore()
  const counted = new CountingStore(shared)
  const clock = { now: P * R + 1000 }
  const keys = instance(t, counted, clock)
  await keys.start()
  const old = (await keys.signing()).kid
  await shared.remove((await shared.list()).map((k) => k.name)) // DEL {missive-issuer}:keys
  await keys.refresh()
  const reads = counted.calls.list
  t.equal(keys.verificationKey(old), null, 'answered synchronously')
  t.equal(counted.calls.list, reads, 'no store read')
  t.not((await keys.signing()).kid, old, 'a new key signs')
})

t.test('a request arriving during a re-read waits for the next one, which finds a key made meanwhile', async (t) => {
  const shared = new MemoryIssuerKeyStore()
  let gate: (() => void) | null = null
  // The first re-read reaches the store, then stalls until released (a slow Redis).
  const slow: IssuerKeyStore = {
    createIfAbsent: async (key) => await shared.createIfAbsent(key),
    remove: async (names) => { await shared.remove(names) },
    list: async () => {
      const listed = await shared.list()
      if (gate === null) return listed
      await new Promise<void>((resolve) => { gate = resolve })
      return listed
    }
  }
  const clock = { now: P * R + 1000 }
  const a = instance(t, slow, clock)
  const b = instance(t, shared, clock)
  await a.start()
  await b.start()
  gate = () => {} // from now on, list() stalls
  const first = a.verificationKey('unknown-1') // its re-read reads the store before b's key exists
  await sleep(20)
  // b makes the next key (prepublish window) while a's read is stalled.
  clock.now = (P + 1) * R - TIMING.prepublishMs + 500
  await b.refresh()
  const next = kids(b).find((kid) => !kids(a).includes(kid)) as string
  const second = a.verificationKey(next) // arrives during the stalled read
  const release = gate as () => void
  gate = null
  release()
  t.equal(await first, null)
  t.equal((await second)?.kid, next, 'the later request got a read of its own, after the key was made')
})
