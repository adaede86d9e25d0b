import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq'
import { Cluster, Redis } from 'ioredis'
import type { Config } from '../config.js'
import { DELIVERY_TIMEOUT_MS } from './deliver.js'
import {
  BUSY_ENDPOINT_DELAY_MS, checkDeliveryJob, type DeliveryJob, deliveryJobData, deliveryJobId, FINISHED_JOB_RETENTION_MS,
  PER_ENDPOINT_CONCURRENCY, WORKER_CONCURRENCY, type WorkingDeliveryQueue
} from './queue.js'
import type { AttemptResult, DeliveryWorker, WorkerLogger } from './worker.js'

/**
 * The delivery queue on Redis or the Redis Cluster: BullMQ, durable and shared by every
 * instance (API.md section 9, issue 19).
 *
 * - Its own connections, not the app's fail-fast client (src/storage/redis/client.ts): BullMQ
 *   needs `maxRetriesPerRequest: null` (a worker waits through an outage instead of failing
 *   its commands), and a worker duplicates the connection for its blocking fetch.
 * - Every key under the `{missive-webhooks}` prefix: one hash tag, so on the Cluster the whole
 *   queue (and the endpoint leases below) is in one slot, as BullMQ's scripts require.
 * - The job id is made of the endpoint and event ids, so enqueueing an event again while its
 *   job is retained (FINISHED_JOB_RETENTION_MS after it finished) adds nothing.
 * - Retries are BullMQ's: `attempts` = the schedule's maxAttempts, and a custom backoff that
 *   returns the delay the worker chose (and already wrote in the log as nextAttemptAt).
 * - BullMQ has no per-group concurrency outside its paid edition, so each endpoint has a lease
 *   set (a sorted set member per delivery in flight, scored by its expiry) in the same slot:
 *   a job that finds PER_ENDPOINT_CONCURRENCY live leases goes back to the delayed set
 *   (moveToDelayed + DelayedError, which does not count as an attempt) and joins the
 *   endpoint's waiters (a list in the same slot); a lease given back promotes the first waiting
 *   job, so a busy endpoint's backlog moves as fast as its slots free, without every waiting
 *   job coming back each second to look. Its delay, about BUSY_ENDPOINT_DELAY_MS, is a safety
 *   net only. A lease outlives the longest attempt, so the lease of a worker that died frees
 *   itself.
 * - What survives: every job and its attempt count are in Redis, so a restart of the server
 *   (another instance, or the next start, picks them up; a job whose worker died mid-attempt is
 *   recovered by BullMQ's stalled check and tried again: at least once) and of Redis with AOF
 *   loses nothing.
 */

/** The queue's key prefix: the Cluster hash tag of every webhook key (see src/storage/redis/keys.ts). */
export const QUEUE_PREFIX = '{missive-webhooks}'
export const QUEUE_NAME = 'deliveries'
/** The backoff type of every job: the worker's own delay, see backoffStrategy. */
const BACKOFF_TYPE = 'webhook-schedule'
/** A lease outlives an attempt by this much: the log and endpoint writes after deliver(). */
const LEASE_MARGIN_MS = 30_000
/**
 * How many times a job whose worker vanished mid-attempt is put back before BullMQ fails it
 * (its default is 1): a deploy that kills a worker twice must not lose an event.
 */
const MAX_STALLED_COUNT = 10

/** how many waiting ids a given-back lease looks through for a job to wake */
const WAKE_TRIES = 5
/** how long a wake-up waits for an active waiter to reach the delayed set (no job waits on it) */
const ACTIVE_WAIT_MS = 2000

/** close() waits this long past an attempt's timeout before dropping the connections */
const CLOSE_MARGIN_MS = 5000
/** and then this long for BullMQ to notice (a connection between reconnects ends at its next attempt, within a second) */
const FORCED_CLOSE_WAIT_MS = 3000

/** The endpoint's lease set: a sorted set, member per delivery in flight → expiry (ms). */
export const endpointLeaseKey = (endpointId: string): string => `${QUEUE_PREFIX}:endpoint-leases:${endpointId}`

/**
 * The jobs waiting for a lease on the endpoint: a sorted set, member `<job id>|<attempts made>`
 * scored by when it first found the endpoint busy, so oldest first and each job once.
 */
export const endpointWaitersKey = (endpointId: string): string => `${QUEUE_PREFIX}:endpoint-waiters:${endpointId}`

/**
 * Takes a lease unless `cap` live ones exist; 1 when taken, and the job is no longer waiting.
 * Expired leases (a worker that died) are dropped first. Redis's clock, so instances with skewed
 * clocks agree on expiry. When none is free, the job joins the endpoint's waiters (keeping its
 * place if it is there already; the set is kept `waitersMs` after the last one joined).
 * KEYS[1] the lease set, KEYS[2] the waiters; ARGV member, cap, lease ms, waiter, waiters ms.
 */
