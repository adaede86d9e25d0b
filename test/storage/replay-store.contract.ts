import type { Test } from 'tap'
import type { ReplayStore } from '../../src/storage/replay-store.js'
import { sleep } from '../helper.js'

/** what the contract needs of a test */
export interface ReplayStoreTest { teardown: (fn: () => unknown) => void }

export interface OpenedReplayStore {
  store: ReplayStore
  /** a second instance sharing what `store` remembers (another client to the same Redis); none in memory */
  other?: ReplayStore
}

/**
 * The one contract every replay store keeps: the memory store and real Redis
 * (test/storage/replay-store.test.ts), and a Redis Cluster (test/cluster/stores.test.ts).
 * `open` gives an empty store.
 */
export function replayStoreContract (t: Test, name: string, open: (t: ReplayStoreTest) => Promise<OpenedReplayStore>): void {
  t.test(`${name}: the first use is true, every later one within the TTL false`, async (t) => {
    const { store } = await open(t)
    t.equal(await store.firstUse('dpop', 'jti-1', 60_000), true)
    t.equal(await store.firstUse('dpop', 'jti-1', 60_000), false)
    t.equal(await store.firstUse('dpop', 'jti-1', 60_000), false)
    t.equal(await store.firstUse('dpop', 'jti-2', 60_000), true, 'another id')
    t.equal(await store.firstUse('dpop', 'x'.repeat(100_000), 60_000), true, 'a long id')
    t.equal(await store.firstUse('dpop', 'x'.repeat(100_000), 60_000), false)
    t.equal(await store.firstUse('dpop', '', 60_000), true, 'an empty id')
    t.equal(await store.firstUse('dpop', '', 60_000), false)
  })

  t.test(`${name}: the two scopes are independent`, async (t) => {
    const { store } = await open(t)
    t.equal(await store.firstUse('dpop', 'same-id', 60_000), true)
    t.equal(await store.firstUse('sig', 'same-id', 60_000), true)
    t.equal(await store.firstUse('sig', 'same-id', 60_000), false)
    t.equal(await store.firstUse('dpop', 'same-id', 60_000), false)
  })

  t.test(`${name}: an id is forgotten when its TTL ends`, async (t) => {
    const { store } = await open(t)
    t.equal(await store.firstUse('sig', 'nonce-short', 150), true)
    t.equal(await store.firstUse('sig', 'nonce-long', 60_000), true)
    t.equal(await store.firstUse('sig', 'nonce-short', 150), false)
    await sleep(250)
    t.equal(await store.firstUse('sig', 'nonce-short', 150), true, 'new again after the TTL')
    t.equal(await store.firstUse('sig', 'nonce-short', 150), false, 'and remembered again')
    t.equal(await store.firstUse('sig', 'nonce-long', 60_000), false, 'a longer TTL is still running')
  })

  t.test(`${name}: 50 racing first uses of one id: exactly one true`, async (t) => {
    const { store } = await open(t)
    const results = await Promise.all(Array.from({ length: 50 }, async () => await store.firstUse('dpop', 'raced', 60_000)))
    t.equal(results.filter(Boolean).length, 1)
  })

  t.test(`${name}: a TTL that is not a positive number is a RangeError, and nothing is remembered`, async (t) => {
    const { store } = await open(t)
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await t.rejects(store.firstUse('dpop', 'bad-ttl', ttl), RangeError, `ttl ${ttl}`)
    }
    t.equal(await store.firstUse('dpop', 'bad-ttl', 0.5), true, 'a fraction of a ms is rounded up')
  })

  t.test(`${name}: two instances racing on one id: exactly one true`, async (t) => {
    const { store, other } = await open(t)
    if (other === undefined) {
      t.pass('one instance only (the memory store is per process)')
      return
    }
    const results = await Promise.all(Array.from({ length: 50 }, async (_, i) =>
      await (i % 2 === 0 ? store : other).firstUse('sig', 'shared-nonce', 60_000)))
    t.equal(results.filter(Boolean).length, 1)
    t.equal(await store.firstUse('sig', 'shared-nonce', 60_000), false)
    t.equal(await other.firstUse('sig', 'shared-nonce', 60_000), false)
    t.equal(await other.firstUse('dpop', 'seen-by-one', 60_000), true)
    t.equal(await store.firstUse('dpop', 'seen-by-one', 60_000), false, 'what one instance saw, the other knows')
  })
}
