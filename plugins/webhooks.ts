import fp from 'fastify-plugin'
import { BullMqDeliveryQueue } from '../src/webhooks/bullmq-queue.js'
import { MemoryDeliveryQueue } from '../src/webhooks/memory-queue.js'
import type { DeliveryQueue, WorkingDeliveryQueue } from '../src/webhooks/queue.js'
import { scheduleFor } from '../src/webhooks/retry.js'
import { DeliveryWorker } from '../src/webhooks/worker.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the webhook delivery queue: BullMQ on Redis (shared by every instance, durable), in-process on the memory store */
    deliveryQueue: DeliveryQueue
  }
}

/**
 * The webhook delivery queue and its worker (API.md section 9, issue 19). The queue exists from
 * registration (events can be enqueued at once); the worker starts delivering once the app is
 * ready, and stops on close, after the attempts in flight (Fastify runs onClose hooks in reverse
 * order, so this one runs before the store closes).
 */
export default fp(async function webhooks (app) {
  const { config } = app
  const timing = config.webhookTiming ?? {}
  const worker = new DeliveryWorker({
    endpoints: app.webhookEndpoints,
    schedule: scheduleFor({ scale: timing.scale ?? 1 }),
    delivery: {
      allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
      ...(timing.timeoutMs === undefined ? {} : { timeoutMs: timing.timeoutMs }),
      ...(config.webhookTls === undefined ? {} : { ca: config.webhookTls.ca })
    },
    // a revoked or expired key's endpoints get nothing more (src/webhooks/worker.ts)
    ownerActive: async (owner) => {
      const key = await app.keyStore.get(owner)
      return key !== null && key.revokedAt === null && (key.expiresAt === null || key.expiresAt > Date.now())
    },
    log: app.log
  })
  const onRedis = config.REDIS_URL !== undefined || config.redisClusterNodes.length > 0
  const queue: WorkingDeliveryQueue = onRedis
    ? new BullMqDeliveryQueue({
      redis: config,
      worker,
      ...(timing.pollMs === undefined ? {} : { busyDelayMs: timing.pollMs }),
      ...(timing.timeoutMs === undefined ? {} : { attemptTimeoutMs: timing.timeoutMs }),
      log: app.log
    })
    : new MemoryDeliveryQueue({ worker, log: app.log })
  app.decorate<DeliveryQueue>('deliveryQueue', queue)
  app.addHook('onReady', async () => { queue.start() })
  app.addHook('onClose', async () => { await queue.close() })
}, { name: 'webhooks', dependencies: ['config', 'storage', 'events'] })
