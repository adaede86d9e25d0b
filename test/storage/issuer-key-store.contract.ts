import type { Test } from 'tap'
import type { IssuerKeyStore, StoredIssuerKey } from '../../src/storage/issuer-key-store.js'

/** what the contract needs of a test */
export interface IssuerKeyStoreTest { teardown: (fn: () => unknown) => void }

/** A stored issuer key with every field set (values need not be a real key pair: the store does not look). */
export function sampleIssuerKey (name: string, kid: string, overrides: Partial<StoredIssuerKey> = {}): StoredIssuerKey {
  return {
    name,
    kid,
    alg: 'ES256',
    publicJwk: { kty: 'EC', crv: 'P-256', x: `x-of-${kid}`, y: `y-of-${kid}` },
    sealedPrivateJwk: `v1:sealed-private-of-${kid}`,
    createdAt: 1_700_000_000_123,
    signsFrom: 1_700_000_000_000,
    signsUntil: 1_700_086_400_000,
    ...overrides
  }
}

const byName = (a: StoredIssuerKey, b: StoredIssuerKey): number => a.name.localeCompare(b.name)

/**
 * The one contract every issuer key store keeps: the memory store and real Redis
 * (test/storage/issuer-key-store.test.ts), and a Redis Cluster (test/cluster/stores.test.ts).
 * `open` gives an empty store.
 */
export function issuerKeyStoreContract (t: Test, name: string, open: (t: IssuerKeyStoreTest) => Promise<IssuerKeyStore>): void {
  t.test(`${name}: createIfAbsent writes the key and returns it`, async (t) => {
    const store = await open(t)
    t.same(await store.list(), [], 'an empty store lists nothing')
    const key = sampleIssuerKey('ES256:10000:1', 'kid-one')
    t.same(await store.createIfAbsent(key), key)
    t.same(await store.list(), [key])
  })

  t.test(`${name}: a second createIfAbsent of the same name returns the first key and leaves it stored`, async (t) => {
    const store = await open(t)
    const first = sampleIssuerKey('ES256:10000:2', 'kid-first')
    const second = sampleIssuerKey('ES256:10000:2', 'kid-second', { createdAt: 1_700_000_000_999 })
    t.same(await store.createIfAbsent(first), first)
    const returned = await store.createIfAbsent(second)
    t.same(returned, first, 'the winner, not the caller\'s key')
    t.equal(returned.kid, 'kid-first')
    t.same(await store.list(), [first], 'the first key is still the one stored')
  })

  t.test(`${name}: 20 racing createIfAbsent of one name: one winner, returned to every caller`, async (t) => {
    const store = await open(t)
    const racers = Array.from({ length: 20 }, (_, i) => sampleIssuerKey('EdDSA:10000:3', `kid-racer-${i}`, { alg: 'EdDSA' }))
    const results = await Promise.all(racers.map(async (key) => await store.createIfAbsent(key)))
    const winners = new Set(results.map((k) => k.kid))
    t.equal(winners.size, 1, `one winner, got ${[...winners].join(', ')}`)
    const winner = results[0] as StoredIssuerKey
    t.ok(racers.some((k) => k.kid === winner.kid), 'the winner is one of the racers')
    t.same(racers.find((k) => k.kid === winner.kid), winner, 'returned whole')
    for (const result of results) t.same(result, winner)
    const listed = await store.list()
    t.equal(listed.length, 1, 'one key stored')
    t.same(listed, [winner])
  })

  t.test(`${name}: list returns every key with every field intact`, async (t) => {
    const store = await open(t)
    const keys = [
      sampleIssuerKey('ES256:10000:4', 'kid-es256'),
      sampleIssuerKey('EdDSA:10000:4', 'kid-eddsa', { alg: 'EdDSA', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'okp-x' } }),
      sampleIssuerKey('ES256:10000:5', 'kid-plain', {
        // a private JWK kept as plain JSON (no ENCRYPTION_KEY), quotes and all
        sealedPrivateJwk: JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' }),
        createdAt: 0,
        signsFrom: 50_000,
        signsUntil: 60_000
      })
    ]
    for (const key of keys) t.same(await store.createIfAbsent(key), key)
    const listed = await store.list()
    t.same([...listed].sort(byName), [...keys].sort(byName))
    for (const key of listed) {
      t.type(key.createdAt, 'number')
      t.type(key.signsFrom, 'number')
      t.type(key.signsUntil, 'number')
    }
  })

  t.test(`${name}: remove forgets only the named keys; remove([]) and unknown names are fine`, async (t) => {
    const store = await open(t)
    const keys = ['ES256:10000:6', 'ES256:10000:7', 'ES256:10000:8', 'EdDSA:10000:6'].map((n, i) => sampleIssuerKey(n, `kid-remove-${i}`))
    for (const key of keys) await store.createIfAbsent(key)
    await store.remove([])
    t.equal((await store.list()).length, 4, 'remove([]) removes nothing')
    await store.remove(['ES256:10000:6', 'EdDSA:10000:6', 'ES256:10000:999'])
    t.same((await store.list()).sort(byName), keys.slice(1, 3).sort(byName))
    // a removed name can be created again, with a new key
    const again = sampleIssuerKey('ES256:10000:6', 'kid-again')
    t.same(await store.createIfAbsent(again), again)
    await store.remove(['ES256:10000:6', 'ES256:10000:7', 'ES256:10000:8'])
    t.same(await store.list(), [])
  })
}
