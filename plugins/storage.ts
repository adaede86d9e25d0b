import fp from 'fastify-plugin'
import type { AbuseStore } from '../src/storage/abuse-store.js'
import { MemoryAbuseStore } from '../src/storage/memory/memory-abuse-store.js'
import { RedisAbuseStore } from '../src/storage/redis/redis-abuse-store.js'
import { aesGcmContent, plainContent } from '../src/content-cipher.js'
import { Messages } from '../src/messages.js'
import { createRedisClient, type RedisClient, waitUntilReady } from '../src/storage/redis/client.js'
import { MemoryMessageStore } from '../src/storage/memory/memory-message-store.js'
import type { ClientKeyStore } from '../src/storage/client-key-store.js'
import type { EventLog } from '../src/storage/event-log.js'
import type { IssuerKeyStore } from '../src/storage/issuer-key-store.js'
import type { KeyStore } from '../src/storage/key-store.js'
import { MemoryClientKeyStore } from '../src/storage/memory/memory-client-key-store.js'
import { MemoryEventLog } from '../src/storage/memory/memory-event-log.js'
import { MemoryIssuerKeyStore } from '../src/storage/memory/memory-issuer-key-store.js'
import { MemoryKeyStore } from '../src/storage/memory/memory-key-store.js'
import { MemoryReplayStore } from '../src/storage/memory/memory-replay-store.js'
import { MemoryPolicyStore } from '../src/storage/memory/memory-policy-store.js'
import type { PolicyStore } from '../src/storage/policy-store.js'
import { RedisPolicyStore } from '../src/storage/redis/redis-policy-store.js'
import type { EventOutbox } from '../src/storage/event-outbox.js'
import type { MessageStore } from '../src/storage/message-store.js'
import type { ReplayStore } from '../src/storage/replay-store.js'
import { RedisClientKeyStore } from '../src/storage/redis/redis-client-key-store.js'
import { RedisEventLog } from '../src/storage/redis/redis-event-log.js'
import { RedisIssuerKeyStore } from '../src/storage/redis/redis-issuer-key-store.js'
import { RedisKeyStore } from '../src/storage/redis/redis-key-store.js'
import { RedisMessageStore } from '../src/storage/redis/redis-message-store.js'
import { RedisReplayStore } from '../src/storage/redis/redis-replay-store.js'
import type { WebhookStore } from '../src/storage/webhook-store.js'
import { MemoryWebhookStore } from '../src/storage/memory/memory-webhook-store.js'
import { RedisWebhookStore } from '../src/storage/redis/redis-webhook-store.js'
import { WebhookEndpoints } from '../src/webhooks/endpoints.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the shared Redis (or Redis Cluster) client; null on the in-memory store */
    redisClient: RedisClient | null
    messageStore: MessageStore
    /** the webhook outbox and schedule of the message store (the same object) */
    eventOutbox: EventOutbox
    messages: Messages
    /** API keys, the JWT deny list and auth-failure counters, on the same store */
    keyStore: KeyStore
    /** the server's token-signing keys: shared by every instance on Redis, per process in memory */
    issuerKeyStore: IssuerKeyStore
    /** the public keys services registered for signing requests, per API key id */
    clientKeyStore: ClientKeyStore
    /** proof ids (DPoP jti, signature nonces) seen recently: shared by every instance on Redis */
    replayStore: ReplayStore
    /** the runtime policy (one versioned document): shared by every instance on Redis */
    policyStore: PolicyStore
    /** the security event feed: the last SECURITY_EVENTS_MAX events, shared by every instance on Redis */
    eventLog: EventLog
    /** scores and ladder levels per client address, and the blocks: shared by every instance on Redis */
    abuseStore: AbuseStore
    /** webhook endpoints and their delivery logs, per API key id: shared by every instance on Redis */
    webhookStore: WebhookStore
    /** webhook endpoints: registration, rotation, and what delivery needs (subscribers, signing secrets) */
    webhookEndpoints: WebhookEndpoints
  }
}

const STARTUP_WAIT_MS = 5000

/**
 * Redis when REDIS_URL or REDIS_CLUSTER_NODES is set, otherwise the in-process store.
 * The ioredis client is made and owned here (not by @fastify/redis, which holds start-up
 * until Redis answers): an instance that starts during a Redis outage comes up, reports
 * 503 on /ready, and serves as soon as Redis is back.
 */
