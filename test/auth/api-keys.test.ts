import argon2 from 'argon2'
import { Redis } from 'ioredis'
import t from 'tap'
import { ApiKeys, ARGON2_OPTIONS, formatKey, hashSecret, newKeyId, newSecret, parseKey, verifySecret, type KeyCheck } from '../../src/api-keys.js'
import { InvalidAllowedIps, KeyNotActive, KeyNotFound } from '../../src/errors.js'
import { MemoryKeyStore } from '../../src/storage/memory/memory-key-store.js'
import { RedisKeyStore } from '../../src/storage/redis/redis-key-store.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { build, flushRedis, sleep, TEST_API_KEY_HASHING, testRedis } from '../helper.js'

function service (t: { teardown: (fn: () => unknown) => void }, options: ConstructorParameters<typeof ApiKeys>[1] = {}): { keys: ApiKeys, store: MemoryKeyStore } {
  const store = new MemoryKeyStore()
  const keys = new ApiKeys(store, { epochPollMs: 0, ...options })
  t.teardown(async () => { keys.close(); await store.close() })
  return { keys, store }
}

t.test('keys have the format of API.md and parse back', async (t) => {
  const id = newKeyId()
  const secret = newSecret()
  t.match(id, /^[a-z0-9]{12}$/)
  t.match(secret, /^[A-Za-z0-9_-]{43}$/)
  t.equal(Buffer.from(secret, 'base64url').length, 32)
  const key = formatKey(id, secret)
  t.match(key, /^msk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/)
  t.same(parseKey(key), { keyId: id, secret })
  t.not(newKeyId(), id, 'ids are random')
  for (const bad of ['', 'msk_', `msk_${id}`, `msk_${id.toUpperCase()}_${secret}`, `msk_${id}_${secret}x`, `xsk_${id}_${secret}`, ` ${key}`, `${key}\n`, `msk_${id}_${secret.slice(1)}`]) {
    t.equal(parseKey(bad), null, `refuses ${JSON.stringify(bad)}`)
  }
})

t.test('secrets are hashed with argon2id at or above the OWASP minimum', async (t) => {
  t.ok(ARGON2_OPTIONS.memoryCost >= 19_456 && ARGON2_OPTIONS.timeCost >= 2 && ARGON2_OPTIONS.parallelism >= 1)
  const hash = await hashSecret('a secret')
  t.match(hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/)
  t.equal(await argon2.verify(hash, 'a secret'), true)
})

t.test('the app as the server builds it hashes new keys at ARGON2_OPTIONS; build() at the tests\' light cost', async (t) => {
  const production = await buildApp(loadConfig({}, { LOG_LEVEL: 'silent' }))
  t.teardown(async () => { await production.close() })
  const made = await production.apiKeys.create({ name: 'svc', scopes: ['messages:read'] })
  t.match((await production.keyStore.get(made.id))?.hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/, 'no apiKeyHashing: the production cost')
  const light = await build(t)
  const lightMade = await light.apiKeys.create({ name: 'svc', scopes: ['messages:read'] })
  t.match((await light.keyStore.get(lightMade.id))?.hash, new RegExp(`^\\$argon2id\\$v=19\\$m=${TEST_API_KEY_HASHING.memoryCost},p=1,t=${TEST_API_KEY_HASHING.timeCost}\\$`))
  t.match(await light.apiKeys.checkKey(lightMade.key, '127.0.0.1'), { ok: true, key: { keyId: lightMade.id } }, 'and it verifies')
})

t.test('the store keeps only a hash; the key is shown once', async (t) => {
  const { keys, store } = service(t)
  const created = await keys.create({ name: 'svc', scopes: ['messages:read'] })
  const stored = await store.get(created.id)
  const secret = parseKey(created.key)?.secret ?? ''
  t.ok(stored)
  t.notMatch(JSON.stringify(stored), secret)
  t.notMatch(JSON.stringify(await keys.list()), /argon2|msk_/)
})

t.test('repeated verifications of one key cost one argon2 run per cache period', async (t) => {
  const { keys } = service(t, { cacheTtlMs: 300 })
  const { key } = await keys.create({ name: 'svc', scopes: ['messages:read'] })
  await Promise.all(Array.from({ length: 50 }, async () => await keys.verifyKey(key)))
  for (let i = 0; i < 50; i++) t.ok(await keys.verifyKey(key))
  t.equal(keys.verifications, 1, '100 requests, concurrent ones included: one verification')
  await sleep(350)
  t.ok(await keys.verifyKey(key))
  t.equal(keys.verifications, 2, 'one more once the period is over')
})

