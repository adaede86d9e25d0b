import type { DeliveryState, StoredDelivery } from '../storage/webhook-store.js'
import { deliver, type DeliveryOptions, type Outcome } from './deliver.js'
import type { DeliveryView, WebhookEndpoint, WebhookEndpoints } from './endpoints.js'
import type { DeliveryJob } from './queue.js'
import type { RetrySchedule } from './retry.js'
import { loggedId } from './relay.js'

/**
 * What one job of the delivery queue does, once per attempt (API.md section 9, issue 19). The
 * queues (bullmq-queue.ts, memory-queue.ts) decide when an attempt runs and act on its result;
 * this decides what the attempt is:
 *
 * 1. The endpoint is read again: it may have been deleted (then nothing is recorded: its log
 *    went with it), disabled (then the event's log entry says `failed` and nothing is sent), or
 *    rotated (then both secrets sign, during the overlap). Its owner's API key must still be
 *    live: a revoked or expired key's endpoints get nothing more (decision: whoever revoked the
 *    key wants its integrations to stop; the entry says `failed`, as for a disabled endpoint).
 * 2. One deliver() with the job's event id as `webhook-id` (the same on every attempt, so a
 *    receiver can drop a duplicate) and the job's body byte for byte.
 * 3. The endpoint's delivery log gets the event's entry: `delivered` on a 2xx, `pending` with
 *    the next attempt's time while the schedule has attempts left, `failed` once it has none.
 * 4. The endpoint's run of failures: a success ends it (markSucceeded); a failure starts it or
 *    extends it (markFailing; after a quiet gap longer than the longest retry delay it starts a
 *    new one), and once it has lasted the schedule's disableAfterMs (5 days in production) the
 *    endpoint is disabled, which emits `webhook.disabled` for the security feed.
 *
 * The delivery's result decides the job's fate, not the bookkeeping: a store write that fails
 * after a 2xx is logged, and the event is not sent again for it.
 */

/** What the worker needs of WebhookEndpoints. */
export type DeliveryEndpoints = Pick<WebhookEndpoints,
'find' | 'signingSecrets' | 'markFailing' | 'markSucceeded' | 'disable' | 'recordDelivery' | 'deliveries'>

/** The part of a pino logger this needs. */
export interface WorkerLogger {
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

export type AttemptResult =
  /** a 2xx: done */
  | { readonly outcome: 'delivered', readonly status: number | null }
  /** failed; try again after delayMs (the schedule's next delay, already in the log as nextAttemptAt) */
  | { readonly outcome: 'retry', readonly delayMs: number, readonly reason: string }
  /** failed for the last time: the schedule is spent, or this failure disabled the endpoint */
  | { readonly outcome: 'failed', readonly reason: string }
  /** not attempted: the endpoint is gone or disabled, or its owner's key revoked or expired; never retried */
  | { readonly outcome: 'dropped', readonly reason: 'endpoint_gone' | 'endpoint_disabled' | 'owner_inactive' }

export interface DeliveryWorkerOptions {
  endpoints: DeliveryEndpoints
  schedule: RetrySchedule
  /** allowPrivate (WEBHOOK_ALLOW_PRIVATE), and for tests a shorter timeout and their receiver's CA */
  delivery: DeliveryOptions
  /** whether the owner's API key is still live (not revoked, not expired); rejects when the store is down */
  ownerActive: (owner: string) => Promise<boolean>
  now?: () => number
  log?: WorkerLogger | null
}

export class DeliveryWorker {
  readonly schedule: RetrySchedule
  private readonly endpoints: DeliveryEndpoints
  private readonly delivery: DeliveryOptions
  private readonly ownerActive: (owner: string) => Promise<boolean>
  private readonly now: () => number
  private readonly log: WorkerLogger | null

  constructor (options: DeliveryWorkerOptions) {
    this.endpoints = options.endpoints
    this.schedule = options.schedule
    this.delivery = options.delivery
    this.ownerActive = options.ownerActive
    this.now = options.now ?? Date.now
    this.log = options.log ?? null
  }

  /**
   * One attempt of `job`, after `attemptsMade` earlier attempts that failed. Rejects only when
   * the endpoint cannot be read (the store is down): nothing was sent then.
   */
  async attempt (job: DeliveryJob, attemptsMade: number): Promise<AttemptResult> {
    const endpoint = await this.endpoints.find(job.owner, job.endpointId)
    if (endpoint === null) return { outcome: 'dropped', reason: 'endpoint_gone' }
    if (endpoint.disabledAt !== null) {
      await this.bookkeeping(job, 'close the log entry of a disabled endpoint', async () => { await this.recordNotSent(job, attemptsMade) })
      return { outcome: 'dropped', reason: 'endpoint_disabled' }
    }
    if (!await this.ownerActive(job.owner)) {
      await this.bookkeeping(job, 'close the log entry of a revoked key\'s endpoint', async () => { await this.recordNotSent(job, attemptsMade) })
      return { outcome: 'dropped', reason: 'owner_inactive' }
    }

    const attempts = attemptsMade + 1
    const startedAt = this.now()
    const outcome = await deliver({ url: endpoint.url, eventId: job.eventId, body: job.body, secrets: this.secrets(endpoint, job, startedAt) }, { ...this.delivery, now: this.now })
    const finishedAt = this.now()

    if (outcome.ok) {
      await this.bookkeeping(job, 'record a delivery', async () => {
        await this.record(job, { attempts, lastStatus: outcome.status, lastAttemptAt: startedAt, nextAttemptAt: null, state: 'delivered' })
      })
      await this.bookkeeping(job, 'mark the endpoint succeeded', async () => { await this.endpoints.markSucceeded(job.owner, job.endpointId) })
      return { outcome: 'delivered', status: outcome.status }
    }

    const reason = failureReason(outcome)
    const delayMs = this.schedule.nextDelayMs(attempts)
    let disabled = false
    await this.bookkeeping(job, 'mark the endpoint failing', async () => { disabled = await this.noteFailure(job, startedAt, finishedAt) })
    const last = delayMs === null || disabled
    await this.bookkeeping(job, 'record a failed attempt', async () => {
      await this.record(job, {
        attempts,
        lastStatus: outcome.status,
        lastAttemptAt: startedAt,
        nextAttemptAt: last ? null : finishedAt + delayMs,
        state: last ? 'failed' : 'pending'
      })
    })
    if (last) return { outcome: 'failed', reason: disabled ? 'endpoint_disabled' : reason }
    return { outcome: 'retry', delayMs, reason }
  }

