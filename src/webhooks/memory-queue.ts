import {
  checkDeliveryJob, type DeliveryJob, deliveryJobData, deliveryJobId, FINISHED_JOB_RETENTION_MS, PER_ENDPOINT_CONCURRENCY, WORKER_CONCURRENCY,
  type WorkingDeliveryQueue
} from './queue.js'
import type { AttemptResult, DeliveryWorker, WorkerLogger } from './worker.js'
import { loggedId } from './relay.js'

/**
 * The delivery queue of the memory store (REDIS_URL unset): the same promises as the BullMQ
 * queue, in this process. Jobs wait in an array, retries on unref'd timers (they never hold
 * the process open), at most PER_ENDPOINT_CONCURRENCY deliveries in flight per endpoint and
 * WORKER_CONCURRENCY in all; a job whose endpoint is busy keeps its place and the ones behind
 * it for other endpoints go first. Like the memory store, everything here is lost when the
 * process stops: queued events and retries included.
 */

export interface MemoryDeliveryQueueOptions {
  worker: DeliveryWorker
  concurrency?: number
  perEndpoint?: number
  /** how long a finished job is remembered for dedupe (FINISHED_JOB_RETENTION_MS) */
  retentionMs?: number
  now?: () => number
  log?: WorkerLogger | null
}

interface QueuedJob {
  readonly id: string
  readonly job: DeliveryJob
  /** failed attempts so far */
  attemptsMade: number
}

export class MemoryDeliveryQueue implements WorkingDeliveryQueue {
  private readonly worker: DeliveryWorker
  private readonly concurrency: number
  private readonly perEndpoint: number
  private readonly retentionMs: number
  private readonly now: () => number
  private readonly log: WorkerLogger | null
  /** the ids of jobs queued, waiting for a retry or running */
  private readonly unfinished = new Set<string>()
  /** the ids of finished jobs → when they finished, in that order (so the oldest come first) */
  private readonly finished = new Map<string, number>()
  /** jobs due now, oldest first */
  private readonly ready: QueuedJob[] = []
  /** endpoint id → deliveries in flight */
  private readonly inFlight = new Map<string, number>()
  private readonly running = new Set<Promise<void>>()
  private readonly retryTimers = new Set<NodeJS.Timeout>()
  private started = false
  private closed = false

  constructor (options: MemoryDeliveryQueueOptions) {
    this.worker = options.worker
    this.concurrency = options.concurrency ?? WORKER_CONCURRENCY
    this.perEndpoint = options.perEndpoint ?? PER_ENDPOINT_CONCURRENCY
    this.retentionMs = options.retentionMs ?? FINISHED_JOB_RETENTION_MS
    this.now = options.now ?? Date.now
    this.log = options.log ?? null
  }

  async enqueue (jobs: readonly DeliveryJob[]): Promise<void> {
    if (this.closed) throw new Error('the webhook delivery queue is closed')
    for (const job of jobs) checkDeliveryJob(job)
    this.forgetFinished()
    for (const job of jobs) {
      const id = deliveryJobId(job)
      if (this.unfinished.has(id) || this.finished.has(id)) continue
      this.unfinished.add(id)
      this.ready.push({ id, job: deliveryJobData(job), attemptsMade: 0 })
    }
    this.pump()
  }

  start (): void {
    this.started = true
    this.pump()
  }

  /** Stops the retry timers (their jobs are dropped, as on any restart of the memory store) and waits for the deliveries in flight. */
  async close (): Promise<void> {
    this.closed = true
    for (const timer of this.retryTimers) clearTimeout(timer)
    this.retryTimers.clear()
    this.ready.length = 0
    await Promise.all(this.running)
  }

  /** Starts what may start: the first ready jobs whose endpoint has room, up to the concurrency. */
  private pump (): void {
    if (!this.started || this.closed) return
    for (let i = 0; i < this.ready.length && this.running.size < this.concurrency;) {
      const queued = this.ready[i] as QueuedJob
      const endpointId = queued.job.endpointId
      const busy = this.inFlight.get(endpointId) ?? 0
      if (busy >= this.perEndpoint) { i++; continue }
      this.ready.splice(i, 1)
      this.inFlight.set(endpointId, busy + 1)
      const run: Promise<void> = this.run(queued).finally(() => {
        const left = (this.inFlight.get(endpointId) ?? 1) - 1
        if (left === 0) this.inFlight.delete(endpointId)
        else this.inFlight.set(endpointId, left)
        this.running.delete(run)
        this.pump()
      })
      this.running.add(run)
    }
  }

  private async run (queued: QueuedJob): Promise<void> {
    let result: AttemptResult
    try {
      result = await this.worker.attempt(queued.job, queued.attemptsMade)
    } catch (err) {
      // The endpoint could not be read: counted as a failed attempt, retried on the schedule.
      this.log?.warn({ err: { message: (err as Error).message }, webhookId: queued.job.endpointId, eventId: loggedId(queued.job.eventId) }, 'webhook delivery attempt failed before sending')
      const delayMs = this.worker.schedule.nextDelayMs(queued.attemptsMade + 1)
      result = delayMs === null ? { outcome: 'failed', reason: 'store' } : { outcome: 'retry', delayMs, reason: 'store' }
      if (delayMs === null) await this.worker.giveUp(queued.job, queued.attemptsMade + 1)
    }
    if (result.outcome !== 'retry') {
      this.unfinished.delete(queued.id)
      this.finished.set(queued.id, this.now())
      return
    }
    queued.attemptsMade++
    if (this.closed) return
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer)
      this.ready.push(queued)
      this.pump()
    }, result.delayMs)
    timer.unref()
    this.retryTimers.add(timer)
  }

  /** Drops the ids of jobs finished longer than retentionMs ago: memory stays bounded, dedupe holds that long. */
  private forgetFinished (): void {
    const before = this.now() - this.retentionMs
    for (const [id, finishedAt] of this.finished) {
      if (finishedAt >= before) return
      this.finished.delete(id)
    }
  }
}
