import type { Test } from 'tap'
import type { ClientKeyStore, StoredClientKey } from '../../src/storage/client-key-store.js'

/** what the contract needs of a test */
export interface ClientKeyStoreTest { teardown: (fn: () => unknown) => void }

/** A stored client key with every field set (the values need not be a real key: the store does not look). */
export function sampleClientKey (keyid: string, overrides: Partial<StoredClientKey> = {}): StoredClientKey {
  return {
    keyid,
    alg: 'ed25519',
    jwk: { kty: 'OKP', crv: 'Ed25519', x: `x-of-${keyid}` },
    createdAt: 1_700_000_000_000,
    ...overrides
  }
}

/**
 * The one contract every client key store keeps: the memory store and real Redis
 * (test/storage/client-key-store.test.ts), and a Redis Cluster (test/cluster/stores.test.ts).
 * `open` gives an empty store.
 */
export function clientKeyStoreContract (t: Test, name: string, open: (t: ClientKeyStoreTest) => Promise<ClientKeyStore>): void {
  t.test(`${name}: add, list and remove`, async (t) => {
    const store = await open(t)
    t.same(await store.list('apikey000001'), [], 'no keys yet')
    const ed = sampleClientKey('kid-ed')
    const ec = sampleClientKey('kid-ec', { alg: 'ecdsa-p256-sha256', jwk: { kty: 'EC', crv: 'P-256', x: 'x-ec', y: 'y-ec' }, createdAt: 1_700_000_000_500 })
    t.equal(await store.add('apikey000001', ed, 10), 'added')
    t.equal(await store.add('apikey000001', ec, 10), 'added')
    t.same(await store.list('apikey000001'), [ed, ec], 'every field back')
    t.equal(await store.remove('apikey000001', 'kid-ed'), true)
    t.same(await store.list('apikey000001'), [ec])
    t.equal(await store.remove('apikey000001', 'kid-ec'), true)
    t.same(await store.list('apikey000001'), [])
  })

  t.test(`${name}: list is oldest first, then by keyid`, async (t) => {
    const store = await open(t)
    const keys = [
      sampleClientKey('kid-c', { createdAt: 3000 }),
      sampleClientKey('kid-b', { createdAt: 1000 }),
      sampleClientKey('kid-z', { createdAt: 2000 }),
      sampleClientKey('kid-a', { createdAt: 2000 })
    ]
    for (const key of keys) t.equal(await store.add('apikey000002', key, 10), 'added')
    t.same((await store.list('apikey000002')).map((k) => k.keyid), ['kid-b', 'kid-a', 'kid-z', 'kid-c'])
  })

  t.test(`${name}: a keyid already there is 'exists', and the stored key is kept`, async (t) => {
    const store = await open(t)
    const first = sampleClientKey('kid-same')
    t.equal(await store.add('apikey000003', first, 10), 'added')
    t.equal(await store.add('apikey000003', sampleClientKey('kid-same', { createdAt: 1_800_000_000_000, jwk: { kty: 'OKP', crv: 'Ed25519', x: 'other' } }), 10), 'exists')
    t.same(await store.list('apikey000003'), [first])
  })

  t.test(`${name}: 'full' at max, room again after a remove; 'exists' before 'full'`, async (t) => {
    const store = await open(t)
    for (let i = 0; i < 3; i++) t.equal(await store.add('apikey000004', sampleClientKey(`kid-${i}`, { createdAt: i }), 3), 'added')
    t.equal(await store.add('apikey000004', sampleClientKey('kid-3'), 3), 'full')
    t.equal(await store.add('apikey000004', sampleClientKey('kid-1'), 3), 'exists', 'a key already there is reported as such, full or not')
    t.equal((await store.list('apikey000004')).length, 3)
    t.equal(await store.remove('apikey000004', 'kid-0'), true)
    t.equal(await store.add('apikey000004', sampleClientKey('kid-3', { createdAt: 3 }), 3), 'added')
    t.same((await store.list('apikey000004')).map((k) => k.keyid), ['kid-1', 'kid-2', 'kid-3'])
    t.equal(await store.add('apikey000005', sampleClientKey('kid-0'), 0), 'full', 'max 0: nothing fits')
    await t.rejects(store.add('apikey000005', sampleClientKey('kid-0'), Number.NaN), RangeError, 'max must be a whole number')
    await t.rejects(store.add('apikey000005', sampleClientKey('kid-0'), -1), RangeError)
    t.same(await store.list('apikey000005'), [])
  })

  t.test(`${name}: 20 racing adds with max 10: exactly 10 added, the rest full`, async (t) => {
    const store = await open(t)
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await store.add('apikey000006', sampleClientKey(`kid-race-${String(i).padStart(2, '0')}`, { createdAt: i }), 10)))
    t.equal(results.filter((r) => r === 'added').length, 10)
    t.equal(results.filter((r) => r === 'full').length, 10)
    const listed = await store.list('apikey000006')
    t.equal(listed.length, 10)
    t.same(listed.map((k) => k.keyid).sort(), results.flatMap((r, i) => r === 'added' ? [`kid-race-${String(i).padStart(2, '0')}`] : []).sort(),
      'the keys listed are those reported added')
  })

  t.test(`${name}: 20 racing adds of one keyid: one added, the rest exists`, async (t) => {
    const store = await open(t)
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await store.add('apikey000007', sampleClientKey('kid-one', { createdAt: i }), 10)))
    t.equal(results.filter((r) => r === 'added').length, 1)
    t.equal(results.filter((r) => r === 'exists').length, 19)
    t.equal((await store.list('apikey000007')).length, 1)
  })

  t.test(`${name}: each API key has its own keys and its own max`, async (t) => {
    const store = await open(t)
    t.equal(await store.add('apikey00000a', sampleClientKey('kid-shared'), 1), 'added')
    t.equal(await store.add('apikey00000b', sampleClientKey('kid-shared'), 1), 'added', 'the same keyid under another API key')
    t.equal(await store.add('apikey00000a', sampleClientKey('kid-other'), 1), 'full')
    t.same((await store.list('apikey00000a')).map((k) => k.keyid), ['kid-shared'])
    t.equal(await store.remove('apikey00000a', 'kid-shared'), true)
    t.same(await store.list('apikey00000a'), [])
    t.same((await store.list('apikey00000b')).map((k) => k.keyid), ['kid-shared'], 'untouched by the other key\'s remove')
    t.same(await store.list('apikey00000c'), [])
  })

  t.test(`${name}: removing an unknown key is false`, async (t) => {
    const store = await open(t)
    t.equal(await store.remove('apikey00000d', 'kid-none'), false, 'an API key without client keys')
    await store.add('apikey00000d', sampleClientKey('kid-1'), 10)
    t.equal(await store.remove('apikey00000d', 'kid-none'), false, 'a keyid it does not have')
    t.equal(await store.remove('apikey00000d', 'kid-1'), true)
    t.equal(await store.remove('apikey00000d', 'kid-1'), false, 'a second remove')
  })
}