const ACQUIRE_LEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[2], 'NX', now, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[4])
return 1
`

/** Gives a lease back (none for ''); returns the first waiter (taken off the set), or nil. KEYS as above; ARGV member. */
const RELEASE_LEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
local first = redis.call('ZPOPMIN', KEYS[2])
return first[1]
`

interface LeaseCommands {
  missiveAcquireEndpointLease: (leases: string, waiters: string, member: string, cap: number, leaseMs: number, waiter: string, waitersMs: number) => Promise<number>
  missiveReleaseEndpointLease: (leases: string, waiters: string, member: string) => Promise<string | null>
}

type QueueRedis = (Redis | Cluster) & LeaseCommands

/** A worker's failed attempt that is to be retried after `delayMs`: BullMQ's backoff reads it. */
export class RetryLater extends Error {
  constructor (readonly delayMs: number, reason: string) {
    super(reason)
    this.name = 'RetryLater'
  }
}

/** Whether `promise` settles within `ms` (its result is not looked at). */
async function settlesWithin (promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A connection for BullMQ: `maxRetriesPerRequest: null` and the offline queue on, so commands
 * wait for Redis to come back instead of failing. A single Redis (REDIS_URL) or the Cluster
 * (REDIS_CLUSTER_NODES), as the app's own client. It reconnects (every second at most) while
 * `reconnect()` says so; once it says no, the next failed attempt ends the connection and fails
 * the commands still waiting (the duplicates BullMQ makes share this function).
 */
export function createQueueRedisClient (config: Pick<Config, 'REDIS_URL' | 'redisClusterNodes'>, reconnect: () => boolean = () => true): Redis | Cluster {
  const connectionName = 'missive-webhooks'
  const retryStrategy = (attempt: number): number | null => reconnect() ? Math.min(50 * attempt, 1000) : null
  if (config.redisClusterNodes.length > 0) {
    return new Cluster([...config.redisClusterNodes], {
      enableOfflineQueue: true,
      clusterRetryStrategy: retryStrategy,
      redisOptions: { maxRetriesPerRequest: null, connectTimeout: 2000, connectionName }
    })
  }
  if (config.REDIS_URL === undefined) throw new Error('the BullMQ delivery queue needs REDIS_URL or REDIS_CLUSTER_NODES')
  return new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, enableOfflineQueue: true, connectTimeout: 2000, connectionName, retryStrategy })
}

export interface BullMqDeliveryQueueOptions {
  redis: Pick<Config, 'REDIS_URL' | 'redisClusterNodes'>
  worker: DeliveryWorker
  /** deliveries in flight at once in this instance */
  concurrency?: number
  /** deliveries in flight at once per endpoint, across every instance */
  perEndpoint?: number
  /** how long a job waits when its endpoint is busy (± 50%) unless a freed lease wakes it first */
  busyDelayMs?: number
  /** the longest attempt (deliver()'s timeout): a lease lasts this plus LEASE_MARGIN_MS */
  attemptTimeoutMs?: number
  /** how long finished jobs are kept for dedupe */
  retentionMs?: number
  log?: WorkerLogger & { info (obj: object, msg: string): void } | null
}

export class BullMqDeliveryQueue implements WorkingDeliveryQueue {
  private readonly client: QueueRedis
  private readonly queue: Queue<DeliveryJob, string>
  private bullWorker: Worker<DeliveryJob, string> | null = null
  private readonly deliveryWorker: DeliveryWorker
  private readonly concurrency: number
  private readonly perEndpoint: number
  private readonly busyDelayMs: number
  private readonly leaseMs: number
  /** how long close() waits for the attempts in flight */
  private readonly closeGraceMs: number
  private readonly log: BullMqDeliveryQueueOptions['log']
  /** the connections BullMQ made from this.client */
  private readonly duplicates: Array<Redis | Cluster> = []
  private healthy = true
  /** false once close() gives up waiting: the connections stop reconnecting */
  private reconnecting = true
  private closing: Promise<void> | null = null