t.test('failures are never cached, unknown ids are refused without hashing', async (t) => {
  const { keys } = service(t)
  const { id, key } = await keys.create({ name: 'svc', scopes: ['messages:read'] })
  const wrong = formatKey(id, newSecret())
  t.equal(await keys.verifyKey(wrong), null)
  t.equal(await keys.verifyKey(wrong), null)
  t.equal(keys.verifications, 2, 'each wrong secret is verified again')
  t.equal(await keys.verifyKey(formatKey(newKeyId(), newSecret())), null)
  t.equal(await keys.verifyKey('not a key'), null)
  t.equal(keys.verifications, 2, 'an unknown id or a malformed key never reaches argon2')
  t.ok(await keys.verifyKey(key))
  t.equal(await keys.verifyKey(wrong), null, 'a verified key in the cache does not let its id pass with another secret')
})

t.test('a revoked key is refused at once by its own instance, without hashing', async (t) => {
  const { keys } = service(t)
  const { id, key } = await keys.create({ name: 'svc', scopes: ['messages:read'] })
  t.ok(await keys.verifyKey(key))
  await keys.revoke(id)
  const before = keys.verifications
  t.equal(await keys.verifyKey(key), null)
  t.equal(keys.verifications, before)
  t.equal(await keys.isKeyActive(id), false)
})

t.test('another instance drops its cache when the epoch moves', async (t) => {
  const store = new MemoryKeyStore()
  const a = new ApiKeys(store, { epochPollMs: 0 })
  const b = new ApiKeys(store, { epochPollMs: 20 })
  t.teardown(async () => { a.close(); b.close(); await store.close() })
  const { id, key } = await a.create({ name: 'svc', scopes: ['messages:read'] })
  t.ok(await b.verifyKey(key))
  t.equal(await b.isKeyActive(id), true)
  await a.revoke(id)
  await sleep(80)
  t.equal(await b.verifyKey(key), null)
  t.equal(await b.isKeyActive(id), false)
})

t.test('a stalled store gets one epoch read at a time, not one per poll', async (t) => {
  const store = new MemoryKeyStore()
  let reads = 0
  let release: () => void = () => {}
  const stalled = new Promise<void>((resolve) => { release = resolve })
  store.epoch = async () => { reads++; await stalled; return 7 }
  const keys = new ApiKeys(store, { epochPollMs: 10 })
  t.teardown(async () => { keys.close(); await store.close() })
  await sleep(120)
  t.equal(reads, 1, 'ticks that fall due while the read is on its way are skipped')
  release()
  await sleep(60)
  t.ok(reads > 1, 'once it answers, polling goes on')
})

t.test('an expired key is refused, and a cached one stops at its expiry', async (t) => {
  let now = Date.now()
  const { keys } = service(t, { now: () => now })
  const { id, key } = await keys.create({ name: 'svc', scopes: ['messages:read'], expiresInDays: 1 })
  t.ok(await keys.verifyKey(key))
  now += 86_400_000 + 1
  t.equal(await keys.verifyKey(key), null)
  t.equal(await keys.isKeyActive(id), false)
})

t.test('rotation: the old secret works during the grace period only', async (t) => {
  let now = Date.now()
  const { keys } = service(t, { now: () => now })
  const first = await keys.create({ name: 'svc', scopes: ['messages:read'] })
  const rotated = await keys.rotate(first.id, 60)
  t.equal(rotated.id, first.id)
  t.not(rotated.key, first.key)
  t.ok(await keys.verifyKey(first.key), 'old key during the grace')
  t.ok(await keys.verifyKey(rotated.key), 'new key')
  now += 61_000
  t.equal(await keys.verifyKey(first.key), null, 'old key after the grace, even though it was cached')
  t.ok(await keys.verifyKey(rotated.key))
  const again = await keys.rotate(first.id, 0)
  t.equal(await keys.verifyKey(rotated.key), null, 'no grace: the previous secret stops at once')
  t.ok(await keys.verifyKey(again.key))
})

/** A verify that counts its runs (and can be slowed down, to keep checks in flight together). */
function countingVerify (delayMs = 0): { verify: (hash: string, secret: string) => Promise<boolean>, runs: () => number } {
  let runs = 0
  return {
    verify: async (hash, secret) => {
      runs++
      if (delayMs > 0) await sleep(delayMs)
      return await verifySecret(hash, secret)
    },
    runs: () => runs
  }
}

const accepted = (check: KeyCheck): string | null => check.ok ? check.key.keyId : null

