import t, { type Test } from 'tap'
import { RedisAbuseStore } from '../../src/storage/redis/redis-abuse-store.js'
import { RedisClientKeyStore } from '../../src/storage/redis/redis-client-key-store.js'
import { RedisIssuerKeyStore } from '../../src/storage/redis/redis-issuer-key-store.js'
import { RedisKeyStore } from '../../src/storage/redis/redis-key-store.js'
import { RedisMessageStore } from '../../src/storage/redis/redis-message-store.js'
import { RedisReplayStore } from '../../src/storage/redis/redis-replay-store.js'
import { OwnerIndexWriter } from '../../src/storage/redis/owner-index-writer.js'
import { abuseScoreKey, apiKeyKey, apiKeySigningKeysKey, blocksKey, blocksVersionKey, apiKeyTouchedKey, messageKey, ownerIndexKey, replayKey, viewsKey } from '../../src/storage/redis/keys.js'
import { sleep } from '../helper.js'
import { abuseStoreContract } from '../storage/abuse-store.contract.js'
import { clientKeyStoreContract } from '../storage/client-key-store.contract.js'
import { issuerKeyStoreContract } from '../storage/issuer-key-store.contract.js'
import { keyStoreContract } from '../storage/key-store.contract.js'
import { eventOutboxContract, type OutboxUnderTest } from '../storage/event-outbox.contract.js'
import { message, messageStoreContract, receiptContract, type StoreUnderTest, TEST_RECEIPT_RETENTION_MS } from '../storage/message-store.contract.js'
import { replayStoreContract } from '../storage/replay-store.contract.js'
import { clusterClient, testCluster } from './cluster.js'

t.test('message store contract on a 3-master Redis Cluster', async (t) => {
  const cluster = await testCluster()
  const setup = async (t: Test): Promise<StoreUnderTest> => {
    await cluster.flushAll()
    return { store: new RedisMessageStore(await clusterClient(t, cluster), { receiptRetentionMs: TEST_RECEIPT_RETENTION_MS }), elapse: sleep }
  }
  messageStoreContract(t, setup)
  receiptContract(t, setup)
})

t.test('webhook outbox contract on a 3-master Redis Cluster (events beside the receipt, the schedule in its own slot)', async (t) => {
  const cluster = await testCluster()
  eventOutboxContract(t, async (t: Test): Promise<OutboxUnderTest> => {
    await cluster.flushAll()
    return { store: new RedisMessageStore(await clusterClient(t, cluster), { receiptRetentionMs: TEST_RECEIPT_RETENTION_MS }), elapse: sleep }
  })
})

keyStoreContract(t, 'key store on a 3-master Redis Cluster', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  const client = await clusterClient(t as Parameters<typeof clusterClient>[0], cluster)
  return new RedisKeyStore(client)
})

issuerKeyStoreContract(t, 'issuer key store on a 3-master Redis Cluster', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  const client = await clusterClient(t as Parameters<typeof clusterClient>[0], cluster)
  return new RedisIssuerKeyStore(client)
})

clientKeyStoreContract(t, 'client key store on a 3-master Redis Cluster', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  const client = await clusterClient(t as Parameters<typeof clusterClient>[0], cluster)
  return new RedisClientKeyStore(client)
})

replayStoreContract(t, 'replay store on a 3-master Redis Cluster', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  // two instances: two cluster clients
  const test = t as Parameters<typeof clusterClient>[0]
  return { store: new RedisReplayStore(await clusterClient(test, cluster)), other: new RedisReplayStore(await clusterClient(test, cluster)) }
})

abuseStoreContract(t, 'abuse store on a 3-master Redis Cluster', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  const test = t as Parameters<typeof clusterClient>[0]
  return { store: new RedisAbuseStore(await clusterClient(test, cluster)), other: new RedisAbuseStore(await clusterClient(test, cluster)) }
})

t.test('abuse keys: the blocks and their version share a slot; scores spread by address', async (t) => {
  const cluster = await testCluster()
  const client = await clusterClient(t, cluster)
  const slot = async (key: string): Promise<unknown> => await client.call('CLUSTER', 'KEYSLOT', key)
  t.equal(await slot(blocksKey), await slot(blocksVersionKey))
  t.not(await slot(abuseScoreKey('203.0.113.7')), await slot(abuseScoreKey('203.0.113.8')))
})

t.test('replay ids spread over every master', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  const store = new RedisReplayStore(await clusterClient(t, cluster))
  for (let i = 0; i < 60; i++) t.equal(await store.firstUse('dpop', `jti-${i}`, 60_000), true)
  const perNode = await cluster.eachNode(async (client) => await client.dbsize())
  t.ok(perNode.every((keys) => keys > 0), `keys on every master: ${perNode.join(', ')}`)
  t.equal(perNode.reduce((a, b) => a + b, 0), 60)
})

t.test('the keys one operation touches share a slot; messages spread over every master', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  const client = await clusterClient(t, cluster)
  const store = new RedisMessageStore(client)
  const slot = async (key: string): Promise<unknown> => await client.call('CLUSTER', 'KEYSLOT', key)
  const id = 'AAAAAAAAAAAAAAAAAAAAAA'
  t.equal(await slot(viewsKey(id)), await slot(messageKey(id)))
  t.equal(await slot(apiKeyTouchedKey('abcdefabcdef')), await slot(apiKeyKey('abcdefabcdef')))
  t.equal(await slot(apiKeySigningKeysKey('abcdefabcdef')), await slot(apiKeyKey('abcdefabcdef')), 'a key\'s record and its client keys')
  t.not(await slot(replayKey('dpop', 'jti-a')), await slot(replayKey('dpop', 'jti-b')), 'replay ids hash to their own slots')
  for (let i = 0; i < 60; i++) await store.create(message({ maxViews: 2, owner: 'ownerkey0001' }))
  const perNode = await cluster.eachNode(async (client) => await client.dbsize())
  t.ok(perNode.every((keys) => keys > 0), `keys on every master: ${perNode.join(', ')}`)
  t.equal((await store.listOwned('ownerkey0001', 100, null)).items.length, 60, 'an owner\'s index finds messages on every master')
  t.equal(await slot(ownerIndexKey('ownerkey0001')), await slot('{ownerkey0001}'))
})

t.test('the owner index\'s per-turn write is sent when dispatched, not held one more turn in the Cluster\'s auto-pipeline', async (t) => {
  const cluster = await testCluster()
  const client = await clusterClient(t, cluster)
  const writer = new OwnerIndexWriter(client)
  const index = ownerIndexKey('ownerkey00c1')
  await writer.add(index, 1, 'warm-up', Date.now() + 60_000) // loads the script
  const added = Promise.all([writer.add(index, 2, 'first', Date.now() + 60_000), writer.add(index, 3, 'second', Date.now() + 60_000)])
  // the turn's entries are dispatched at setImmediate; right after, nothing waits in a pipeline
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(client.autoPipelineQueueSize, 0)
  await added
  t.same(await client.zrange(index, '0', '-1'), ['warm-up', 'first', 'second'])
  // (a plain command still goes through the auto-pipeline: the check above can see one)
  const plain = client.get(index)
  t.equal(client.autoPipelineQueueSize, 1)
  await plain.catch(() => {})
})
