import fp from 'fastify-plugin'
import type { WebhookRelay as Relay } from '../src/webhooks/relay.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** moves webhook events from the store into the delivery queue; null without receipts */
    webhookRelay: Relay | null
  }
}
import { RELAY_TIMING, type RelayTiming, WebhookRelay } from '../src/webhooks/relay.js'
import { CachedSubscribers } from '../src/webhooks/subscribers.js'

/**
 * Webhook events from the message store to the delivery queue (issue 19): decides at create
 * whether an owned message records events (its owner has an endpoint), hands recorded events on
 * right after the read or delete that recorded them, and polls the store's schedule for events
 * a dead instance left behind and for expiries (message.expired). Without a receipt retention
 * (RECEIPT_RETENTION_SECONDS=0) nothing is recorded, so nothing is set up.
 */
export default fp(async function webhookRelay (app) {
  const { config } = app
  if (config.RECEIPT_RETENTION_SECONDS === 0) {
    app.decorate('webhookRelay', null)
    return
  }
  const subscribers = new CachedSubscribers({
    all: async (owner) => (await app.webhookStore.list(owner)).map((endpoint) => ({ ...endpoint, owner }))
  })
  app.webhookEndpoints.onChange = (owner) => { subscribers.forget(owner) }
  const relay = new WebhookRelay(app.eventOutbox, subscribers, app.deliveryQueue, app.log, relayTiming(config.webhookTiming?.scale))
  app.messageStore.onEventsRecorded = (id) => { relay.published(id) }
  app.messages.webhooks = relay
  app.decorate('webhookRelay', relay)
  app.addHook('onReady', async () => { relay.start() })
  // Registered after the queue's plugin, so closed before it (onClose runs in reverse): the
  // events being handed on reach the queue before it closes.
  app.addHook('onClose', async () => {
    app.messageStore.onEventsRecorded = null
    await relay.close()
  })
}, { name: 'webhook-relay', dependencies: ['storage', 'webhooks'] })

/** The production timing, or (tests, config.webhookTiming.scale) the same shrunk, with floors that keep the polling sane. */
function relayTiming (scale: number | undefined): RelayTiming {
  if (scale === undefined || scale === 1) return RELAY_TIMING
  return {
    pollMs: Math.max(20, Math.round(RELAY_TIMING.pollMs * scale)),
    leaseMs: Math.max(200, Math.round(RELAY_TIMING.leaseMs * scale)),
    minGapMs: Math.max(50, Math.round(RELAY_TIMING.minGapMs * scale)),
    maxGapMs: Math.max(200, Math.round(RELAY_TIMING.maxGapMs * scale))
  }
}