export default fp(async function storage (app) {
  const { config } = app
  let redisClient: RedisClient | null = null
  let store: MessageStore & EventOutbox
  const receiptRetentionMs = config.RECEIPT_RETENTION_SECONDS * 1000
  let keyStore: KeyStore
  let issuerKeyStore: IssuerKeyStore
  let clientKeyStore: ClientKeyStore
  let replayStore: ReplayStore
  let eventLog: EventLog

  if (config.REDIS_URL !== undefined || config.redisClusterNodes.length > 0) {
    const client = createRedisClient(config)
    redisClient = client
    // ioredis reports every failed reconnect; one line per change of state is enough.
    let healthy = true
    client.on('error', (err: Error) => {
      if (healthy) app.log.error({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'store connection lost')
      healthy = false
    })
    client.on('ready', () => {
      if (!healthy) app.log.info('store connection restored')
      healthy = true
    })
    app.addHook('onClose', async () => {
      await client.quit().catch(() => client.disconnect())
    })
    if (!await waitUntilReady(client, STARTUP_WAIT_MS)) {
      app.log.warn('store is not reachable yet: starting anyway, /ready answers 503 until it is')
    }
    store = new RedisMessageStore(client, { receiptRetentionMs })
    keyStore = new RedisKeyStore(client)
    issuerKeyStore = new RedisIssuerKeyStore(client)
    clientKeyStore = new RedisClientKeyStore(client)
    replayStore = new RedisReplayStore(client)
    eventLog = new RedisEventLog(client, config.SECURITY_EVENTS_MAX)
  } else {
    app.log.warn('REDIS_URL is not set: using the in-memory store (one process only, messages are lost on restart)')
    store = new MemoryMessageStore(Date.now, undefined, { receiptRetentionMs })
    keyStore = new MemoryKeyStore()
    issuerKeyStore = new MemoryIssuerKeyStore()
    clientKeyStore = new MemoryClientKeyStore()
    replayStore = new MemoryReplayStore()
    eventLog = new MemoryEventLog({ max: config.SECURITY_EVENTS_MAX })
  }

  app.addHook('onClose', async () => { await store.close() })
  app.addHook('onClose', async () => { await keyStore.close() })
  app.addHook('onClose', async () => { await clientKeyStore.close() })
  app.addHook('onClose', async () => { await replayStore.close() })
  app.addHook('onClose', async () => { await eventLog.close() })
  app.decorate<RedisClient | null>('redisClient', redisClient)
  app.decorate('messageStore', store)
  app.decorate('eventOutbox', store)
  app.decorate('keyStore', keyStore)
  app.decorate('issuerKeyStore', issuerKeyStore)
  app.decorate('clientKeyStore', clientKeyStore)
  app.decorate('replayStore', replayStore)
  const policyStore: PolicyStore = redisClient === null ? new MemoryPolicyStore() : new RedisPolicyStore(redisClient)
  app.addHook('onClose', async () => { await policyStore.close() })
  app.decorate('policyStore', policyStore)
  app.decorate('eventLog', eventLog)
  const abuseStore: AbuseStore = redisClient === null ? new MemoryAbuseStore() : new RedisAbuseStore(redisClient)
  app.addHook('onClose', async () => { await abuseStore.close() })
  app.decorate('abuseStore', abuseStore)
  const webhookStore: WebhookStore = redisClient === null ? new MemoryWebhookStore() : new RedisWebhookStore(redisClient)
  app.addHook('onClose', async () => { await webhookStore.close() })
  app.decorate('webhookStore', webhookStore)
  app.decorate('webhookEndpoints', new WebhookEndpoints({
    store: webhookStore,
    cipher: config.encryptionKey === null ? plainContent : aesGcmContent(config.encryptionKey),
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    available: config.RECEIPT_RETENTION_SECONDS > 0,
    // The events plugin comes after this one: its emitter is looked up when an event happens.
    events: { emit: (event) => { app.securityEvents.emit(event) } }
  }))
  app.decorate('messages', new Messages(store, config.encryptionKey === null ? plainContent : aesGcmContent(config.encryptionKey)))
}, { name: 'storage', dependencies: ['config'] })