t.test('checkKey: an address outside the allow-list is refused before any argon2 run', async (t) => {
  const counter = countingVerify()
  const { keys } = service(t, { verify: counter.verify })
  const { id, key } = await keys.create({ name: 'svc', scopes: ['messages:read'], allowedIps: ['203.0.113.0/24', '2001:db8::1'] })

  // Uncached: nothing verified yet.
  for (const ip of ['192.0.2.1', '203.0.114.1', '2001:db8:0:1::1', '2001:db9::1', '::ffff:192.0.2.1', 'not an address']) {
    t.strictSame(await keys.checkKey(key, ip), { ok: false, reason: 'ip-denied', keyId: id }, `${ip}: denied, uncached`)
  }
  t.strictSame(await keys.checkKey(formatKey(id, newSecret()), '192.0.2.1'), { ok: false, reason: 'ip-denied', keyId: id }, 'a wrong secret from outside: denied, not hashed either')
  t.equal(keys.verifications, 0, 'no verification counted')
  t.equal(counter.runs(), 0, 'argon2 never ran')

  // Inside: IPv4 CIDR, the IPv6 /64 of a bare address, an IPv4-mapped client address.
  const inside = await keys.checkKey(key, '203.0.113.77')
  t.equal(accepted(inside), id, '203.0.113.77 is inside 203.0.113.0/24')
  t.match(inside, { ok: true, key: { keyId: id, scopes: ['messages:read'], rateLimit: null, expiresAt: null, requireSignature: false } })
  t.equal(counter.runs(), 1, 'one verification for the first success')
  t.equal(accepted(await keys.checkKey(key, '2001:db8::ffff')), id, 'the entry 2001:db8::1 allows its /64: 2001:db8::ffff')
  t.equal(accepted(await keys.checkKey(key, '::ffff:203.0.113.9')), id, 'an IPv4-mapped client address is checked as IPv4')
  t.equal(accepted(await keys.checkKey(key, null)), id, 'no address: no address check (verifyKey)')
  t.equal(counter.runs(), 1, 'answered from the cache')

  // Cached: the verified key is remembered, and an address outside is still refused.
  for (const ip of ['192.0.2.1', '2001:db8:0:1::1', '203.0.112.255']) {
    t.strictSame(await keys.checkKey(key, ip), { ok: false, reason: 'ip-denied', keyId: id }, `${ip}: denied, cached`)
  }
  t.equal(counter.runs(), 1, 'still one argon2 run')
  t.equal(keys.verifications, 1)

  // A wrong secret from inside is hashed and refused as any wrong secret.
  t.match(await keys.checkKey(formatKey(id, newSecret()), '203.0.113.1'), { ok: false, reason: 'invalid' })
  t.equal(counter.runs(), 2)

  // A key without an allow-list takes any address.
  const open = await keys.create({ name: 'open', scopes: ['messages:read'] })
  for (const ip of ['192.0.2.1', '2001:db8:0:1::1']) t.equal(accepted(await keys.checkKey(open.key, ip)), open.id, `no allow-list: ${ip}`)
})

t.test('checkKey: concurrent checks of one key from an allowed and a denied address each get their own answer', async (t) => {
  const counter = countingVerify(50)
  const { keys } = service(t, { verify: counter.verify })
  const { id, key } = await keys.create({ name: 'svc', scopes: ['messages:read'], allowedIps: ['198.51.100.0/24'] })
  const denied = { ok: false, reason: 'ip-denied', keyId: id }

  const [allowed1, refused1, allowed2, refused2] = await Promise.all([
    keys.checkKey(key, '198.51.100.1'), keys.checkKey(key, '192.0.2.1'), keys.checkKey(key, '198.51.100.1'), keys.checkKey(key, '192.0.2.1')
  ])
  t.equal(accepted(allowed1), id, 'allowed, first')
  t.equal(accepted(allowed2), id, 'allowed, second')
  t.strictSame(refused1, denied, 'denied, first')
  t.strictSame(refused2, denied, 'denied, second')
  t.equal(counter.runs(), 1, 'the allowed ones shared one verification; the denied ones had none')

  // The denied address first, while nothing is cached.
  await keys.update(id, { name: 'svc' })
  const [refused3, allowed3] = await Promise.all([keys.checkKey(key, '192.0.2.1'), keys.checkKey(key, '198.51.100.200')])
  t.strictSame(refused3, denied)
  t.equal(accepted(allowed3), id)
})

