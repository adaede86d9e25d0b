import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { MemoryKeyStore } from '../../src/storage/memory/memory-key-store.js'
import { StoreUnavailable } from '../../src/errors.js'
import { apiKeyEpochKey, apiKeyKey, authFailuresKey } from '../../src/storage/redis/keys.js'
import { RedisKeyStore } from '../../src/storage/redis/redis-key-store.js'
import { flushRedis, redisCommandsDuring, testRedis } from '../helper.js'
import { keyStoreContract, sampleKey } from './key-store.contract.js'

keyStoreContract(t, 'memory', async (t) => {
  const store = new MemoryKeyStore()
  t.teardown(() => store.close())
  return store
})

/** A key store on a flushed throwaway Redis, with its client (for looking at what it wrote) and the Redis' URL. */
async function redisKeyStore (t: Pick<Test, 'teardown'>): Promise<{ store: RedisKeyStore, client: Redis, url: string }> {
  const redis = await testRedis()
  await flushRedis(redis.url)
  const client = new Redis(redis.url)
  const store = new RedisKeyStore(client)
  t.teardown(async () => { await store.close(); await client.quit() })
  return { store, client, url: redis.url }
}

keyStoreContract(t, 'redis', async (t) => (await redisKeyStore(t)).store)

t.test('redis: the per-request reads are plain commands, one each on a single Redis (no script)', async (t) => {
  const { store, url } = await redisKeyStore(t)
  const gate = await redisCommandsDuring(t, url, async () => {
    t.same(await store.tokenGate('10.0.0.9', 'jti-1'), { failures: { count: 0, resetMs: 0 }, denied: false })
  })
  t.same(gate, ['mget'], 'a bearer token: failure count and deny list in one MGET')
  const failures = await redisCommandsDuring(t, url, async () => {
    t.same(await store.authFailures('10.0.0.9'), { count: 0, resetMs: 0 })
  })
  t.same(failures, ['get'], 'an API key: one GET')

  // With failures counted, the window's time left is read too (only then).
  await store.recordAuthFailure('10.0.0.9', 60_000)
  await store.denyToken('jti-1', Date.now() + 60_000)
  const counted = await store.tokenGate('10.0.0.9', 'jti-1')
  t.equal(counted.failures.count, 1)
  t.ok(counted.failures.resetMs > 59_000 && counted.failures.resetMs <= 60_000, `resetMs ${counted.failures.resetMs}`)
  t.equal(counted.denied, true)
  const read = await store.authFailures('10.0.0.9')
  t.equal(read.count, 1)
  t.ok(read.resetMs > 59_000 && read.resetMs <= 60_000)
})

t.test('redis: the same read asked for by requests of one turn is one command; the next turn reads again', async (t) => {
  const { store, url } = await redisKeyStore(t)
  const oneTurn = await redisCommandsDuring(t, url, async () => {
    const [a, b, c, other] = await Promise.all([
      store.authFailures('10.0.0.7'), store.authFailures('10.0.0.7'), store.authFailures('10.0.0.7'), store.authFailures('10.0.0.8')
    ])
    t.same([a, b, c, other], Array(4).fill({ count: 0, resetMs: 0 }))
    const gates = await Promise.all([store.tokenGate('10.0.0.7', 'jti-a'), store.tokenGate('10.0.0.7', 'jti-a'), store.tokenGate('10.0.0.7', 'jti-b')])
    t.same(gates.map((g) => g.denied), [false, false, false])
  })
  t.same(oneTurn, ['get', 'get', 'mget', 'mget'], 'one read per distinct question')

  // A failure recorded after a read is seen by the next turn's read: nothing is kept.
  await store.recordAuthFailure('10.0.0.7', 60_000)
  await store.denyToken('jti-a', Date.now() + 60_000)
  t.equal((await store.authFailures('10.0.0.7')).count, 1)
  const gate = await store.tokenGate('10.0.0.7', 'jti-a')
  t.equal(gate.failures.count, 1)
  t.equal(gate.denied, true)
})

t.test('redis: a shared read that fails fails every request sharing it, and the next turn reads again', async (t) => {
  const { store, client } = await redisKeyStore(t)
  await client.hset(authFailuresKey('10.0.0.6'), 'f', '1') // a GET of a hash fails: WRONGTYPE
  const results = await Promise.allSettled([store.authFailures('10.0.0.6'), store.authFailures('10.0.0.6')])
  t.same(results.map((r) => r.status), ['rejected', 'rejected'])
  for (const r of results) if (r.status === 'rejected') t.type(r.reason, StoreUnavailable)
  await client.del(authFailuresKey('10.0.0.6'))
  t.same(await store.authFailures('10.0.0.6'), { count: 0, resetMs: 0 })
})

