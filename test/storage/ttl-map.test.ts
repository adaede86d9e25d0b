import t from 'tap'
import { TtlMap } from '../../src/storage/memory/ttl-map.js'
import { sleep } from '../helper.js'

t.test('an entry is live until its expiresAt, then dropped when read', async (t) => {
  let now = 0
  const map = new TtlMap<string>({ now: () => now })
  t.teardown(() => map.close())
  t.equal(map.set('a', 'one', 100), true)
  t.same(map.get('a'), { value: 'one', expiresAt: 100 })
  now = 100
  t.equal(map.get('a'), undefined)
  t.equal(map.size, 0, 'dropped')
})

t.test('setIfAbsent writes only when there is no live entry; set replaces', async (t) => {
  let now = 0
  const map = new TtlMap<number>({ now: () => now })
  t.teardown(() => map.close())
  t.equal(map.setIfAbsent('k', 1, 50), true)
  t.equal(map.setIfAbsent('k', 2, 500), false)
  t.equal(map.get('k')?.value, 1)
  t.equal(map.set('k', 3, 500), true)
  t.same(map.get('k'), { value: 3, expiresAt: 500 })
  now = 500
  t.equal(map.setIfAbsent('k', 4, 600), true, 'an expired entry is absent')
  map.delete('k')
  t.equal(map.get('k'), undefined)
})

t.test('at the cap: new keys refused, live entries kept, existing ones still replaceable', async (t) => {
  const now = 0
  const map = new TtlMap<number>({ now: () => now, maxEntries: 2 })
  t.teardown(() => map.close())
  t.equal(map.set('a', 1, 1000), true)
  t.equal(map.set('b', 1, 1000), true)
  t.equal(map.set('c', 1, 1000), false)
  t.equal(map.setIfAbsent('c', 1, 1000), false)
  t.equal(map.set('a', 2, 2000), true, 'a key that is there may change')
  t.equal(map.get('a')?.value, 2)
  t.equal(map.get('b')?.value, 1)
  t.equal(map.size, 2)
})

t.test('at the cap: expired entries make room, at the oldest end and behind a live one', async (t) => {
  let now = 0
  const map = new TtlMap<number>({ now: () => now, maxEntries: 3 })
  t.teardown(() => map.close())
  map.set('old', 1, 10)
  map.set('long', 1, 10_000)
  map.set('short', 1, 20)
  now = 20
  t.equal(map.setIfAbsent('new1', 1, 100_000), true, 'the expired oldest entry is dropped')
  t.equal(map.get('long')?.value, 1)
  now = 2000
  // 'short' has expired but 'long' (live) comes first: only a full sweep finds it
  t.equal(map.setIfAbsent('new2', 1, 3000), true, 'a full sweep finds expired entries behind a live one')
  t.equal(map.setIfAbsent('new3', 1, 3000), false, 'full of live entries')
  t.equal(map.size, 3)
})

t.test('at the cap, the full sweep runs at most once a second', async (t) => {
  let now = 0
  const map = new TtlMap<number>({ now: () => now, maxEntries: 3 })
  t.teardown(() => map.close())
  map.set('long', 1, 100_000)
  map.set('short', 1, 10)
  map.set('b', 1, 100_000)
  now = 5000
  t.equal(map.set('c', 1, 100_000), true, 'a full sweep at 5000 drops short')
  map.set('b', 1, 5010) // b now expires soon, behind the live 'long'
  now = 5020
  t.equal(map.setIfAbsent('y', 1, 100_000), false, 'no second full sweep within a second of the last')
  now = 6000
  t.equal(map.setIfAbsent('y', 1, 100_000), true, 'a second later, a full sweep drops b')
  t.equal(map.get('b'), undefined)
  t.equal(map.size, 3)
})

t.test('the sweep timer drops expired entries', async (t) => {
  const map = new TtlMap<number>({ sweepIntervalMs: 20 })
  t.teardown(() => map.close())
  map.set('a', 1, Date.now() + 10)
  map.set('b', 1, Date.now() + 60_000)
  await sleep(80)
  t.equal(map.size, 1)
})