t.test('update changes the fields given and keeps the others', async (t) => {
  const { keys, store } = service(t)
  const { id } = await keys.create({ name: 'svc', scopes: ['messages:read', 'messages:write'], expiresInDays: 3, rateLimit: 10 })
  const before = await keys.get(id)
  t.strictSame({ rateLimit: before.rateLimit, allowedIps: before.allowedIps, requireSignature: before.requireSignature }, { rateLimit: 10, allowedIps: [], requireSignature: false })

  t.strictSame(await keys.update(id, { name: 'billing' }), { ...before, name: 'billing' })
  t.strictSame(await keys.update(id, { scopes: ['messages:read', 'messages:read'] }), { ...before, name: 'billing', scopes: ['messages:read'] }, 'scopes deduplicated')
  t.equal((await keys.update(id, { rateLimit: 99 })).rateLimit, 99)
  t.equal((await keys.update(id, { rateLimit: null })).rateLimit, null, 'rateLimit null: back to the default')
  t.equal((await keys.update(id, { requireSignature: true })).requireSignature, true)
  t.strictSame((await keys.update(id, { allowedIps: ['192.0.2.7', '2001:DB8::1', '2001:db8::/64', '::ffff:10.0.0.0/104', '192.0.2.7/32'] })).allowedIps,
    ['192.0.2.7/32', '2001:db8::/64', '10.0.0.0/8'], 'canonical CIDRs, in order, duplicates removed')
  const after = await keys.get(id)
  t.strictSame(after, { ...before, name: 'billing', scopes: ['messages:read'], rateLimit: null, requireSignature: true, allowedIps: ['192.0.2.7/32', '2001:db8::/64', '10.0.0.0/8'] }, 'the rest is kept')
  t.strictSame((await store.get(id))?.allowedIps, ['192.0.2.7/32', '2001:db8::/64', '10.0.0.0/8'], 'stored canonical')
  t.strictSame((await keys.update(id, { allowedIps: [] })).allowedIps, [], '[]: any address')
  t.strictSame(await keys.update(id, { name: 'b2', scopes: ['messages:delete'], rateLimit: 5, allowedIps: ['10.1.0.0/16'], requireSignature: false }),
    { ...before, name: 'b2', scopes: ['messages:delete'], rateLimit: 5, allowedIps: ['10.1.0.0/16'], requireSignature: false }, 'every field at once')
})

t.test('update refuses a bad CIDR (400), an unknown key (404) and a revoked one (409)', async (t) => {
  const { keys } = service(t)
  const { id } = await keys.create({ name: 'svc', scopes: ['messages:read'], allowedIps: ['192.0.2.0/24'] })
  const before = await keys.get(id)
  for (const [entry, problem] of [
    ['10.0.0.1/8', 'host bits set beyond /8 (the network is 10.0.0.0/8)'],
    ['example.com', 'not an IP address or CIDR (hostnames are not supported)'],
    ['fe80::1%eth0', 'zone ids are not allowed'],
    ['2001:db8::/129', 'an IPv6 prefix is at most /128']
  ] as const) {
    const err = await keys.update(id, { allowedIps: ['198.51.100.0/24', entry] }).then(() => null, (e: unknown) => e)
    t.ok(err instanceof InvalidAllowedIps, `${entry}: InvalidAllowedIps`)
    t.match(err, { statusCode: 400, code: 'VALIDATION_ERROR', message: `body/allowedIps: ${JSON.stringify(entry)}: ${problem}` }, `${entry}: the message names the entry`)
  }
  const tooMany = await keys.update(id, { allowedIps: Array.from({ length: 33 }, (_, i) => `10.0.${i}.0/24`) }).then(() => null, (e: unknown) => e)
  t.match(tooMany, { statusCode: 400, message: 'body/allowedIps: at most 32 entries (got 33)' })
  await t.rejects(keys.create({ name: 'x', scopes: ['messages:read'], allowedIps: ['10.0.0.1/8'] }), { statusCode: 400, code: 'VALIDATION_ERROR' }, 'create checks them too')
  t.strictSame(await keys.get(id), before, 'nothing was written')

  const unknown = await keys.update('aaaaaaaaaaaa', { name: 'x' }).then(() => null, (e: unknown) => e)
  t.ok(unknown instanceof KeyNotFound, 'an unknown id')
  t.match(unknown, { statusCode: 404 })
  await keys.revoke(id)
  const revoked = await keys.update(id, { name: 'x' }).then(() => null, (e: unknown) => e)
  t.ok(revoked instanceof KeyNotActive, 'a revoked key')
  t.match(revoked, { statusCode: 409, code: 'KEY_NOT_ACTIVE' })
  t.equal((await keys.get(id)).name, 'svc', 'nothing was written')
})

