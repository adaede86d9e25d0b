import type { EventOutbox, OutboxEvent, PendingEvents } from '../storage/event-outbox.js'
import { webhookPayload, type WebhookEventType } from './payloads.js'
import type { DeliveryJob, DeliveryQueue } from './queue.js'

export type { DeliveryJob }
/** What the relay hands its jobs to: the delivery queue. */
export type JobSink = Pick<DeliveryQueue, 'enqueue'>

/** Who wants an event: the owner's enabled endpoints that asked for its type. */
export interface Subscribers {
  subscribers (owner: string, type: WebhookEventType): Promise<ReadonlyArray<{ id: string }>>
  /** whether the owner has any enabled endpoint at all (decides `notify` at create) */
  hasEndpoints (owner: string): Promise<boolean>
}

export interface RelayTiming {
  /** how often each instance looks for due messages */
  pollMs: number
  /** how long a claimed message is hidden from the other instances */
  leaseMs: number
  /** the first look after a create, and the shortest gap between looks */
  minGapMs: number
  /** the longest gap between looks at a live message */
  maxGapMs: number
}

export const RELAY_TIMING: RelayTiming = { pollMs: 1000, leaseMs: 30_000, minGapMs: 60_000, maxGapMs: 60 * 60_000 }

interface Log { warn (obj: object, msg: string): void }

/**
 * A message id or an event id (which holds one) as logs may show it: a message id is a
 * capability (whoever has it can read the message), so only its first four characters, as the
 * access log does (src/server-options.ts maskIds).
 */
export function loggedId (id: string): string {
  return id.replace(/([A-Za-z0-9_-]{4})[A-Za-z0-9_-]{18}(?=_|$)/, '$1…')
}

/** The event's id, the same on every attempt and for every endpoint: `webhook-id` (no dots, no colons). */
export function eventId (messageId: string, seq: number): string {
  return `evt_${messageId}_${seq}`
}

/**
 * Moves webhook events from the message store's outbox into the delivery queue (issue 19).
 *
 * An event is recorded in the store in the same atomic step as its cause, so a process that
 * dies right after a read loses nothing: the event waits in the outbox. Normally this instance
 * hands it on at once (`publish`, told by the store). Should it die first, the schedule in the
 * store brings the message back to some instance: a first look a minute after the create, then
 * with gaps that grow with the message's age (at most an hour), and at its expiry, which is how
 * message.expired is recorded (exactly once: the store marks it) without a timer per message.
 * Queueing is idempotent per event and endpoint, and the outbox drops events by sequence
 * number only after they are queued, so two instances handing on the same events queue each once.
 */
export class WebhookRelay {
  private poller: NodeJS.Timeout | null = null
  private polling = false
  private readonly inFlight = new Set<Promise<void>>()

  constructor (
    private readonly outbox: EventOutbox,
    private readonly subscribers: Subscribers,
    private readonly queue: JobSink,
    private readonly log: Log,
    private readonly timing: RelayTiming = RELAY_TIMING,
    private readonly now: () => number = Date.now
  ) {}

  /** Whether a new message of `owner` should record events (one cached answer per owner). */
  async notifies (owner: string): Promise<boolean> {
    return await this.subscribers.hasEndpoints(owner)
  }

  /** Puts a new notifying message on the schedule (its first look, and so its expiry). */
  async scheduleNew (id: string): Promise<void> {
    await this.outbox.schedule(id, this.now() + this.timing.minGapMs)
  }

  /** Called by the store when a read or a delete recorded events: hands them on now, in the background. */
  published (id: string): void {
    this.track(this.relay(id).catch((err: unknown) => {
      // Not lost: the events stay in the outbox, and the schedule brings the message back.
      this.log.warn({ err, messageId: loggedId(id) }, 'webhook events not queued yet: the schedule will retry')
    }))
  }

  start (): void {
    if (this.poller !== null) return
    this.poller = setInterval(() => { this.poll().catch(() => {}) }, this.timing.pollMs)
    this.poller.unref()
  }

  async close (): Promise<void> {
    if (this.poller !== null) clearInterval(this.poller)
    this.poller = null
    await Promise.allSettled([...this.inFlight])
  }

  /** One pass over the messages due now (the timer's work; tests call it directly). */
  async poll (): Promise<void> {
    if (this.polling) return
    this.polling = true
    try {
      // Batches of 100 while they come back full (at most 10 per pass), so a busy schedule
      // does not fall behind at 100 a second.
      for (let batch = 0; batch < 10; batch++) {
        const due = await this.outbox.claimDue(this.now(), this.timing.leaseMs, 100)
        await Promise.all(due.map(async (id) => await this.relay(id, true).catch((err: unknown) => {
          this.log.warn({ err, messageId: loggedId(id) }, 'webhook events not queued yet: the schedule will retry')
        })))
        if (due.length < 100) break
      }
    } catch (err) {
      this.log.warn({ err }, 'webhook schedule not read: will retry')
    } finally {
      this.polling = false
    }
  }

  /** Queues the message's pending events, then acknowledges them; from the schedule, plans the next look. */
  private async relay (id: string, scheduled = false): Promise<void> {
    const now = this.now()
    const pending = await this.outbox.pending(id, now)
    if (pending === null) {
      // the receipt is gone, or the create never landed: nothing will ever come
      if (scheduled) await this.outbox.unschedule(id)
      return
    }
    if (pending.events.length > 0) {
      const jobs = await this.jobsFor(id, pending)
      if (jobs.length > 0) await this.queue.enqueue(jobs)
      await this.outbox.acknowledge(id, (pending.events.at(-1) as OutboxEvent).seq)
    }
    if (!scheduled) return
    if (pending.ended && pending.events.length < 100) {
      await this.outbox.unschedule(id)
      return
    }
    await this.outbox.schedule(id, this.nextLook(pending, now))
  }

  /** Sooner for young messages (most reads come soon after the link is sent), at most maxGapMs, never past the expiry. */
  private nextLook (pending: PendingEvents, now: number): number {
    if (pending.ended) return now // more than one page of events: straight back
    const gap = Math.min(this.timing.maxGapMs, Math.max(this.timing.minGapMs, now - pending.createdAt))
    return Math.min(now + gap, Math.max(pending.expiresAt, now))
  }

  private async jobsFor (id: string, pending: PendingEvents): Promise<DeliveryJob[]> {
    const jobs: DeliveryJob[] = []
    for (const event of pending.events) {
      const endpoints = await this.subscribers.subscribers(pending.owner, event.type)
      if (endpoints.length === 0) continue
      const body = webhookPayload(event.type, event.at, { id, owner: pending.owner, state: event.state, views: event.views, remainingViews: event.remainingViews })
      for (const endpoint of endpoints) {
        jobs.push({ eventId: eventId(id, event.seq), owner: pending.owner, endpointId: endpoint.id, type: event.type, body, createdAt: event.at })
      }
    }
    return jobs
  }

  private track (work: Promise<void>): void {
    this.inFlight.add(work)
    work.finally(() => this.inFlight.delete(work)).catch(() => {})
  }
}
