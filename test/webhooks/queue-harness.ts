import type { Test } from 'tap'
import type { SecurityEvent } from '../../src/abuse/events.js'
import { plainContent } from '../../src/content-cipher.js'
import { MemoryWebhookStore } from '../../src/storage/memory/memory-webhook-store.js'
import type { StoredDelivery } from '../../src/storage/webhook-store.js'
import { BullMqDeliveryQueue } from '../../src/webhooks/bullmq-queue.js'
import { WebhookEndpoints } from '../../src/webhooks/endpoints.js'
import { MemoryDeliveryQueue } from '../../src/webhooks/memory-queue.js'
import { webhookPayload, type WebhookEventType } from '../../src/webhooks/payloads.js'
import type { DeliveryJob, WorkingDeliveryQueue } from '../../src/webhooks/queue.js'
import { scheduleFor } from '../../src/webhooks/retry.js'
import { DeliveryWorker } from '../../src/webhooks/worker.js'
import { sleep } from '../helper.js'
import { type ReceiverOptions, testCertificate, WebhookReceiver } from './receiver.js'

/**
 * What the queue tests share (test/webhooks/queue.test.ts, test/cluster/webhook-queue.test.ts):
 * real WebhookEndpoints on a memory store (the queue is what is under test, not the endpoint
 * store), real HTTPS receivers, a worker with a scaled schedule, and queues of either kind that
 * close when the test ends.
 */

export const OWNER = 'ownerkey0001'

/** Where a BullMQ queue connects: a REDIS_URL or cluster nodes, as Config has them. */
export interface RedisTarget { REDIS_URL?: string, redisClusterNodes: ReadonlyArray<{ host: string, port: number }> }

export type QueueKind = { kind: 'memory' } | { kind: 'bullmq', redis: RedisTarget }

export interface Endpoint { id: string, secret: string, receiver: WebhookReceiver }

export interface Harness {
  endpoints: WebhookEndpoints
  store: MemoryWebhookStore
  /** the security events the endpoints emitted */
  events: SecurityEvent[]
  worker: DeliveryWorker
  /** registers an endpoint at a new receiver (which verifies with its secret) */
  endpoint: (options?: ReceiverOptions) => Promise<Endpoint>
  job: (endpoint: Endpoint, eventId: string, type?: WebhookEventType) => DeliveryJob
  /** a queue of the harness's kind, closed when the test ends; started unless told not to */
  open: (options?: { start?: boolean, perEndpoint?: number, retentionMs?: number, busyDelayMs?: number }) => WorkingDeliveryQueue
  logOf: (endpoint: Endpoint, eventId: string) => Promise<StoredDelivery | undefined>
}

export function harness (t: Test, kind: QueueKind, options: { scale: number }): Harness {
  const store = new MemoryWebhookStore()
  const events: SecurityEvent[] = []
  const endpoints = new WebhookEndpoints({ store, cipher: plainContent, allowPrivate: true, events: { emit: (event) => { events.push(event) } } })
  const worker = new DeliveryWorker({
    endpoints,
    schedule: scheduleFor({ scale: options.scale }),
    // every receiver of the process has this certificate
    delivery: { allowPrivate: true, timeoutMs: 3000, ca: testCertificate().cert },
    ownerActive: async () => true
  })
  return {
    endpoints,
    store,
    events,
    worker,
    async endpoint (receiverOptions = {}) {
      const receiver = await WebhookReceiver.start(t, receiverOptions)
      const created = await endpoints.register(OWNER, { url: receiver.url(), events: ['message.viewed', 'message.burned', 'message.deleted', 'message.expired'] })
      receiver.verifyWith([created.secret])
      return { id: created.id, secret: created.secret, receiver }
    },
    job: (endpoint, eventId, type = 'message.viewed') => ({
      eventId,
      owner: OWNER,
      endpointId: endpoint.id,
      type,
      body: webhookPayload(type, Date.now(), { id: 'Yb9kq3VxT2', owner: OWNER, state: 'live', views: 1, remainingViews: 2 }),
      createdAt: Date.now()
    }),
    open (queueOptions = {}) {
      const common = { worker, ...(queueOptions.perEndpoint === undefined ? {} : { perEndpoint: queueOptions.perEndpoint }), ...(queueOptions.retentionMs === undefined ? {} : { retentionMs: queueOptions.retentionMs }) }
      const queue: WorkingDeliveryQueue = kind.kind === 'memory'
        ? new MemoryDeliveryQueue(common)
        : new BullMqDeliveryQueue({ ...common, redis: { REDIS_URL: kind.redis.REDIS_URL, redisClusterNodes: kind.redis.redisClusterNodes }, busyDelayMs: queueOptions.busyDelayMs ?? 30, attemptTimeoutMs: 3000 })
      t.teardown(async () => { await queue.close() })
      if (queueOptions.start !== false) queue.start()
      return queue
    },
    logOf: async (endpoint, eventId) => (await store.listDeliveries(OWNER, endpoint.id)).find((entry) => entry.eventId === eventId)
  }
}

/** Polls `check` until it is true; throws after timeoutMs. */
export async function eventually (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`)
    await sleep(20)
  }
}
