import type { Test } from 'tap'
import type { KeyStore, StoredKey } from '../../src/storage/key-store.js'
import { sleep } from '../helper.js'

/** what the contract needs of a test */
export interface KeyStoreTest { teardown: (fn: () => unknown) => void }

export function sampleKey (id: string, overrides: Partial<StoredKey> = {}): StoredKey {
  return {
    id,
    name: 'a service',
    scopes: ['messages:read', 'messages:write'],
    createdAt: Date.now(),
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    rateLimit: null,
    hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA',
    previousHash: null,
    previousUntil: null,
    allowedIps: [],
    requireSignature: false,
    ...overrides
  }
}

/**
 * The one contract every key store keeps: the memory store and real Redis
 * (test/storage/key-store.test.ts), and a Redis Cluster (test/cluster/stores.test.ts).
 */
export function keyStoreContract (t: Test, name: string, open: (t: KeyStoreTest) => Promise<KeyStore>): void {
  t.test(`${name}: create never overwrites, get returns every field`, async (t) => {
    const store = await open(t)
    const key = sampleKey('aaaaaaaaaaa1', {
      expiresAt: Date.now() + 60_000,
      rateLimit: 5,
      allowedIps: ['203.0.113.0/24', '2001:db8::/32', '198.51.100.7/32'],
      requireSignature: true
    })
    t.equal(await store.create(key), true)
    t.equal(await store.create(sampleKey('aaaaaaaaaaa1', { name: 'other' })), false)
    t.same(await store.get('aaaaaaaaaaa1'), key)
    t.equal(await store.get('aaaaaaaaaaa2'), null)
    const plain = sampleKey('aaaaaaaaaaa3')
    await store.create(plain)
    t.same(await store.get('aaaaaaaaaaa3'), plain, 'no allow-list and no signature required read back as such')
    t.same((await store.get('aaaaaaaaaaa3'))?.allowedIps, [])
    t.equal((await store.get('aaaaaaaaaaa3'))?.requireSignature, false)
  })

  t.test(`${name}: update applies the fields present, and only those`, async (t) => {
    const store = await open(t)
    const key = sampleKey('uuuuuuuuuuu1', { rateLimit: 7, lastUsedAt: 1234, previousHash: 'old', previousUntil: 9999 })
    await store.create(key)
    const before = await store.epoch()
    const renamed = await store.update('uuuuuuuuuuu1', { name: 'renamed' })
    t.same(renamed, { ...key, name: 'renamed' }, 'the record after: every other field kept')
    t.not(await store.epoch(), before, 'the epoch moved')
    t.same(await store.get('uuuuuuuuuuu1'), renamed)

    const all = await store.update('uuuuuuuuuuu1', {
      name: 'all of it',
      scopes: ['messages:read'],
      rateLimit: 50,
      allowedIps: ['10.0.0.0/8', '::1/128'],
      requireSignature: true
    })
    t.same(all, { ...key, name: 'all of it', scopes: ['messages:read'], rateLimit: 50, allowedIps: ['10.0.0.0/8', '::1/128'], requireSignature: true })
    t.same(await store.get('uuuuuuuuuuu1'), all)

    const back = await store.update('uuuuuuuuuuu1', { rateLimit: null, allowedIps: [], requireSignature: false })
    t.same(back, { ...key, name: 'all of it', scopes: ['messages:read'], rateLimit: null, allowedIps: [], requireSignature: false },
      'rateLimit null, allowedIps [] and requireSignature false go back to the defaults')
    t.same(await store.get('uuuuuuuuuuu1'), back)

    t.same(await store.update('uuuuuuuuuuu1', { scopes: [] }), { ...back, scopes: [] }, 'scopes may be emptied')
    t.same(await store.update('uuuuuuuuuuu1', {}), { ...back, scopes: [] }, 'an empty patch changes nothing')
  })

  t.test(`${name}: update of an unknown or revoked key writes nothing and keeps the epoch`, async (t) => {
    const store = await open(t)
    t.equal(await store.update('uuuuuuuuuuu8', { name: 'x' }), null)
    t.equal(await store.get('uuuuuuuuuuu8'), null, 'no record made')
    await store.create(sampleKey('uuuuuuuuuuu9'))
    await store.revoke('uuuuuuuuuuu9', 1000)
    const revoked = await store.get('uuuuuuuuuuu9')
    const before = await store.epoch()
    t.equal(await store.update('uuuuuuuuuuu9', { name: 'x', scopes: [], rateLimit: null, allowedIps: ['10.0.0.0/8'], requireSignature: true }), null)
    t.same(await store.get('uuuuuuuuuuu9'), revoked, 'the revoked record is as it was')
    t.equal(await store.epoch(), before)
  })

  t.test(`${name}: update racing revoke: the record is either updated then revoked, or revoked and untouched`, async (t) => {
    const store = await open(t)
    for (let i = 0; i < 10; i++) {
      const id = `racerace000${i}`
      await store.create(sampleKey(id))
      const [updated] = await Promise.all([store.update(id, { name: 'updated' }), store.revoke(id, 1000 + i)])
      const after = await store.get(id)
      t.equal(after?.revokedAt, 1000 + i)
      t.equal(after?.name, updated === null ? 'a service' : 'updated')
    }
  })

  t.test(`${name}: bumpEpoch moves the epoch`, async (t) => {
    const store = await open(t)
    const first = await store.epoch()
    await store.bumpEpoch()
    const second = await store.epoch()
    t.not(second, first)
    await store.bumpEpoch()
    t.not(await store.epoch(), second)
  })

  t.test(`${name}: list is every key, oldest first, revoked included`, async (t) => {
    const store = await open(t)
    await store.create(sampleKey('bbbbbbbbbbb2', { createdAt: 2000 }))
    await store.create(sampleKey('bbbbbbbbbbb1', { createdAt: 1000 }))
    await store.revoke('bbbbbbbbbbb1', 3000)
    const listed = await store.list()
    t.same(listed.map((k) => k.id), ['bbbbbbbbbbb1', 'bbbbbbbbbbb2'])
    t.equal(listed[0]?.revokedAt, 3000)
  })

  t.test(`${name}: revoke keeps the first time and moves the epoch`, async (t) => {
    const store = await open(t)
    await store.create(sampleKey('ccccccccccc1'))
    const before = await store.epoch()
    t.equal(await store.revoke('ccccccccccc1', 1000), 'revoked')
    t.equal(await store.revoke('ccccccccccc1', 2000), 'already-revoked')
    t.equal(await store.revoke('ccccccccccc9', 2000), 'unknown')
    t.equal((await store.get('ccccccccccc1'))?.revokedAt, 1000)
    t.not(await store.epoch(), before)
  })

  t.test(`${name}: rotate replaces the hashes of a live key only`, async (t) => {
    const store = await open(t)
    await store.create(sampleKey('ddddddddddd1'))
    const before = await store.epoch()
    const rotated = await store.rotate('ddddddddddd1', { hash: 'new', previousHash: 'old', previousUntil: 5000 })
    t.match(rotated, { hash: 'new', previousHash: 'old', previousUntil: 5000, name: 'a service' })
    t.not(await store.epoch(), before)
    const again = await store.rotate('ddddddddddd1', { hash: 'newer', previousHash: null, previousUntil: null })
    t.match(again, { hash: 'newer', previousHash: null, previousUntil: null })
    t.same(await store.get('ddddddddddd1'), again)
    t.equal(await store.rotate('ddddddddddd9', { hash: 'x', previousHash: null, previousUntil: null }), null)
    await store.revoke('ddddddddddd1', 1)
    t.equal(await store.rotate('ddddddddddd1', { hash: 'x', previousHash: null, previousUntil: null }), null)
  })

  t.test(`${name}: touch writes lastUsedAt at most once per interval`, async (t) => {
    const store = await open(t)
    await store.create(sampleKey('eeeeeeeeeee1'))
    await store.touch('eeeeeeeeeee1', 1000, 200)
    await store.touch('eeeeeeeeeee1', 1100, 200)
    t.equal((await store.get('eeeeeeeeeee1'))?.lastUsedAt, 1000)
    await sleep(250)
    await store.touch('eeeeeeeeeee1', 1300, 200)
    t.equal((await store.get('eeeeeeeeeee1'))?.lastUsedAt, 1300)
    await store.touch('eeeeeeeeeee9', 1000, 200)
    t.equal(await store.get('eeeeeeeeeee9'), null, 'touching an unknown key creates nothing')
  })

  t.test(`${name}: denied tokens stay denied until they expire`, async (t) => {
    const store = await open(t)
    t.equal(await store.isTokenDenied('jti-1'), false)
    await store.denyToken('jti-1', Date.now() + 200)
    await store.denyToken('jti-2', Date.now() - 1)
    t.equal(await store.isTokenDenied('jti-1'), true)
    t.equal(await store.isTokenDenied('jti-2'), false, 'an already expired token needs no entry')
    await sleep(250)
    t.equal(await store.isTokenDenied('jti-1'), false)
  })

  t.test(`${name}: tokenGate reads an IP's failures and a token's denial together`, async (t) => {
    const store = await open(t)
    t.same(await store.tokenGate('10.0.0.3', 'jti-g'), { failures: { count: 0, resetMs: 0 }, denied: false })
    await store.recordAuthFailure('10.0.0.3', 60_000)
    await store.recordAuthFailure('10.0.0.3', 60_000)
    await store.denyToken('jti-g', Date.now() + 60_000)
    const gate = await store.tokenGate('10.0.0.3', 'jti-g')
    t.equal(gate.failures.count, 2)
    t.ok(gate.failures.resetMs > 59_000 && gate.failures.resetMs <= 60_000)
    t.equal(gate.denied, true)
    t.same(await store.tokenGate('10.0.0.4', 'jti-other'), { failures: { count: 0, resetMs: 0 }, denied: false }, 'per IP and per token')
  })

  t.test(`${name}: auth failures count per IP in a window that starts with the first`, async (t) => {
    const store = await open(t)
    t.same(await store.authFailures('10.0.0.1'), { count: 0, resetMs: 0 })
    t.equal((await store.recordAuthFailure('10.0.0.1', 300)).count, 1)
    const second = await store.recordAuthFailure('10.0.0.1', 300)
    t.equal(second.count, 2)
    t.ok(second.resetMs > 0 && second.resetMs <= 300)
    t.equal((await store.authFailures('10.0.0.2')).count, 0)
    t.equal((await store.authFailures('10.0.0.1')).count, 2)
    await sleep(350)
    t.equal((await store.authFailures('10.0.0.1')).count, 0, 'the window passed')
  })
}