  constructor (options: BullMqDeliveryQueueOptions) {
    this.deliveryWorker = options.worker
    this.concurrency = options.concurrency ?? WORKER_CONCURRENCY
    this.perEndpoint = options.perEndpoint ?? PER_ENDPOINT_CONCURRENCY
    this.busyDelayMs = options.busyDelayMs ?? BUSY_ENDPOINT_DELAY_MS
    this.leaseMs = (options.attemptTimeoutMs ?? DELIVERY_TIMEOUT_MS) + LEASE_MARGIN_MS
    this.closeGraceMs = (options.attemptTimeoutMs ?? DELIVERY_TIMEOUT_MS) + CLOSE_MARGIN_MS
    this.log = options.log ?? null

    const client = createQueueRedisClient(options.redis, () => this.reconnecting)
    // The worker makes its connections by duplicating this one: kept, to be dropped on a forced close.
    const duplicate = client.duplicate.bind(client) as (...args: unknown[]) => Redis | Cluster
    client.duplicate = ((...args: unknown[]) => {
      const copy = duplicate(...args)
      this.duplicates.push(copy)
      return copy
    }) as typeof client.duplicate
    client.defineCommand('missiveAcquireEndpointLease', { numberOfKeys: 2, lua: ACQUIRE_LEASE })
    client.defineCommand('missiveReleaseEndpointLease', { numberOfKeys: 2, lua: RELEASE_LEASE })
    this.client = client as QueueRedis
    // ioredis reports every failed reconnect: one line per change of state.
    client.on('error', (err: Error) => { this.unhealthy(err) })
    client.on('ready', () => {
      if (!this.healthy) this.log?.info({}, 'webhook queue connection restored')
      this.healthy = true
    })

    const retentionSeconds = Math.ceil((options.retentionMs ?? FINISHED_JOB_RETENTION_MS) / 1000)
    this.queue = new Queue<DeliveryJob, string>(QUEUE_NAME, {
      connection: client,
      prefix: QUEUE_PREFIX,
      defaultJobOptions: {
        attempts: this.deliveryWorker.schedule.maxAttempts,
        backoff: { type: BACKOFF_TYPE },
        removeOnComplete: { age: retentionSeconds },
        removeOnFail: { age: retentionSeconds },
        // the reason of the last failure is enough (a short code); no stack traces piling up
        stackTraceLimit: 0
      }
    })
    // Without a listener an 'error' event would throw.
    this.queue.on('error', (err: Error) => { this.unhealthy(err) })
  }

  async enqueue (jobs: readonly DeliveryJob[]): Promise<void> {
    if (this.closing !== null) throw new Error('the webhook delivery queue is closed')
    for (const job of jobs) checkDeliveryJob(job)
    if (jobs.length === 0) return
    // An id already in the queue (waiting, delayed, running, or finished and retained) is skipped by BullMQ's add script.
    await this.queue.addBulk(jobs.map((job) => ({ name: job.type, data: deliveryJobData(job), opts: { jobId: deliveryJobId(job) } })))
  }

