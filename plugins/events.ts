import fp from 'fastify-plugin'
import { SecurityEvents } from '../src/abuse/events.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * the security event emitter (src/abuse/events.ts): `emit` writes the log line and appends
     * to the feed (app.eventLog) without being awaited
     */
    securityEvents: SecurityEvents
  }
}

/** The security event emitter over the feed's store and the app's logger. */
export default fp(async function events (app) {
  const securityEvents = new SecurityEvents({ log: app.log, store: app.eventLog })
  app.decorate('securityEvents', securityEvents)
  // appends still running finish before the store's client goes away
  app.addHook('preClose', async () => { await securityEvents.flush() })
}, { name: 'events', dependencies: ['config', 'storage'] })