t.test('update empties the caches: a cached verification follows the new allow-list at once', async (t) => {
  const counter = countingVerify()
  const { keys } = service(t, { verify: counter.verify })
  const { id, key } = await keys.create({ name: 'svc', scopes: ['messages:read', 'messages:write'] })
  let invalidated = 0
  keys.onInvalidate(() => { invalidated++ })

  t.equal(accepted(await keys.checkKey(key, '192.0.2.1')), id)
  t.equal(accepted(await keys.checkKey(key, '192.0.2.1')), id)
  t.equal(counter.runs(), 1, 'cached')
  t.match(await keys.policy(id), { active: true, scopes: ['messages:read', 'messages:write'], rateLimit: null, allowedIps: null, requireSignature: false })
  t.ok(keys.cachedPolicy(id), 'the policy is cached')

  await keys.update(id, { allowedIps: ['198.51.100.0/24'], scopes: ['messages:read'], rateLimit: 4, requireSignature: true })
  t.equal(invalidated, 1, 'the listeners were told')
  t.equal(keys.cachedPolicy(id), undefined, 'the cached policy is gone')
  t.strictSame(await keys.checkKey(key, '192.0.2.1'), { ok: false, reason: 'ip-denied', keyId: id }, 'the address allowed a moment ago is refused at once')
  const check = await keys.checkKey(key, '198.51.100.9')
  t.match(check, { ok: true, key: { keyId: id, scopes: ['messages:read'], rateLimit: 4, requireSignature: true } }, 'the new address, the new scopes, limit and requirement')
  t.equal(counter.runs(), 2, 'verified again after the change')

  const policy = await keys.policy(id)
  t.match(policy, { active: true, scopes: ['messages:read'], rateLimit: 4, requireSignature: true }, 'policy() follows the narrowed scopes')
  t.equal(policy.allowedIps?.allows('198.51.100.1'), true)
  t.equal(policy.allowedIps?.allows('192.0.2.1'), false)
  t.equal(keys.cachedPolicy(id), policy, 'and is cached again')

  await keys.update(id, { allowedIps: [] })
  t.equal((await keys.policy(id)).allowedIps, null, '[]: no allow-list')
  t.equal(accepted(await keys.checkKey(key, '192.0.2.1')), id, 'any address again')

  await keys.revoke(id)
  t.match(await keys.policy(id), { active: false })
  t.equal(await keys.isKeyActive(id), false, 'isKeyActive follows policy()')
  t.match(await keys.policy('aaaaaaaaaaaa'), { active: false, scopes: [] }, 'an unknown key: inactive')
})

t.test('update reaches another instance on the same Redis at its next epoch check', async (t) => {
  const redis = await testRedis()
  await flushRedis(redis.url)
  const clientA = new Redis(redis.url)
  const clientB = new Redis(redis.url)
  const a = new ApiKeys(new RedisKeyStore(clientA), { epochPollMs: 0 })
  const counter = countingVerify()
  const b = new ApiKeys(new RedisKeyStore(clientB), { epochPollMs: 0, verify: counter.verify })
  t.teardown(async () => { a.close(); b.close(); await clientA.quit(); await clientB.quit() })

  const { id, key } = await a.create({ name: 'svc', scopes: ['messages:read', 'messages:write'], allowedIps: ['192.0.2.0/24'] })
  await b.checkEpoch()
  t.equal(accepted(await b.checkKey(key, '192.0.2.1')), id)
  t.match(await b.policy(id), { scopes: ['messages:read', 'messages:write'] })
  await b.checkEpoch()
  t.equal(accepted(await b.checkKey(key, '192.0.2.1')), id)
  t.equal(counter.runs(), 1, 'B\'s verification is cached, and an epoch that did not move keeps it')

  await a.update(id, { allowedIps: ['198.51.100.0/24'], scopes: ['messages:read'] })
  await b.checkEpoch()
  t.strictSame(await b.checkKey(key, '192.0.2.1'), { ok: false, reason: 'ip-denied', keyId: id }, 'B refuses the old address')
  t.match(await b.checkKey(key, '198.51.100.1'), { ok: true, key: { keyId: id, scopes: ['messages:read'] } }, 'and takes the new one')
  t.match(await b.policy(id), { active: true, scopes: ['messages:read'] }, 'B\'s policy has the narrowed scopes')
  t.equal(counter.runs(), 2)
})