t.test('redis: a record written before allow-lists and signatures reads as any address, no signature required', async (t) => {
  const { store, client } = await redisKeyStore(t)
  // as the store wrote records before the ip and rs fields existed
  await client.hset(apiKeyKey('oldoldoldold'), { n: 'old service', s: 'messages:read', c: '1700000000000', l: '9', h: 'hash-old' })
  const expected = {
    ...sampleKey('oldoldoldold'),
    name: 'old service',
    scopes: ['messages:read'],
    createdAt: 1_700_000_000_000,
    rateLimit: 9,
    hash: 'hash-old',
    allowedIps: [],
    requireSignature: false
  }
  t.same(await store.get('oldoldoldold'), expected)
  t.same(await store.update('oldoldoldold', { name: 'renamed' }), { ...expected, name: 'renamed' })
  t.same(await client.hkeys(apiKeyKey('oldoldoldold')).then((keys) => keys.sort()), ['c', 'h', 'l', 'n', 's'], 'nothing added but the patch')
  const updated = await store.update('oldoldoldold', { allowedIps: ['192.0.2.0/24'], requireSignature: true })
  t.same(updated, { ...expected, name: 'renamed', allowedIps: ['192.0.2.0/24'], requireSignature: true })
})

t.test('redis: allowedIps is the ip field (CIDRs joined by a space), requireSignature the rs field; absent when empty or false', async (t) => {
  const { store, client } = await redisKeyStore(t)
  await store.create(sampleKey('fieldsfield1', { allowedIps: ['203.0.113.0/24', '2001:db8::/32'], requireSignature: true }))
  await store.create(sampleKey('fieldsfield2'))
  const one = await client.hgetall(apiKeyKey('fieldsfield1'))
  t.equal(one.ip, '203.0.113.0/24 2001:db8::/32')
  t.equal(one.rs, '1')
  const two = await client.hgetall(apiKeyKey('fieldsfield2'))
  t.notOk('ip' in two, 'no ip field for any address')
  t.notOk('rs' in two, 'no rs field when no signature is required')

  await store.update('fieldsfield1', { allowedIps: [], requireSignature: false, rateLimit: null })
  const cleared = await client.hgetall(apiKeyKey('fieldsfield1'))
  t.notOk('ip' in cleared, 'allowedIps [] removes the field')
  t.notOk('rs' in cleared, 'requireSignature false removes the field')
  t.notOk('l' in cleared)
  await store.update('fieldsfield2', { allowedIps: ['198.51.100.1/32'], requireSignature: true, rateLimit: 3 })
  t.match(await client.hgetall(apiKeyKey('fieldsfield2')), { ip: '198.51.100.1/32', rs: '1', l: '3' })
})

t.test('redis: update is one script and one INCR of the epoch; bumpEpoch one INCR; nothing but the script for an unknown key', async (t) => {
  const { store, client, url } = await redisKeyStore(t)
  await store.create(sampleKey('commandskey1'))
  const update = await redisCommandsDuring(t, url, async () => {
    await store.update('commandskey1', { name: 'n', scopes: ['a'], rateLimit: null, allowedIps: [], requireSignature: true })
  })
  t.equal(update.length, 2, update.join(', '))
  t.match(update[0], /^evalsha$|^eval$/)
  t.equal(update[1], 'incr')
  const unknown = await redisCommandsDuring(t, url, async () => { t.equal(await store.update('commandskey9', { name: 'n' }), null) })
  t.equal(unknown.length, 1, unknown.join(', '))
  t.match(unknown[0], /^evalsha$|^eval$/)
  t.equal(await client.exists(apiKeyKey('commandskey9')), 0)
  const epoch = await store.epoch()
  t.same(await redisCommandsDuring(t, url, async () => { await store.bumpEpoch() }), ['incr'])
  t.equal(Number(await client.get(apiKeyEpochKey)), epoch + 1)
})

t.test('redis: update and bumpEpoch failures are StoreUnavailable', async (t) => {
  const { store, client } = await redisKeyStore(t)
  await client.set(apiKeyKey('wrongtype001'), 'not a hash')
  await client.set(apiKeyEpochKey, 'not a number')
  await t.rejects(store.update('wrongtype001', { name: 'x' }), StoreUnavailable)
  await t.rejects(store.bumpEpoch(), StoreUnavailable)
})
