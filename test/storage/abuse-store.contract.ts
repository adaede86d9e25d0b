import type { Test } from 'tap'
import type { AbuseStore, ScoreRule, StoredBlock } from '../../src/storage/abuse-store.js'

export interface AbuseStoreTest { teardown: (fn: () => unknown) => void }

export interface OpenedAbuseStore {
  store: AbuseStore
  /** a second instance on the same shared state (another client to the same Redis); none in memory */
  other?: AbuseStore
}

export const RULE: ScoreRule = { threshold: 100, halfLifeMs: 600_000, memoryMs: 86_400_000, durationsMs: [60_000, 300_000, 1_800_000, 7_200_000, 86_400_000] }

export function block (id: string, overrides: Partial<StoredBlock> = {}): StoredBlock {
  return { id, cidr: '203.0.113.7/32', reason: 'test', level: 1, since: 1_000, until: 10_000_000_000_000, manual: false, by: null, ...overrides }
}

/**
 * The contract every abuse store keeps: memory and real Redis (test/storage/abuse-store.test.ts),
 * and a Redis Cluster (test/cluster/stores.test.ts). `open` gives an empty store.
 */
export function abuseStoreContract (t: Test, name: string, open: (t: AbuseStoreTest) => Promise<OpenedAbuseStore>): void {
  t.test(`${name}: scores add up, decay by half each half-life, and reset at the threshold with level 1`, async (t) => {
    const { store } = await open(t)
    const now = 1_700_000_000_000
    t.same(await store.addScore('203.0.113.7', 40, now, RULE), { score: 40, level: 0 })
    t.same(await store.addScore('203.0.113.7', 40, now, RULE), { score: 80, level: 0 })
    t.equal(await store.score('203.0.113.7', now + RULE.halfLifeMs, RULE), 40, 'halved after one half-life')
    const decayed = await store.addScore('203.0.113.7', 10, now + RULE.halfLifeMs, RULE)
    t.same(decayed, { score: 50, level: 0 }, 'the decay is applied before adding')
    t.equal(await store.score('198.51.100.1', now, RULE), 0, 'another address is untouched')
    t.same(await store.addScore('203.0.113.7', 50, now + RULE.halfLifeMs, RULE), { score: 0, level: 1 }, 'at the threshold: level 1, score back to 0')
    t.equal(await store.score('203.0.113.7', now + RULE.halfLifeMs, RULE), 0)
  })

  t.test(`${name}: the ladder climbs on repeat after each block, the top rung repeats, and a quiet day starts it again`, async (t) => {
    const { store } = await open(t)
    let now = 1_700_000_000_000
    const levels: number[] = []
    for (let i = 0; i < 7; i++) {
      const level = (await store.addScore('2001:db8:1:2::/64', 100, now, RULE)).level
      levels.push(level)
      // the next crossing comes a minute after this block ends (a 24 h block included)
      now += RULE.durationsMs[level - 1]! + 60_000
    }
    t.same(levels, [1, 2, 3, 4, 5, 5, 5])
    now += RULE.memoryMs
    t.equal((await store.addScore('2001:db8:1:2::/64', 100, now, RULE)).level, 1, 'a quiet day after the last block ended: level 1 again')
    now += 60_000 + RULE.memoryMs - 1
    t.equal((await store.addScore('2001:db8:1:2::/64', 100, now, RULE)).level, 2, 'just under a day after it ended: the next rung')
  })

  t.test(`${name}: of racing additions exactly one gets the crossing`, async (t) => {
    const { store, other } = await open(t)
    const now = 1_700_000_000_000
    const stores = [store, other ?? store]
    const outcomes = await Promise.all(Array.from({ length: 40 }, async (_, i) => await stores[i % 2]!.addScore('192.0.2.9', 5, now, RULE)))
    t.equal(outcomes.filter((o) => o.level > 0).length, 2, '40 × 5 = 200: two crossings of 100, each seen once')
  })

  t.test(`${name}: an address is forgotten memoryMs after its last offence or block end, by the caller's clock`, async (t) => {
    const { store } = await open(t)
    // a long half-life and a short memory: a remembered score would still be whole
    const rule: ScoreRule = { ...RULE, halfLifeMs: 86_400_000, memoryMs: 60_000 }
    const now = 1_700_000_000_000
    t.same(await store.addScore('192.0.2.50', 60, now, rule), { score: 60, level: 0 })
    t.equal(await store.score('192.0.2.50', now + 59_999, rule), 60, 'remembered just before')
    t.equal(await store.score('192.0.2.50', now + 60_000, rule), 0, 'forgotten at memoryMs')
    t.same(await store.addScore('192.0.2.50', 60, now + 60_000, rule), { score: 60, level: 0 }, 'the score starts over')
    // a block: remembered memoryMs after its end, then the ladder starts at the bottom again
    const blocked = await store.addScore('192.0.2.50', 60, now + 60_000, rule)
    t.same(blocked, { score: 0, level: 1 })
    const blockEnd = now + 60_000 + rule.durationsMs[0]!
    t.same(await store.addScore('192.0.2.50', 99, blockEnd + 59_999, rule), { score: 99, level: 0 })
    t.same(await store.addScore('192.0.2.50', 1, blockEnd + 59_999, rule), { score: 0, level: 2 }, 'within memoryMs of the block end: the next rung')
    const secondEnd = blockEnd + 59_999 + rule.durationsMs[1]!
    t.same(await store.addScore('192.0.2.50', 99, secondEnd + 60_000, rule), { score: 99, level: 0 }, 'past it: the score starts over…')
    t.same(await store.addScore('192.0.2.50', 1, secondEnd + 60_000, rule), { score: 0, level: 1 }, '…and the ladder at its first rung')
  })

  t.test(`${name}: blocks are put, listed oldest first, removed, and move the version`, async (t) => {
    const { store, other } = await open(t)
    const v0 = await store.blocksVersion()
    await store.putBlock(block('b2', { since: 2_000 }))
    await store.putBlock(block('b1', { since: 1_000, cidr: '198.51.100.0/24', manual: true, level: 0, by: 'key-tool' }))
    const v1 = await (other ?? store).blocksVersion()
    t.not(v1, v0, 'the version moved (seen by another instance)')
    t.same((await (other ?? store).listBlocks(5_000)).map((b) => b.id), ['b1', 'b2'])
    t.same((await store.listBlocks(5_000))[0], block('b1', { since: 1_000, cidr: '198.51.100.0/24', manual: true, level: 0, by: 'key-tool' }), 'every field kept')
    t.same(await store.removeBlock('b1'), block('b1', { since: 1_000, cidr: '198.51.100.0/24', manual: true, level: 0, by: 'key-tool' }), 'the removed block')
    t.equal(await store.removeBlock('b1'), null, 'a second removal: unknown')
    t.equal(await store.removeBlock('nope'), null)
    t.not(await store.blocksVersion(), v1)
    t.same((await store.listBlocks(5_000)).map((b) => b.id), ['b2'])
  })

  t.test(`${name}: automatic blocks are capped: at the cap the one ending soonest goes (never the new one, never a manual one)`, async (t) => {
    const { store, other } = await open(t)
    const manual = { manual: true, level: 0, by: 'key-tool', cidr: '198.51.100.0/24' }
    t.same(await store.putBlock(block('m1', { ...manual, until: 2_000 }), 3), [], 'a manual block is not counted')
    t.same(await store.putBlock(block('a1', { until: 50_000 }), 3), [])
    t.same(await store.putBlock(block('a2', { until: 40_000, cidr: '203.0.113.8/32' }), 3), [])
    t.same(await store.putBlock(block('a3', { until: 60_000, cidr: '2001:db8:1:2::/64' }), 3), [])
    const v = await store.blocksVersion()
    const evicted = await (other ?? store).putBlock(block('a4', { until: 30_000, cidr: '203.0.113.9/32' }), 3)
    t.same(evicted, [block('a2', { until: 40_000, cidr: '203.0.113.8/32' })], 'the one ending soonest, not the new one (which ends sooner still)')
    t.not(await store.blocksVersion(), v)
    t.same((await store.listBlocks(1_500)).map((b) => b.id).sort(), ['a1', 'a3', 'a4', 'm1'])
    t.same(await store.putBlock(block('m2', { ...manual, until: 1_000_000, cidr: '192.0.2.0/24' }), 3), [], 'manual blocks go in past the cap')
    t.same((await store.putBlock(block('a5', { until: 70_000, cidr: '203.0.113.10/32' }), 2)).map((b) => b.id), ['a4', 'a1'], 'a lower cap: as many as it takes, soonest first')
    t.same((await store.listBlocks(1_500)).map((b) => b.id).sort(), ['a3', 'a5', 'm1', 'm2'])

    t.ok(await store.removeBlock('a3'), 'a lifted block no longer counts')
    t.same(await store.putBlock(block('a6', { until: 80_000, cidr: '203.0.113.11/32' }), 2), [])
    // ended automatic blocks make room first, and are not reported as pushed out
    t.same(await store.putBlock(block('a7', { since: 75_000, until: 90_000, cidr: '203.0.113.12/32' }), 2), [], 'a5 ended at 70 000: room without pushing anyone out')
    t.same((await store.listBlocks(75_000)).map((b) => b.id).sort(), ['a6', 'a7', 'm2'])
    t.same((await store.putBlock(block('a8', { since: 76_000, until: 100_000, cidr: '203.0.113.13/32' }), 2)).map((b) => b.id), ['a6'])
    t.same(await store.putBlock(block('a9', { until: 100_000 })), [], 'no cap given: none')
    t.same((await store.putBlock(block('a10', { since: 77_000, until: 110_000, cidr: '203.0.113.14/32' }), 2.9)).map((b) => b.id).sort(), ['a7', 'a8'], 'a fractional cap is its whole part: 2')
  })

  t.test(`${name}: ended blocks are not listed`, async (t) => {
    const { store } = await open(t)
    await store.putBlock(block('short', { until: 10_000 }))
    await store.putBlock(block('long', { until: 20_000, since: 2_000 }))
    t.same((await store.listBlocks(9_999)).map((b) => b.id), ['short', 'long'])
    t.same((await store.listBlocks(10_000)).map((b) => b.id), ['long'])
    t.same((await store.listBlocks(30_000)).map((b) => b.id), [])
  })
}
