import { Redis } from 'ioredis'
import t from 'tap'
import { Blocks, type BlockEvents, MAX_AUTOMATIC_BLOCKS } from '../../src/abuse/blocks.js'
import type { AbuseStore } from '../../src/storage/abuse-store.js'
import { MemoryAbuseStore } from '../../src/storage/memory/memory-abuse-store.js'
import { RedisAbuseStore } from '../../src/storage/redis/redis-abuse-store.js'
import { flushRedis, testRedis } from '../helper.js'

// The cap on automatic blocks (src/abuse/blocks.ts MAX_AUTOMATIC_BLOCKS): every instance holds
// every block, so an attacker with many addresses must not grow that list without end.

type Emitted = Parameters<BlockEvents['emit']>[0]

async function stores (t: { teardown: (fn: () => unknown) => void }): Promise<Array<[string, () => Promise<AbuseStore>]>> {
  const url = (await testRedis()).url
  return [
    ['memory', async () => {
      const store = new MemoryAbuseStore()
      t.teardown(async () => { await store.close() })
      return store
    }],
    ['redis', async () => {
      await flushRedis(url)
      const client = new Redis(url)
      t.teardown(async () => { await client.quit() })
      return new RedisAbuseStore(client)
    }]
  ]
}

t.test('the cap is 10 000 automatic blocks', async (t) => {
  t.equal(MAX_AUTOMATIC_BLOCKS, 10_000)
})

t.test('past the cap a new automatic block pushes out the one ending soonest: no longer enforced, a block.lifted event says why', async (t) => {
  for (const [name, open] of await stores(t)) {
    await t.test(name, async (t) => {
      const store = await open()
      let now = 1_700_000_000_000
      const events: Emitted[] = []
      const blocks = new Blocks(store, { pollMs: 0, now: () => now, maxAutomatic: 2, events: { emit: (e) => events.push(e) } })
      t.teardown(() => { blocks.close() })
      const manual = await blocks.block({ cidr: '198.51.100.0/24', durationSeconds: 60, reason: 'by hand', by: 'key-tool', callerIp: null })
      const first = await blocks.blockAddress('203.0.113.1', 1, 'score')
      now += 1000
      await blocks.blockAddress('2001:db8:1:2::/64', 1, 'score')
      now += 1000
      await blocks.blockAddress('203.0.113.3', 1, 'score')
      t.equal(blocks.blockedFor('203.0.113.1'), 0, 'the first, ending soonest, is pushed out')
      t.ok(blocks.blockedFor('2001:db8:1:2::5') > 0)
      t.ok(blocks.blockedFor('203.0.113.3') > 0)
      t.ok(blocks.blockedFor('198.51.100.9') > 0, 'the manual block stays (shorter than all, never pushed out)')
      t.match(events.filter((e) => e.type === 'block.lifted'), [{ type: 'block.lifted', ip: null, detail: { id: first.id, cidr: '203.0.113.1/32', by: 'capacity' } }])
      t.equal(events.filter((e) => e.type === 'block.added').length, 4)
      t.same((await blocks.list()).map((b) => b.cidr).sort(), ['198.51.100.0/24', '2001:db8:1:2::/64', '203.0.113.3/32'])
      // another instance reads the same
      const other = new Blocks(store, { pollMs: 0, now: () => now })
      t.teardown(() => { other.close() })
      await other.refresh(true)
      t.equal(other.blockedFor('203.0.113.1'), 0)
      t.ok(other.blockedFor('203.0.113.3') > 0)
      t.same(other.active().map((b) => b.id).sort(), [manual.id, ...(await blocks.list()).filter((b) => !b.manual).map((b) => b.id)].sort())
    })
  }
})

t.test('redis: a flood of 300 addresses on a cap of 100 leaves 100 blocks, the latest', async (t) => {
  await flushRedis((await testRedis()).url)
  const client = new Redis((await testRedis()).url)
  t.teardown(async () => { await client.quit() })
  const store = new RedisAbuseStore(client)
  let now = 1_700_000_000_000
  const blocks = new Blocks(store, { pollMs: 0, now: () => now, maxAutomatic: 100 })
  t.teardown(() => { blocks.close() })
  for (let i = 0; i < 300; i++) {
    now += 10
    await blocks.blockAddress(`10.0.${i >> 8}.${i & 255}`, 1, 'flood')
  }
  const listed = await blocks.list()
  t.equal(listed.length, 100)
  t.equal(await client.hlen('{missive-abuse}:blocks'), 100, 'the stored hash is bounded too')
  t.equal(await client.zcard('{missive-abuse}:blocks:automatic'), 100)
  t.equal(blocks.blockedFor('10.0.0.199'), 0)
  t.ok(blocks.blockedFor('10.0.0.200') > 0)
  t.ok(blocks.blockedFor('10.0.1.43') > 0)
})
