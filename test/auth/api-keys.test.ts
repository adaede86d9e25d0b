import argon2 from 'argon2'
import t from 'tap'
import { ApiKeys, ARGON2_OPTIONS, formatKey, hashSecret, newKeyId, newSecret, parseKey } from '../../src/api-keys.js'
import { MemoryKeyStore } from '../../src/storage/memory/memory-key-store.js'
import { sleep } from '../helper.js'

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
