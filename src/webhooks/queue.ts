import type { WebhookEventType } from './payloads.js'

/**
 * The webhook delivery queue (API.md section 9, issue 19): one job per (event, subscribed
 * endpoint), delivered at least once by the worker (src/webhooks/worker.ts), retried on the
 * schedule of src/webhooks/retry.ts. Two implementations: BullMQ on Redis or the Redis Cluster
 * (bullmq-queue.ts: durable, shared by every instance) and an in-process one for the memory
 * store (memory-queue.ts: lost on restart, like the memory store itself).
 */

/** One event to deliver to one endpoint. */
export interface DeliveryJob {
  /** the event id: the `webhook-id` header of every attempt (1-256 visible ASCII characters, no dot: see sign.ts) */
  eventId: string
  /** the API key id that owns the endpoint */
  owner: string
  endpointId: string
  type: WebhookEventType
  /** the webhookPayload() JSON, sent (and signed) byte for byte on every attempt */
  body: string
  /** when the event happened (epoch ms): orders the endpoint's delivery log */
  createdAt: number
}

export interface DeliveryQueue {
  /** adds jobs; idempotent per (eventId, endpointId) while the job is retained: adding it again queues nothing */
  enqueue (jobs: readonly DeliveryJob[]): Promise<void>
  close (): Promise<void>
}

/** A queue that also runs the deliveries: plugins/webhooks.ts starts it once the app is ready. */
export interface WorkingDeliveryQueue extends DeliveryQueue {
  /** starts delivering (jobs enqueued before wait until then) */
  start (): void
}

/** Deliveries in flight to one endpoint at once, across every worker of every instance. */
export const PER_ENDPOINT_CONCURRENCY = 2
/** Deliveries in flight at once per instance, all endpoints together. */
export const WORKER_CONCURRENCY = 8
/**
 * How long a finished job (delivered, failed or dropped) is remembered: adding the same
 * (eventId, endpointId) again within this time queues nothing. Longer than a day, so a relay
 * that re-sends an event after a crash does not deliver it twice; bounded, so the queue's
 * store does not grow forever.
 */
export const FINISHED_JOB_RETENTION_MS = 2 * 24 * 60 * 60 * 1000
/**
 * How long a job waits before looking again when its endpoint already has
 * PER_ENDPOINT_CONCURRENCY deliveries in flight, unless a delivery that ends wakes it first
 * (BullMQ queue): a safety net for a lease whose worker died, long enough that a backlog of
 * thousands of jobs for one slow endpoint costs a few moves a second, not thousands.
 */
export const BUSY_ENDPOINT_DELAY_MS = 30_000

const EVENT_ID = /^[\x21-\x2d\x2f-\x7e]{1,256}$/
const ENDPOINT_ID = /^[A-Za-z0-9_-]{1,64}$/

/**
 * The job's id in the queue, the key of its dedupe: the endpoint id (no dot in it), a dot, then
 * the event id with ':' (which BullMQ refuses in custom ids) percent-encoded. encodeURIComponent
 * is one-to-one, so two different pairs never share an id.
 */
export function deliveryJobId (job: Pick<DeliveryJob, 'eventId' | 'endpointId'>): string {
  return `${job.endpointId}.${encodeURIComponent(job.eventId)}`
}

/**
 * Refuses a job no attempt could ever deliver (an event id that cannot be a `webhook-id`, an
 * endpoint id that is not one), at enqueue, instead of eleven failed attempts over two days.
 */
export function checkDeliveryJob (job: DeliveryJob): void {
  if (typeof job.eventId !== 'string' || !EVENT_ID.test(job.eventId)) throw new TypeError('a delivery job\'s eventId must be 1-256 visible ASCII characters without a dot')
  if (typeof job.endpointId !== 'string' || !ENDPOINT_ID.test(job.endpointId)) throw new TypeError('a delivery job\'s endpointId is not a webhook endpoint id')
  if (typeof job.owner !== 'string' || job.owner === '') throw new TypeError('a delivery job needs its owner')
  if (typeof job.body !== 'string') throw new TypeError('a delivery job\'s body is the payload\'s JSON string')
  if (!Number.isSafeInteger(job.createdAt)) throw new TypeError('a delivery job\'s createdAt is epoch milliseconds')
}

/** Only the fields of DeliveryJob: what is stored in the queue, whatever object the caller handed in. */
export function deliveryJobData (job: DeliveryJob): DeliveryJob {
  return { eventId: job.eventId, owner: job.owner, endpointId: job.endpointId, type: job.type, body: job.body, createdAt: job.createdAt }
}