  start (): void {
    if (this.bullWorker !== null || this.closing !== null) return
    const worker = new Worker<DeliveryJob, string>(QUEUE_NAME, async (job, token) => await this.process(job, token), {
      connection: this.client,
      prefix: QUEUE_PREFIX,
      concurrency: this.concurrency,
      maxStalledCount: MAX_STALLED_COUNT,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => {
          if (err instanceof RetryLater) return err.delayMs
          // Anything else (the store could not be read): the schedule's delay; -1 ends the job.
          return this.deliveryWorker.schedule.nextDelayMs(attemptsMade) ?? -1
        }
      }
    })
    worker.on('error', (err: Error) => { this.unhealthy(err) })
    this.bullWorker = worker
  }

  /**
   * Stops taking jobs, waits for the attempts in flight (each ends within its timeout), closes
   * the connections. With Redis away, BullMQ's own close would wait for it forever (its commands
   * wait in the offline queue): after the attempts' time, or at once when the connection is
   * down, the connections are dropped instead. A job left active is taken up again by another
   * worker's stalled check: delivered at least once.
   */
  async close (): Promise<void> {
    this.closing ??= this.closeAll()
    await this.closing
  }

  private async closeAll (): Promise<void> {
    // With Redis away, the attempts in flight cannot record their end anyway: not waited for.
    const connected = this.client.status === 'ready' || (this.client instanceof Cluster && this.client.status === 'connect')
    const closing = (async () => {
      await this.bullWorker?.close(!connected)
      await this.queue.close()
    })()
    closing.catch(() => {})
    if (connected && await settlesWithin(closing, this.closeGraceMs)) {
      // QUIT waits in the offline queue if the connection dropped meanwhile: bounded too.
      if (await settlesWithin(this.client.quit().catch(() => { this.client.disconnect() }), FORCED_CLOSE_WAIT_MS)) return
    }
    // Dropped instead. A connection between two reconnects is left to its next attempt, which
    // now ends it: disconnecting it would leave the commands waiting in its offline queue
    // (ioredis emits no 'close' for a socket already gone), and BullMQ's close waiting on them.
    this.reconnecting = false
    for (const connection of [this.client, ...this.duplicates]) {
      if (connection.status !== 'reconnecting') connection.disconnect()
    }
    await settlesWithin(closing, FORCED_CLOSE_WAIT_MS)
  }

  /** One job: take a lease on its endpoint (or wait), one attempt, then what BullMQ should do. */
  private async process (job: Job<DeliveryJob, string>, token: string | undefined): Promise<string> {
    const data = job.data
    const leaseKey = endpointLeaseKey(data.endpointId)
    const waitersKey = endpointWaitersKey(data.endpointId)
    const leaseMember = token ?? `${job.id ?? ''}:${job.attemptsStarted}`
    // (its attempts made: a wake-up meant for this wait must not cut a later retry's delay short)
    const waiter = `${job.id ?? ''}|${job.attemptsMade}`
    if (await this.client.missiveAcquireEndpointLease(leaseKey, waitersKey, leaseMember, this.perEndpoint, this.leaseMs, waiter, 2 * this.busyDelayMs) !== 1) {
      // Busy: back to the delayed set without counting an attempt, and on the endpoint's
      // waiters, so that the next lease given back wakes it. The delay is only a safety net (a
      // worker that died holding a lease wakes nobody), spread so that the waiting jobs of one
      // endpoint do not all come back at once.
      await job.moveToDelayed(Date.now() + Math.round(this.busyDelayMs * (0.5 + Math.random())), token)
      throw new DelayedError()
    }
    try {
      let result: AttemptResult
      try {
        result = await this.deliveryWorker.attempt(data, job.attemptsMade)
      } catch (err) {
        // Not sent (the store could not be read): BullMQ retries it on the schedule, or, when
        // that was its last attempt, fails it; then its log entry must not stay pending.
        if (job.attemptsMade + 1 >= this.deliveryWorker.schedule.maxAttempts) await this.deliveryWorker.giveUp(data, job.attemptsMade + 1)
        throw err
      }
      switch (result.outcome) {
        case 'delivered': return 'delivered'
        case 'dropped': return `dropped: ${result.reason}`
        case 'retry': throw new RetryLater(result.delayMs, result.reason)
        case 'failed': throw new UnrecoverableError(result.reason)
      }
    } finally {
      await this.release(leaseKey, waitersKey, leaseMember)
    }
  }

  /**
   * Gives the lease back, and wakes the endpoint's first waiting job, not waited for (this job is
   * done). Best effort: a lease left behind expires by itself, and its waiters come back by
   * their delay.
   */
  private async release (leaseKey: string, waitersKey: string, leaseMember: string): Promise<void> {
    const waiting = await this.client.missiveReleaseEndpointLease(leaseKey, waitersKey, leaseMember).catch(() => null)
    if (waiting !== null) this.wake(waiting, leaseKey, waitersKey).catch(() => {})
  }

  /**
   * Wakes a waiting job (its busy delay cut short) for the lease just given back. A job still
   * active has found the endpoint busy and not yet moved itself to the delayed set (one round
   * trip), or is about to take the lease itself: it is looked at again for up to
   * ACTIVE_WAIT_MS. A job that has moved on (attempted since it waited, gone) wakes nobody: the
   * next waiter is taken, a few at most.
   */
  private async wake (waiter: string, leaseKey: string, waitersKey: string): Promise<void> {
    let next: string | null = waiter
    for (let tries = 0; tries < WAKE_TRIES && next !== null; tries++) {
      const separator = next.lastIndexOf('|')
      const id = next.slice(0, separator)
      const attemptsMade = Number(next.slice(separator + 1))
      for (const waitUntil = Date.now() + ACTIVE_WAIT_MS; ;) {
        // The state first, then the attempts: a job moved to the delayed set for a retry has
        // its attempts counted in the same step, so a retry's delay is never cut short.
        const state = await this.queue.getJobState(id)
        if (state === 'waiting' || state === 'prioritized') return // already on its way to the freed lease
        if (state === 'delayed') {
          const job = await this.queue.getJob(id)
          if (job === undefined || job.attemptsMade !== attemptsMade) break
          // (should it move on meanwhile, BullMQ refuses: it is on its way anyway)
          await job.promote().catch(() => {})
          return
        }
        // Active: between its busy look and its move to the delayed set (one round trip), or
        // about to take the freed lease itself. Anything else: gone, finished.
        if (state !== 'active' || Date.now() >= waitUntil) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      next = await this.client.missiveReleaseEndpointLease(leaseKey, waitersKey, '')
    }
  }

  private unhealthy (err: Error): void {
    if (this.healthy) this.log?.error({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'webhook queue connection lost')
    this.healthy = false
  }
}
