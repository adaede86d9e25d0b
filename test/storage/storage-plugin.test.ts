import t from 'tap'
import { MemoryClientKeyStore } from '../../src/storage/memory/memory-client-key-store.js'
import { MemoryReplayStore } from '../../src/storage/memory/memory-replay-store.js'
import { RedisClientKeyStore } from '../../src/storage/redis/redis-client-key-store.js'
import { RedisReplayStore } from '../../src/storage/redis/redis-replay-store.js'
import { build } from '../helper.js'
import { sampleClientKey } from './client-key-store.contract.js'

t.test('memory: the app has a client key store and a replay store of its own', async (t) => {
  const app = await build(t)
  t.type(app.clientKeyStore, MemoryClientKeyStore)
  t.type(app.replayStore, MemoryReplayStore)
  t.equal(await app.replayStore.firstUse('dpop', 'jti-plugin', 60_000), true)
  t.equal(await app.replayStore.firstUse('dpop', 'jti-plugin', 60_000), false)
})

t.test('redis: two instances share client keys and the replay cache', async (t) => {
  const one = await build(t, { store: 'redis' })
  const two = await build(t, { store: 'redis', flush: false })
  t.type(one.clientKeyStore, RedisClientKeyStore)
  t.type(one.replayStore, RedisReplayStore)
  t.equal(await one.clientKeyStore.add('pluginkey001', sampleClientKey('kid-plugin'), 10), 'added')
  t.same(await two.clientKeyStore.list('pluginkey001'), [sampleClientKey('kid-plugin')])
  t.equal(await one.replayStore.firstUse('sig', 'nonce-plugin', 60_000), true)
  t.equal(await two.replayStore.firstUse('sig', 'nonce-plugin', 60_000), false)
})