  /**
   * The queue gives up on a job whose last attempt could not even start (attempt() rejected: the
   * store was down): its log entry says `failed` instead of staying `pending` with a next attempt
   * that will never come. Best effort: with the store still down, that is logged.
   */
  async giveUp (job: DeliveryJob, attemptsMade: number): Promise<void> {
    // (recordDelivery writes nothing for an endpoint deleted meanwhile)
    await this.bookkeeping(job, 'close the log entry of an abandoned delivery', async () => { await this.recordNotSent(job, attemptsMade) })
  }

  /** The endpoint's secrets, opened; none when they cannot be (deliver() then fails the attempt as `invalid_secret`). */
  private secrets (endpoint: WebhookEndpoint, job: DeliveryJob, now: number): string[] {
    try {
      return this.endpoints.signingSecrets(endpoint, now)
    } catch (err) {
      this.log?.error({ err: { message: (err as Error).message }, webhookId: job.endpointId, eventId: loggedId(job.eventId) }, 'webhook secret cannot be opened')
      return []
    }
  }

  /**
   * Starts or extends the endpoint's run of failures (the first failure of a run sets its
   * start), and disables the endpoint once the run has lasted disableAfterMs. True when the
   * endpoint is disabled now (by this failure or a racing one).
   */
  private async noteFailure (job: DeliveryJob, startedAt: number, finishedAt: number): Promise<boolean> {
    const endpoint = await this.endpoints.markFailing(job.owner, job.endpointId, startedAt, this.schedule.newRunAfterMs)
    if (endpoint === null) return false
    if (endpoint.disabledAt !== null) return true
    if (endpoint.failingSince === null || finishedAt - endpoint.failingSince < this.schedule.disableAfterMs) return false
    return (await this.endpoints.disable(job.owner, job.endpointId, finishedAt)) !== null
  }

  /**
   * The event will not be sent (its endpoint is disabled, its owner's key is no longer live, or
   * the queue gave up): its log entry says `failed`, keeping
   * what earlier attempts recorded, so it does not stay `pending` with a next attempt that will
   * never come. An event never attempted gets an entry too: the owner sees what was not sent.
   */
  private async recordNotSent (job: DeliveryJob, attemptsMade: number): Promise<void> {
    const earlier = attemptsMade === 0 ? undefined : (await this.endpoints.deliveries(job.owner, job.endpointId)).find((entry) => entry.eventId === job.eventId)
    if (earlier?.state === 'failed' || earlier?.state === 'delivered') return
    await this.record(job, {
      attempts: earlier?.attempts ?? attemptsMade,
      lastStatus: earlier?.lastStatus ?? null,
      lastAttemptAt: timeOf(earlier),
      nextAttemptAt: null,
      state: 'failed'
    })
  }

  private async record (job: DeliveryJob, entry: Pick<StoredDelivery, 'attempts' | 'lastStatus' | 'lastAttemptAt' | 'nextAttemptAt'> & { state: DeliveryState }): Promise<void> {
    await this.endpoints.recordDelivery(job.owner, job.endpointId, { eventId: job.eventId, type: job.type, createdAt: job.createdAt, ...entry })
  }

  /** Runs a store write whose failure must not change what happens to the job: logged, not thrown. */
  private async bookkeeping (job: DeliveryJob, what: string, write: () => Promise<void>): Promise<void> {
    try {
      await write()
    } catch (err) {
      this.log?.warn({ err: { message: (err as Error).message, code: (err as { code?: unknown }).code }, webhookId: job.endpointId, eventId: loggedId(job.eventId) }, `webhook delivery: could not ${what}`)
    }
  }
}

/** A short code for a failed attempt (the queue's retry reason, BullMQ's failedReason): never the receiver's words. */
function failureReason (outcome: Outcome): string {
  return outcome.status === null ? outcome.error ?? 'request_failed' : `${outcome.error ?? 'http_status'} ${outcome.status}`
}

function timeOf (view: DeliveryView | undefined): number | null {
  return view?.lastAttemptAt == null ? null : Date.parse(view.lastAttemptAt)
}
